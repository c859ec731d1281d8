/**
 * One local HTTP server that speaks every provider API our adapters (and their real SDKs) use, for
 * tests and benchmarks: Resend (`RESEND_BASE_URL` = `resend.baseUrl`) and Cloudinary's Upload API
 * (`upload_prefix` = `cloudinary.uploadPrefix`). FCM cannot be pointed elsewhere (firebase-admin talks
 * to a fixed host over HTTP/2); its stand-in is test/fakes/fcm-stub.ts, at the adapter boundary.
 *
 * In a test:
 *
 *   const fake = await startFakeProviders({ resend: { apiKey: 're_test' } });
 *   new ResendEmailSender('re_test', 'a@b.c', fake.resend.baseUrl);
 *   cloudinary.config({ cloud_name: fake.cloudinary.cloudName, api_key: …, api_secret: …,
 *                       upload_prefix: fake.cloudinary.uploadPrefix });
 *   fake.resend.failNext({ kind: 'status', status: 429, headers: { 'retry-after': '2' } });
 *   fake.cloudinary.failNext(503, 2);      // the next two upload requests answer 503
 *   fake.setLatency({ minMs: 20, maxMs: 80 }); // every provider request waits 20–80 ms first
 *   fake.setMaxConcurrent(20);             // at most 20 handled at once; the rest queue, in order
 *   fake.requests                          // every provider request, in arrival order
 *   await fake.close();
 *
 * Faults per provider (`failNext(fault, times)` queues them; `respondWith(fn)` decides per request):
 * a status number or `{ kind: 'status', status, headers?, … }` (429 with Retry-After, 5xx, 4xx),
 * `{ kind: 'hang' }` (a timeout for the client), `{ kind: 'reset' }` (connection dropped), each with
 * `afterAccept` to lose only the response, and `{ kind: 'delay', ms }`.
 *
 * Standalone (`npm run fake-providers -- --port 4010`), for benchmarks and manual runs, the same
 * controls are served over HTTP under `/__fake/`:
 *   GET  /__fake/state                  counts: emails sent, uploads, requests per provider
 *   GET  /__fake/requests?provider=resend|cloudinary&limit=100
 *   POST /__fake/faults   {"provider":"resend","fault":429,"times":3}  (fault: number or object as above)
 *   POST /__fake/latency  {"ms":50} or {"minMs":20,"maxMs":80}
 *   POST /__fake/reset
 * Options: --port (default 4010), --host (127.0.0.1), --resend-api-key, --cloud-name (demo),
 * --cloudinary-api-key, --cloudinary-api-secret, --latency-ms.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createFakeCloudinaryHandler,
  type FakeCloudinaryFault,
  type FakeCloudinaryHandler,
  type FakeCloudinaryOptions,
} from './cloudinary.ts';
import {
  createFakeResendHandler,
  type FakeResendFault,
  type FakeResendHandler,
  type FakeResendOptions,
} from './resend-server.ts';

export type ProviderName = 'resend' | 'cloudinary';

export interface Latency {
  minMs: number;
  maxMs: number;
}

export interface ProviderRequestLog {
  provider: ProviderName;
  method: string;
  path: string;
  status: number | null;
  receivedAt: Date;
  durationMs: number | null;
}

export interface FakeProvidersOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  resend?: FakeResendOptions;
  cloudinary?: FakeCloudinaryOptions;
  /** Added before every provider request is handled (not the `/__fake/` controls). */
  latency?: number | Latency;
  /**
   * Provider requests handled at once (a provider's own limit); the rest wait in arrival order and
   * count as received when their turn comes. Unset: no limit.
   */
  maxConcurrent?: number;
}

export interface FakeProviders {
  /** e.g. `http://127.0.0.1:41234`, no trailing slash. */
  baseUrl: string;
  resend: Omit<FakeResendHandler, 'handle'> & {
    /** For `RESEND_BASE_URL` / `new Resend(key, { baseUrl })`. */
    baseUrl: string;
  };
  cloudinary: Omit<FakeCloudinaryHandler, 'handle' | 'matches'> & {
    /** For the SDK's `upload_prefix`. */
    uploadPrefix: string;
    /** `cloudinary://key:secret@cloud?upload_prefix=…`, for CLOUDINARY_URL. */
    cloudinaryUrl: string;
  };
  /** Every provider request (both providers), with its status once answered. */
  requests: ProviderRequestLog[];
  setLatency(latency: number | Latency): void;
  setMaxConcurrent(limit: number | undefined): void;
  /** Forgets everything of both providers, the latency and the concurrency limit. */
  reset(): void;
  close(): Promise<void>;
}

function toLatency(latency: number | Latency | undefined): Latency {
  if (latency === undefined) return { minMs: 0, maxMs: 0 };
  return typeof latency === 'number' ? { minMs: latency, maxMs: latency } : latency;
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export async function startFakeProviders(options: FakeProvidersOptions = {}): Promise<FakeProviders> {
  const resend = createFakeResendHandler(options.resend);
  const cloudinary = createFakeCloudinaryHandler(options.cloudinary);
  const requests: ProviderRequestLog[] = [];
  let latency = toLatency(options.latency);
  let maxConcurrent = options.maxConcurrent;
  let handling = 0;
  const queued: (() => void)[] = [];
  const sockets = new Set<Socket>();
  let baseUrl = '';

  function json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /__fake/state') {
      return json(res, 200, {
        resend: { sent: resend.sent.length, requests: resend.requests.length },
        cloudinary: {
          uploads: cloudinary.uploads.length,
          assets: cloudinary.assets.size,
          pendingUploads: cloudinary.pendingUploads(),
          requests: cloudinary.requests.length,
        },
        latency,
        requests: requests.length,
      });
    }
    if (route === 'GET /__fake/requests') {
      const provider = url.searchParams.get('provider');
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const items = requests.filter((r) => !provider || r.provider === provider).slice(-limit);
      return json(res, 200, { items });
    }
    if (route === 'POST /__fake/faults') {
      const body = await readJsonBody(req);
      const times = typeof body.times === 'number' ? body.times : 1;
      if (body.provider === 'resend') resend.failNext(body.fault as FakeResendFault | number, times);
      else if (body.provider === 'cloudinary') cloudinary.failNext(body.fault as FakeCloudinaryFault | number, times);
      else return json(res, 400, { error: 'provider must be resend or cloudinary' });
      return json(res, 200, { queued: times });
    }
    if (route === 'POST /__fake/latency') {
      const body = await readJsonBody(req);
      latency =
        typeof body.ms === 'number'
          ? toLatency(body.ms)
          : toLatency({ minMs: Number(body.minMs), maxMs: Number(body.maxMs) });
      return json(res, 200, { latency });
    }
    if (route === 'POST /__fake/reset') {
      api.reset();
      return json(res, 200, { reset: true });
    }
    return json(res, 404, { error: `no control route ${route}` });
  }

  /**
   * A request's turn under `maxConcurrent`; a finished request hands its slot to the next in line.
   * False when the client went away while it waited (a killed worker's calls): it leaves the line,
   * and a slot handed to a connection already closed would never be given back.
   */
  async function takeSlot(res: ServerResponse): Promise<boolean> {
    if (maxConcurrent === undefined || handling < maxConcurrent) {
      handling += 1;
    } else {
      const served = await new Promise<boolean>((resolve) => {
        const turn = () => {
          res.off('close', gone);
          resolve(true);
        };
        const gone = () => {
          const i = queued.indexOf(turn);
          if (i >= 0) queued.splice(i, 1);
          resolve(false);
        };
        queued.push(turn);
        res.once('close', gone);
      });
      if (!served) return false;
    }
    if (res.closed) {
      releaseSlot();
      return false;
    }
    res.once('close', releaseSlot);
    return true;
  }
  function releaseSlot(): void {
    const next = queued.shift();
    if (next) next();
    else handling -= 1;
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname.startsWith('/__fake/')) return control(req, res, url);
    const provider: ProviderName | undefined = url.pathname.startsWith('/emails')
      ? 'resend'
      : cloudinary.matches(url.pathname)
        ? 'cloudinary'
        : undefined;
    if (!provider) return json(res, 404, { error: `no fake provider serves ${req.method} ${url.pathname}` });

    if (!(await takeSlot(res))) return;
    const entry: ProviderRequestLog = {
      provider,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: null,
      receivedAt: new Date(),
      durationMs: null,
    };
    requests.push(entry);
    const started = performance.now();
    res.once('finish', () => {
      entry.status = res.statusCode;
      entry.durationMs = performance.now() - started;
    });
    const wait = latency.minMs + Math.random() * Math.max(0, latency.maxMs - latency.minMs);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (provider === 'resend') await resend.handle(req, res);
    else await cloudinary.handle(req, res, baseUrl);
  }

  const server = createServer((req, res) => {
    dispatch(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) json(res, 500, { error: String(err) });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  baseUrl = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  const { cloudName } = cloudinary;
  const key = options.cloudinary?.apiKey ?? '123456789012345';
  const secret = options.cloudinary?.apiSecret ?? 'fake-secret';

  const api: FakeProviders = {
    baseUrl,
    resend: {
      baseUrl,
      sent: resend.sent,
      requests: resend.requests,
      failNext: resend.failNext,
      respondWith: resend.respondWith,
      reset: resend.reset,
    },
    cloudinary: {
      uploadPrefix: baseUrl,
      cloudinaryUrl: `cloudinary://${key}:${secret}@${cloudName}?upload_prefix=${encodeURIComponent(baseUrl)}`,
      cloudName,
      uploads: cloudinary.uploads,
      assets: cloudinary.assets,
      requests: cloudinary.requests,
      pendingUploads: cloudinary.pendingUploads,
      failNext: cloudinary.failNext,
      respondWith: cloudinary.respondWith,
      reset: cloudinary.reset,
    },
    requests,
    setLatency(next) {
      latency = toLatency(next);
    },
    setMaxConcurrent(limit) {
      maxConcurrent = limit;
      while (queued.length > 0 && (limit === undefined || handling < limit)) {
        handling += 1;
        queued.shift()!();
      }
    },
    reset() {
      resend.reset();
      cloudinary.reset();
      requests.length = 0;
      latency = toLatency(undefined);
      maxConcurrent = undefined;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return api;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      'resend-api-key': { type: 'string' },
      'cloud-name': { type: 'string', default: 'demo' },
      'cloudinary-api-key': { type: 'string', default: '123456789012345' },
      'cloudinary-api-secret': { type: 'string', default: 'fake-secret' },
      'latency-ms': { type: 'string', default: '0' },
    },
  });
  const fake = await startFakeProviders({
    host: values.host,
    port: Number(values.port),
    resend: values['resend-api-key'] ? { apiKey: values['resend-api-key'] } : {},
    cloudinary: {
      cloudName: values['cloud-name'],
      apiKey: values['cloudinary-api-key'],
      apiSecret: values['cloudinary-api-secret'],
    },
    latency: Number(values['latency-ms']),
  });
  console.log(`Fake providers listening on ${fake.baseUrl}`);
  console.log(`  RESEND_BASE_URL=${fake.resend.baseUrl}`);
  console.log(`  CLOUDINARY_URL=${fake.cloudinary.cloudinaryUrl}`);
  console.log(`  controls: ${fake.baseUrl}/__fake/state (see test/fakes/provider-server.ts)`);
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
