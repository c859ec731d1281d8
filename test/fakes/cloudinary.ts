/**
 * A local fake of Cloudinary's Upload API, enough for the `cloudinary` SDK (2.x) `uploader.upload`,
 * `upload_stream`, `upload_large` / `upload_chunked_stream` and hand-driven chunks, pointed at it
 * through the SDK's `upload_prefix`.
 *
 * What the SDK sends (lib/uploader.js, `post`): `POST <upload_prefix>/v1_1/<cloud>/<resource_type>/upload`
 * as multipart/form-data with the signed parameters (`timestamp`, `public_id`, `folder`, …, `api_key`,
 * `signature`) and a `file` part (binary, or a field holding a remote URL / data URI). A chunked upload
 * sends every chunk as such a request with `X-Unique-Upload-Id: <id>` and
 * `Content-Range: bytes <start>-<end>/<total>`, `total` being -1 until the last chunk.
 *
 * Behaves like Cloudinary:
 * - resource types `image`, `video`, `raw` and `auto` (`auto` picks `image` for PNG/JPEG/GIF/WebP/PDF
 *   content, `raw` otherwise); anything else is 404.
 * - unknown cloud name → 401 `Invalid cloud_name <name>`; with `apiKey` set, another `api_key` → 401
 *   `Unknown API key`; with `apiSecret` set, a wrong `signature` → 401 `Invalid Signature …`; no `file`
 *   → 400 `Missing required parameter - file`.
 * - a chunk that does not complete the file answers 200 `{ done: false, bytes, resource_type, public_id? }`;
 *   the request that completes it (all bytes `0..total-1` present, in any order) answers the full
 *   resource. Chunks may be re-sent (a resumed upload): they overwrite the same bytes. A completed
 *   upload id answers its resource again without storing the file a second time.
 * - the resource: `asset_id`, `public_id`, `version`, `signature`, `format`, `resource_type`, `type`,
 *   `bytes`, `etag`, `url`, `secure_url`, `original_filename`, `created_at`, … `type` is the upload's
 *   delivery type: `upload` (public, the default), `authenticated` or `private`. The URLs point at this
 *   fake, which serves public assets there (`GET /<cloud>/<resource_type>/upload/v<version>/<id>`) and
 *   nothing else: an authenticated or private asset is reachable only through a download URL.
 * - private download URLs (the SDK's `utils.private_download_url`): `GET /v1_1/<cloud>/<resource_type>/download`
 *   with `public_id`, `format`, `type`, `timestamp`, optional `expires_at` and `attachment`, `api_key`
 *   and `signature`. The signature is checked as for uploads (with `apiSecret` set); the URL expires at
 *   `expires_at`, or an hour after `timestamp` without it, after which it answers 401
 *   `Download URL expired`. The asset must exist with that resource type, delivery type and format.
 * - the same `public_id` again replaces the asset with a new version (Cloudinary's `overwrite: true`).
 * - errors are `{ "error": { "message": "…" } }`. The SDK parses bodies only for statuses 200, 400,
 *   401, 404, 420, 429 and 500; for others (403, 502, 503, …) it reports "Server returned unexpected
 *   status code - <status>" with `http_code`.
 *
 * The SDK decides between node:http and node:https when it is first loaded, from the `upload_prefix` of
 * its configuration at that moment (CLOUDINARY_URL's `?upload_prefix=`). When it was loaded before the
 * fake's port was known, pass `agent: new http.Agent()` in the upload options: Node then accepts the
 * `http:` URL.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RecordedRequest } from './resend-server.ts';

export type FakeCloudinaryFault =
  /** Answer with this status, Cloudinary's error body (or `rawBody`) and extra headers (e.g. Retry-After). */
  | { kind: 'status'; status: number; message?: string; headers?: Record<string, string>; rawBody?: string }
  /** Never answer; `afterAccept`: store the chunk/file first (the "response lost" case). */
  | { kind: 'hang'; afterAccept?: boolean }
  /** Destroy the connection without an answer; `afterAccept` as for `hang`. */
  | { kind: 'reset'; afterAccept?: boolean }
  /** Handle the request normally after `ms`. */
  | { kind: 'delay'; ms: number };

export interface CloudinaryRequest extends Omit<RecordedRequest, 'body'> {
  /** Form fields other than a binary `file` part. */
  fields: Record<string, string>;
  /** Size of the binary `file` part, when there was one. */
  fileBytes?: number;
  /** From the `X-Unique-Upload-Id` / `Content-Range` headers, when present. */
  uploadId?: string;
  range?: { start: number; end: number; total: number };
}

export interface CloudinaryResource {
  asset_id: string;
  public_id: string;
  version: number;
  version_id: string;
  signature: string;
  format: string;
  resource_type: 'image' | 'video' | 'raw';
  created_at: string;
  tags: string[];
  bytes: number;
  type: DeliveryType;
  etag: string;
  placeholder: false;
  url: string;
  secure_url: string;
  folder?: string;
  original_filename: string;
  api_key: string;
}

export type DeliveryType = 'upload' | 'authenticated' | 'private';

export interface StoredAsset {
  resource: CloudinaryResource;
  content: Buffer;
  /** The chunked upload that produced it, if any. */
  uploadId?: string;
}

export interface FakeCloudinaryOptions {
  cloudName?: string;
  /** When set, requests must carry this `api_key`. */
  apiKey?: string;
  /** When set, signatures are checked (sha1 or sha256, signature versions 1 and 2). */
  apiSecret?: string;
}

export interface FakeCloudinaryHandler {
  cloudName: string;
  /** Every completed upload, in order: a file uploaded once appears once. */
  uploads: StoredAsset[];
  /** Current version of each asset, by `<resource_type>/<public_id>`. */
  assets: Map<string, StoredAsset>;
  /** Every request to the upload and download APIs, faulted or not. */
  requests: CloudinaryRequest[];
  /** Chunked uploads still incomplete: bytes received so far, by upload id. */
  pendingUploads(): { uploadId: string; bytesReceived: number; total: number | null }[];
  failNext(fault: FakeCloudinaryFault | number, times?: number): void;
  respondWith(planner: ((request: CloudinaryRequest) => FakeCloudinaryFault | number | undefined) | null): void;
  reset(): void;
  /** True for the paths this fake answers (upload API and asset delivery). */
  matches(pathname: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, baseUrl: string): Promise<void>;
}

const RESOURCE_TYPES = new Set(['image', 'video', 'raw', 'auto']);
const UPLOAD_PATH = /^\/v1_1\/([^/]+)\/([^/]+)\/upload$/;
const DELIVERY_PATH = /^\/([^/]+)\/(image|video|raw)\/upload\/v(\d+)\/(.+)$/;
const DOWNLOAD_PATH = /^\/v1_1\/([^/]+)\/(image|video|raw)\/download$/;
/** A private download URL without `expires_at` is good for an hour after its `timestamp`. */
const DEFAULT_DOWNLOAD_LIFETIME_S = 3600;

function toFault(fault: FakeCloudinaryFault | number): FakeCloudinaryFault {
  return typeof fault === 'number' ? { kind: 'status', status: fault } : fault;
}

const DEFAULT_MESSAGES: Record<number, string> = {
  400: 'Bad request',
  401: 'Invalid credentials',
  403: 'Forbidden',
  404: 'Resource not found',
  420: 'Rate Limit Exceeded',
  429: 'Rate Limit Exceeded',
  500: 'General Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** What the content is, as Cloudinary's `auto` and `format` would see it. */
function sniff(content: Buffer, filename: string): { resourceType: 'image' | 'raw'; format: string } {
  const hex = content.subarray(0, 12).toString('hex');
  if (hex.startsWith('89504e47')) return { resourceType: 'image', format: 'png' };
  if (hex.startsWith('ffd8ff')) return { resourceType: 'image', format: 'jpg' };
  if (hex.startsWith('47494638')) return { resourceType: 'image', format: 'gif' };
  if (hex.startsWith('52494646') && content.subarray(8, 12).toString('latin1') === 'WEBP')
    return { resourceType: 'image', format: 'webp' };
  if (content.subarray(0, 5).toString('latin1') === '%PDF-') return { resourceType: 'image', format: 'pdf' };
  const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase();
  return { resourceType: 'raw', format: ext ?? '' };
}

function stringToSign(fields: Record<string, string>, version: 1 | 2): string {
  return Object.entries(fields)
    .filter(([k, v]) => !['file', 'api_key', 'signature', 'resource_type', 'cloud_name'].includes(k) && v !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => (version >= 2 ? `${k}=${v}`.replace(/&/g, '%26') : `${k}=${v}`))
    .join('&');
}

function signatureMatches(fields: Record<string, string>, secret: string): boolean {
  const given = fields.signature ?? '';
  for (const version of [2, 1] as const) {
    const toSign = stringToSign(fields, version) + secret;
    for (const algo of ['sha1', 'sha256']) {
      if (createHash(algo).update(toSign).digest('hex') === given) return true;
    }
  }
  return false;
}

function parseRange(header: string | undefined): { start: number; end: number; total: number } | undefined {
  const m = header ? /^bytes (\d+)-(\d+)\/(-?\d+)$/.exec(header.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) };
}

interface ChunkedUpload {
  chunks: Map<number, Buffer>;
  total: number | null;
  filename: string;
  done?: StoredAsset;
}

export function createFakeCloudinaryHandler(options: FakeCloudinaryOptions = {}): FakeCloudinaryHandler {
  const cloudName = options.cloudName ?? 'demo';
  const uploads: StoredAsset[] = [];
  const assets = new Map<string, StoredAsset>();
  const requests: CloudinaryRequest[] = [];
  const chunked = new Map<string, ChunkedUpload>();
  const queue: FakeCloudinaryFault[] = [];
  let planner: ((request: CloudinaryRequest) => FakeCloudinaryFault | number | undefined) | null = null;

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }
  const error = (message: string) => ({ error: { message } });

  function store(
    content: Buffer,
    fields: Record<string, string>,
    requestedType: string,
    filename: string,
    baseUrl: string,
    uploadId?: string,
  ): StoredAsset {
    const sniffed = sniff(content, filename);
    const resourceType = requestedType === 'auto' ? sniffed.resourceType : (requestedType as 'image' | 'video' | 'raw');
    const original = filename.replace(/\.[^.]+$/, '') || 'file';
    const folder = fields.folder || fields.asset_folder;
    let publicId = fields.public_id || (fields.use_filename === 'true' ? original : randomBytes(10).toString('hex'));
    if (folder && !fields.public_id) publicId = `${folder}/${publicId}`;
    // Raw assets keep their extension in the public id, as on Cloudinary.
    if (resourceType === 'raw' && sniffed.format && !publicId.endsWith(`.${sniffed.format}`) && !fields.public_id) {
      publicId = `${publicId}.${sniffed.format}`;
    }
    const version = Math.floor(Date.now() / 1000) + uploads.length;
    const format = resourceType === 'raw' ? '' : (fields.format ?? sniffed.format);
    const file = format ? `${publicId}.${format}` : publicId;
    const type: DeliveryType = fields.type === 'authenticated' || fields.type === 'private' ? fields.type : 'upload';
    // Authenticated and private assets get a signed delivery address, which this fake never serves.
    const signed = type === 'upload' ? '' : `s--${randomBytes(6).toString('base64url')}--/`;
    const url = `${baseUrl}/${cloudName}/${resourceType}/${type}/${signed}v${version}/${file}`;
    const resource: CloudinaryResource = {
      asset_id: randomUUID().replaceAll('-', ''),
      public_id: publicId,
      version,
      version_id: randomBytes(16).toString('hex'),
      signature: createHash('sha1').update(content).digest('hex'),
      format,
      resource_type: resourceType,
      created_at: new Date().toISOString(),
      tags: fields.tags ? fields.tags.split(',') : [],
      bytes: content.length,
      type,
      etag: createHash('md5').update(content).digest('hex'),
      placeholder: false,
      url,
      secure_url: url,
      ...(folder ? { folder } : {}),
      original_filename: original,
      api_key: fields.api_key ?? '',
    };
    const asset: StoredAsset = { resource, content, ...(uploadId ? { uploadId } : {}) };
    uploads.push(asset);
    assets.set(`${resourceType}/${publicId}`, asset);
    return asset;
  }

  async function readForm(req: IncomingMessage, body: Buffer) {
    const contentType = req.headers['content-type'] ?? '';
    if (!/^multipart\/form-data/i.test(contentType) && !/^application\/x-www-form-urlencoded/i.test(contentType)) {
      return undefined;
    }
    // undici's multipart parser, as fetch uses it: no dependency needed.
    const form = await new Request('http://fake/', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body,
    }).formData();
    const fields: Record<string, string> = {};
    let file: { content: Buffer; filename: string } | undefined;
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') {
        const key = name.endsWith('[]') ? name.slice(0, -2) : name;
        fields[key] = fields[key] !== undefined && name.endsWith('[]') ? `${fields[key]},${value}` : value;
      } else if (name === 'file') {
        file = { content: Buffer.from(await value.arrayBuffer()), filename: value.name || 'file' };
      }
    }
    return { fields, file };
  }

  /** A `file` given as a field: a data URI is decoded; a remote URL is "fetched" as its own text. */
  function fileFromField(value: string): { content: Buffer; filename: string } {
    const data = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(value);
    if (data) {
      return { content: Buffer.from(data[3]!, data[2] ? 'base64' : 'utf8'), filename: 'file' };
    }
    return { content: Buffer.from(value), filename: value.split('/').pop() || 'file' };
  }

  async function handleUpload(
    req: IncomingMessage,
    res: ServerResponse,
    baseUrl: string,
    cloud: string,
    resourceType: string,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    let form: Awaited<ReturnType<typeof readForm>>;
    try {
      form = await readForm(req, body);
    } catch {
      form = undefined;
    }
    const uploadId = headers['x-unique-upload-id'];
    const range = parseRange(headers['content-range']);
    const request: CloudinaryRequest = {
      method: req.method ?? 'POST',
      path: req.url ?? '/',
      headers,
      receivedAt: new Date(),
      fields: form?.fields ?? {},
      ...(form?.file ? { fileBytes: form.file.content.length } : {}),
      ...(uploadId ? { uploadId } : {}),
      ...(range ? { range } : {}),
    };
    requests.push(request);

    const planned = planner?.(request);
    const fault = planned !== undefined ? toFault(planned) : queue.shift();
    if (fault?.kind === 'status') {
      if (fault.rawBody !== undefined) {
        res.writeHead(fault.status, { 'content-type': 'text/html', ...fault.headers });
        res.end(fault.rawBody);
      } else {
        send(res, fault.status, error(fault.message ?? DEFAULT_MESSAGES[fault.status] ?? 'Error'), fault.headers);
      }
      return;
    }
    if ((fault?.kind === 'hang' || fault?.kind === 'reset') && !fault.afterAccept) {
      if (fault.kind === 'reset') req.socket.destroy();
      return;
    }
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));

    const reply = ((): { status: number; body: unknown } => {
      if (req.method !== 'POST') return { status: 404, body: error('Resource not found') };
      if (cloud !== cloudName) return { status: 401, body: error(`Invalid cloud_name ${cloud}`) };
      if (!RESOURCE_TYPES.has(resourceType)) return { status: 404, body: error('Resource not found') };
      if (!form) return { status: 400, body: error('Missing required parameter - file') };
      const { fields } = form;
      if (!fields.upload_preset && !fields.api_key) return { status: 401, body: error('Must supply api_key') };
      if (options.apiKey !== undefined && fields.api_key !== undefined && fields.api_key !== options.apiKey) {
        return { status: 401, body: error('Unknown API key ' + fields.api_key) };
      }
      if (options.apiSecret !== undefined && fields.api_key !== undefined) {
        if (!fields.signature) return { status: 401, body: error('Missing required parameter - signature') };
        if (!signatureMatches(fields, options.apiSecret)) {
          return {
            status: 401,
            body: error(`Invalid Signature ${fields.signature}. String to sign - '${stringToSign(fields, 2)}'.`),
          };
        }
      }
      const file = form.file ?? (fields.file ? fileFromField(fields.file) : undefined);
      if (!file) return { status: 400, body: error('Missing required parameter - file') };

      if (!uploadId || !range) {
        return { status: 200, body: store(file.content, fields, resourceType, file.filename, baseUrl).resource };
      }
      if (range.end - range.start + 1 !== file.content.length || range.end < range.start) {
        return { status: 400, body: error(`Content-Range ${headers['content-range']} does not match the chunk`) };
      }
      const upload: ChunkedUpload = chunked.get(uploadId) ?? {
        chunks: new Map(),
        total: null,
        filename: file.filename,
      };
      chunked.set(uploadId, upload);
      if (upload.done) return { status: 200, body: upload.done.resource };
      upload.chunks.set(range.start, file.content);
      if (range.total >= 0) upload.total = range.total;
      // Complete when the chunks cover 0..total-1 without a gap.
      let covered = 0;
      for (const start of [...upload.chunks.keys()].sort((a, b) => a - b)) {
        if (start > covered) break;
        covered = Math.max(covered, start + upload.chunks.get(start)!.length);
      }
      if (upload.total !== null && covered >= upload.total) {
        const ordered = [...upload.chunks.entries()].sort(([a], [b]) => a - b);
        const content = Buffer.alloc(upload.total);
        for (const [start, chunk] of ordered) chunk.copy(content, start);
        upload.done = store(content, fields, resourceType, upload.filename, baseUrl, uploadId);
        upload.chunks.clear();
        return { status: 200, body: upload.done.resource };
      }
      return {
        status: 200,
        body: {
          done: false,
          bytes: covered,
          resource_type: resourceType === 'auto' ? 'raw' : resourceType,
          ...(fields.public_id ? { public_id: fields.public_id } : {}),
        },
      };
    })();

    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    send(res, reply.status, reply.body);
  }

  function handleDelivery(res: ServerResponse, resourceType: string, version: number, file: string): void {
    const asset = [...assets.values()].find(
      (a) =>
        a.resource.type === 'upload' &&
        a.resource.resource_type === resourceType &&
        a.resource.version === version &&
        (a.resource.format ? `${a.resource.public_id}.${a.resource.format}` : a.resource.public_id) ===
          decodeURIComponent(file),
    );
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Resource not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': asset.content.length });
    res.end(asset.content);
  }

  function handleDownload(
    req: IncomingMessage,
    res: ServerResponse,
    cloud: string,
    resourceType: string,
    query: URLSearchParams,
  ): void {
    const fields = Object.fromEntries(query.entries());
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers, receivedAt: new Date(), fields });
    const planned = planner?.(requests.at(-1)!);
    const fault = planned !== undefined ? toFault(planned) : queue.shift();
    if (fault?.kind === 'status') {
      send(res, fault.status, error(fault.message ?? DEFAULT_MESSAGES[fault.status] ?? 'Error'), fault.headers);
      return;
    }
    if (cloud !== cloudName) return send(res, 401, error(`Invalid cloud_name ${cloud}`));
    if (!fields.api_key) return send(res, 401, error('Must supply api_key'));
    if (options.apiKey !== undefined && fields.api_key !== options.apiKey) {
      return send(res, 401, error('Unknown API key ' + fields.api_key));
    }
    if (!fields.signature) return send(res, 401, error('Missing required parameter - signature'));
    if (options.apiSecret !== undefined && !signatureMatches(fields, options.apiSecret)) {
      return send(
        res,
        401,
        error(`Invalid Signature ${fields.signature}. String to sign - '${stringToSign(fields, 2)}'.`),
      );
    }
    const timestamp = Number(fields.timestamp);
    if (!Number.isFinite(timestamp)) return send(res, 400, error('Missing required parameter - timestamp'));
    const expiresAt = fields.expires_at ? Number(fields.expires_at) : timestamp + DEFAULT_DOWNLOAD_LIFETIME_S;
    if (!(Date.now() / 1000 < expiresAt)) return send(res, 401, error('Download URL expired'));
    const type = fields.type || 'upload';
    const asset = assets.get(`${resourceType}/${fields.public_id ?? ''}`);
    if (!asset || asset.resource.type !== type || (asset.resource.format || '') !== (fields.format ?? '')) {
      return send(res, 404, error('Resource not found'));
    }
    const filename = asset.resource.format
      ? `${asset.resource.original_filename}.${asset.resource.format}`
      : asset.resource.original_filename;
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': asset.content.length,
      ...(fields.attachment === 'true' ? { 'content-disposition': `attachment; filename="${filename}"` } : {}),
    });
    res.end(asset.content);
  }

  return {
    cloudName,
    uploads,
    assets,
    requests,
    pendingUploads() {
      return [...chunked.entries()]
        .filter(([, u]) => !u.done)
        .map(([uploadId, u]) => ({
          uploadId,
          bytesReceived: [...u.chunks.values()].reduce((n, c) => n + c.length, 0),
          total: u.total,
        }));
    },
    failNext(fault, times = 1) {
      for (let i = 0; i < times; i++) queue.push(toFault(fault));
    },
    respondWith(next) {
      planner = next;
    },
    reset() {
      uploads.length = 0;
      assets.clear();
      requests.length = 0;
      chunked.clear();
      queue.length = 0;
      planner = null;
    },
    matches(pathname) {
      return UPLOAD_PATH.test(pathname) || DELIVERY_PATH.test(pathname) || DOWNLOAD_PATH.test(pathname);
    },
    async handle(req, res, baseUrl) {
      const { pathname, searchParams } = new URL(req.url ?? '/', 'http://fake');
      try {
        const download = DOWNLOAD_PATH.exec(pathname);
        if (download && req.method === 'GET') {
          return handleDownload(req, res, download[1]!, download[2]!, searchParams);
        }
        const upload = UPLOAD_PATH.exec(pathname);
        if (upload) return await handleUpload(req, res, baseUrl, upload[1]!, upload[2]!);
        const delivery = DELIVERY_PATH.exec(pathname);
        if (delivery && req.method === 'GET') {
          return handleDelivery(res, delivery[2]!, Number(delivery[3]), delivery[4]!);
        }
        send(res, 404, error('Resource not found'));
      } catch (err) {
        if (!res.headersSent && !res.destroyed) send(res, 500, error(`General Error: ${String(err)}`));
      }
    },
  };
}
