/**
 * Documents to Cloudinary through its SDK, one chunk per request: the SDK's own chunked protocol
 * (`X-Unique-Upload-Id` and `Content-Range: bytes <start>-<end>/<total>` on each `upload_stream`
 * call, as `upload_chunked_stream` sends them), driven here chunk by chunk so that an upload can
 * resume at any offset instead of starting over. Cloudinary assembles the chunks of one upload id
 * in any order and answers the chunk that completes the file with the resource.
 *
 * The SDK honours `upload_prefix`, so tests point it at a local fake (test/fakes/cloudinary.ts). It
 * picks node:http or node:https when first loaded; an http prefix gets an http Agent here, which
 * Node then accepts whatever was picked.
 */
import http from 'node:http';
import { v2 as cloudinary, type UploadApiOptions, type UploadApiResponse } from 'cloudinary';
import { circuitFor, type CircuitBreakerOptions, type ProviderCircuit } from './circuit-breaker.ts';
import type { ChunkResult, DocumentStore, DocumentUpload } from './documents.ts';
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
        resolve({ done: true, url: result.secure_url, providerId: `${result.resource_type}/${result.public_id}` });
      });
      stream.end(chunk);
    });
  }
}
