/**
 * Documents to Cloudinary through its SDK, one chunk per request: the SDK's own chunked protocol
 * (`X-Unique-Upload-Id` and `Content-Range: bytes <start>-<end>/<total>` on each `upload_stream`
 * call, as `upload_chunked_stream` sends them), driven here chunk by chunk so that an upload can
 * resume at any offset instead of starting over. Cloudinary assembles the chunks of one upload id
 * in any order and answers the chunk that completes the file with the resource.
 *
 * Documents are health data, so they are uploaded as `authenticated` assets: Cloudinary serves them
 * to nobody without a signature, and the resource's own (signed, permanent) delivery URLs are not
 * kept. Reading one back goes through a private download URL that expires within a minute, made
 * and used by the API for a member allowed to read the document, never handed out.
 *
 * The SDK honours `upload_prefix`, so tests point it at a local fake (test/fakes/cloudinary.ts). It
 * picks node:http or node:https when first loaded; an http prefix gets an http Agent here, which
 * Node then accepts whatever was picked.
 */
import http from 'node:http';
import { v2 as cloudinary, type UploadApiOptions, type UploadApiResponse } from 'cloudinary';
import { circuitFor, type CircuitBreakerOptions, type ProviderCircuit } from './circuit-breaker.ts';
import type { ChunkResult, DocumentStore, DocumentUpload, FileContent, StoredFile } from './documents.ts';
import { DeliveryError, isPermanentStatus } from './types.ts';

export interface CloudinaryCredentials {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /** Another Upload API address (the SDK's `upload_prefix`), e.g. a local fake. */
  uploadPrefix?: string;
}

/** `cloudinary://<api_key>:<api_secret>@<cloud_name>[?upload_prefix=…]`, as the SDK reads it. */
export function parseCloudinaryUrl(value: string): CloudinaryCredentials {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('CLOUDINARY_URL must look like cloudinary://<api_key>:<api_secret>@<cloud_name>');
  }
  if (url.protocol !== 'cloudinary:' || !url.hostname || !url.username || !url.password) {
    throw new Error('CLOUDINARY_URL must look like cloudinary://<api_key>:<api_secret>@<cloud_name>');
  }
  const uploadPrefix = url.searchParams.get('upload_prefix') ?? undefined;
  return {
    cloudName: url.hostname,
    apiKey: decodeURIComponent(url.username),
    apiSecret: decodeURIComponent(url.password),
    ...(uploadPrefix ? { uploadPrefix } : {}),
  };
}

interface SdkError {
  message?: string;
  http_code?: number;
  name?: string;
}

/** The SDK's errors → our transient/permanent split: 4xx but 408/420/429/499 is permanent. */
export function classifyCloudinaryError(err: SdkError | Error): DeliveryError {
  const status = 'http_code' in err && typeof err.http_code === 'number' ? err.http_code : 0;
  const message = err.message ?? 'unknown error';
  // 420 is Cloudinary's rate limit, 499 the SDK's own request timeout.
  const permanent = status > 0 && isPermanentStatus(status) && status !== 420 && status !== 499;
  return new DeliveryError(
    `Cloudinary ${status ? `answered ${status}` : 'unreachable'}: ${message}`,
    permanent,
    status ? String(status) : 'network',
  );
}

/** How long a private download URL made for one read stays valid. */
const DOWNLOAD_URL_LIFETIME_S = 60;

export class CloudinaryDocumentStore implements DocumentStore {
  readonly name = 'cloudinary';
  private readonly circuit: ProviderCircuit;
  private readonly agent: http.Agent | undefined;
  private readonly timeoutMs: number;

  constructor(
    private readonly credentials: CloudinaryCredentials,
    options: { breaker?: CircuitBreakerOptions; timeoutMs?: number } = {},
  ) {
    this.circuit = circuitFor('cloudinary', options.breaker);
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.agent = credentials.uploadPrefix?.startsWith('http:') ? new http.Agent({ keepAlive: true }) : undefined;
  }

  uploadChunk(upload: DocumentUpload, start: number, chunk: Buffer): Promise<ChunkResult> {
    return this.circuit.execute(() => this.send(upload, start, chunk));
  }

  private send(upload: DocumentUpload, start: number, chunk: Buffer): Promise<ChunkResult> {
    const end = start + chunk.length - 1;
    const options: UploadApiOptions = {
      cloud_name: this.credentials.cloudName,
      api_key: this.credentials.apiKey,
      api_secret: this.credentials.apiSecret,
      ...(this.credentials.uploadPrefix ? { upload_prefix: this.credentials.uploadPrefix } : {}),
      ...(this.agent ? { agent: this.agent } : {}),
      resource_type: 'auto',
      type: 'authenticated',
      public_id: upload.publicId,
      filename: upload.filename,
      timeout: this.timeoutMs,
      content_range: `bytes ${start}-${end}/${upload.totalBytes}`,
      x_unique_upload_id: upload.uploadId,
      // With a stream the SDK never hands its promise out: an unhandled rejection otherwise.
      disable_promises: true,
    };
    return new Promise<ChunkResult>((resolve, reject) => {
      const stream = cloudinary.uploader.upload_stream(options, (error, result?: UploadApiResponse) => {
        if (error) return reject(classifyCloudinaryError(error));
        if (!result) return reject(new DeliveryError('Cloudinary answered nothing', false, 'empty'));
        const done = (result as { done?: boolean }).done;
        if (done === false || !result.secure_url) return resolve({ done: false });
        resolve({
          done: true,
          providerId: `${result.resource_type}/${result.public_id}`,
          format: result.format || null,
          deliveryType: result.type ?? 'authenticated',
        });
      });
      stream.end(chunk);
    });
  }

  read(file: StoredFile): Promise<FileContent | undefined> {
    return this.circuit.execute(() => this.download(file));
  }

  private async download(file: StoredFile): Promise<FileContent | undefined> {
    const slash = file.providerId.indexOf('/');
    const resourceType = file.providerId.slice(0, slash);
    const publicId = file.providerId.slice(slash + 1);
    // The SDK reads the credentials from these options too (its types list only the URL's own).
    const options = {
      cloud_name: this.credentials.cloudName,
      api_key: this.credentials.apiKey,
      api_secret: this.credentials.apiSecret,
      ...(this.credentials.uploadPrefix ? { upload_prefix: this.credentials.uploadPrefix } : {}),
      resource_type: resourceType,
      type: file.deliveryType ?? 'authenticated',
      expires_at: Math.floor(Date.now() / 1000) + DOWNLOAD_URL_LIFETIME_S,
    } as Parameters<typeof cloudinary.utils.private_download_url>[2];
    const url = cloudinary.utils.private_download_url(publicId, file.format ?? '', options);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new DeliveryError(`Cloudinary unreachable: ${(err as Error).message}`, false, 'network');
    }
    if (res.status === 404) return undefined;
    if (!res.ok || !res.body) {
      const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
      throw classifyCloudinaryError({ http_code: res.status, message: body?.error?.message ?? res.statusText });
    }
    const length = Number(res.headers.get('content-length'));
    return { body: res.body, ...(Number.isInteger(length) && length >= 0 ? { bytes: length } : {}) };
  }
}
