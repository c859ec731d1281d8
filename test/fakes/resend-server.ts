/**
 * A local fake of Resend's HTTP API, enough for the SDK's `emails.send` (and `emails.get`).
 *
 * Behaves like https://resend.com/docs/api-reference/errors and .../dashboard/emails/idempotency-keys:
 * - `POST /emails` needs `Authorization: Bearer <key>` (401 `missing_api_key`; 403 `invalid_api_key` when
 *   `apiKey` is given and differs), a JSON body with `from`, `to`, `subject` and `text` or `html`
 *   (422 `missing_required_field` / `validation_error`), and answers 200 `{ "id": "<uuid>" }`.
 * - `Idempotency-Key` (1–256 chars, else 400 `invalid_idempotency_key`), kept for 24 hours: the same key
 *   with the same body answers the first response again and records no second email; the same key with
 *   another body is 409 `invalid_idempotent_request`; the same key while the first request is still
 *   being processed is 409 `concurrent_idempotent_requests`. Only accepted emails are remembered, so a
 *   request that failed can be retried with its key.
 * - Errors are `{ statusCode, name, message }` JSON, as Resend sends them.
 *
 * Faults: `failNext(fault, times)` queues planned outcomes, consumed one per request in arrival order;
 * `respondWith(fn)` decides per request (it wins over the queue while it returns a fault).
 *
 * The SDK joins `baseUrl` and `/emails` as strings, so `baseUrl` has no trailing slash; a request to
 * `//emails` gets Resend's 404 `not_found`, as the real API would.
 *
 * `createFakeResendHandler` is the same fake without a server of its own, so that
 * test/fakes/provider-server.ts can serve it beside the other providers on one port.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as received (e.g. `/emails`). */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The raw request body. */
  body: string;
  receivedAt: Date;
}

export interface SentEmail {
  id: string;
  from: string;
  /** Always a list, whether the request sent a string or an array. */
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  idempotencyKey?: string;
  /** The whole JSON body as received. */
  payload: Record<string, unknown>;
  createdAt: Date;
}

export type FakeResendFault =
  /** Answer with this status and a Resend-shaped error body (or `rawBody`, verbatim). */
  | {
      kind: 'status';
      status: number;
      name?: string;
      message?: string;
      headers?: Record<string, string>;
      rawBody?: string;
    }
  /** Never answer (until the client gives up or the fake closes). With `afterAccept`, the email is
   * accepted and recorded first: the "response lost" case. */
  | { kind: 'hang'; afterAccept?: boolean }
  /** Destroy the connection without an answer; `afterAccept` as for `hang`. */
  | { kind: 'reset'; afterAccept?: boolean }
  /** Handle the request normally after `ms`; its idempotency key counts as in progress meanwhile. */
  | { kind: 'delay'; ms: number };

export interface FakeResendOptions {
  /** When set, any other bearer token gets 403 `invalid_api_key`. */
  apiKey?: string;
  /** How long an idempotency key is remembered; Resend keeps them 24 hours. */
  idempotencyTtlMs?: number;
  /** The clock for idempotency expiry. */
  now?: () => number;
}

export interface FakeResend {
  /** e.g. `http://127.0.0.1:41234`, no trailing slash. */
  baseUrl: string;
  /** Every accepted email, once each. */
  sent: SentEmail[];
  /** Every request received, faulted or not. */
  requests: RecordedRequest[];
  /** Plans `fault` for the next `times` requests (a status number means Resend's usual error for it). */
  failNext(fault: FakeResendFault | number, times?: number): void;
  /** Plans per request; return undefined to fall through to the queue and normal handling. */
  respondWith(planner: ((request: RecordedRequest) => FakeResendFault | number | undefined) | null): void;
  /** Forgets sent emails, requests, idempotency keys and planned faults. */
  reset(): void;
  close(): Promise<void>;
}

/** Resend's error name and message for each status it uses. */
const DEFAULT_ERRORS: Record<number, { name: string; message: string }> = {
  400: { name: 'validation_error', message: 'We found an error with one or more fields in the request.' },
  401: { name: 'missing_api_key', message: 'Missing API key in the authorization header.' },
  403: { name: 'invalid_api_key', message: 'API key is invalid.' },
  404: { name: 'not_found', message: 'The requested endpoint does not exist.' },
  405: { name: 'method_not_allowed', message: 'Method is not allowed for the requested path.' },
  409: { name: 'invalid_idempotent_request', message: 'Same idempotency key used with a different request payload.' },
  422: { name: 'validation_error', message: 'Invalid `to` field.' },
  429: { name: 'rate_limit_exceeded', message: 'Too many requests. Please limit the number of requests per second.' },
  500: { name: 'internal_server_error', message: 'An unexpected error occurred.' },
};

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
/** `a@b.c` or `Name <a@b.c>`. */
function isAddress(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const named = /^[^<>]*<([^<>]+)>$/.exec(value.trim());
  return EMAIL.test(named ? named[1]!.trim() : value.trim());
}

/** JSON with sorted keys, so that two bodies compare by content. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function toFault(fault: FakeResendFault | number): FakeResendFault {
  return typeof fault === 'number' ? { kind: 'status', status: fault } : fault;
}

interface Reply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

function errorReply(status: number, name?: string, message?: string, headers?: Record<string, string>): Reply {
  const defaults = DEFAULT_ERRORS[status] ?? { name: 'application_error', message: 'Unexpected error.' };
  return {
    status,
    headers,
    body: JSON.stringify({ statusCode: status, name: name ?? defaults.name, message: message ?? defaults.message }),
  };
}

/** The fake's state and request handler, to mount in any node:http server. */
export interface FakeResendHandler extends Omit<FakeResend, 'baseUrl' | 'close'> {
  /** Answers one request (it reads the body itself). Hung requests stay open until their socket is destroyed. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createFakeResendHandler(options: FakeResendOptions = {}): FakeResendHandler {
  const ttl = options.idempotencyTtlMs ?? 24 * 60 * 60 * 1000;
  const now = options.now ?? Date.now;
  const sent: SentEmail[] = [];
  const requests: RecordedRequest[] = [];
  const queue: FakeResendFault[] = [];
  let planner: ((request: RecordedRequest) => FakeResendFault | number | undefined) | null = null;
  /** Idempotency key → the accepted request's canonical body and the reply it got. */
  const idempotent = new Map<string, { fingerprint: string; reply: Reply; at: number }>();
  const inProgress = new Set<string>();

  function send(res: ServerResponse, reply: Reply): void {
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body);
  }

  /** Checks made before anything else: the API key and the idempotency key's form. */
  function precheck(request: RecordedRequest): Reply | undefined {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers['authorization'] ?? '');
    if (!match) return errorReply(401);
    if (options.apiKey !== undefined && match[1] !== options.apiKey) return errorReply(403);
    const key = request.headers['idempotency-key'];
    if (key !== undefined && (key.length < 1 || key.length > 256)) {
      return errorReply(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
    }
    return undefined;
  }

  /** Resend's own handling of `POST /emails`; records and remembers the email when it is accepted. */
  function acceptEmail(request: RecordedRequest): Reply {
    const key = request.headers['idempotency-key'];
    let payload: unknown;
    try {
      payload = JSON.parse(request.body);
    } catch {
      return errorReply(400, 'validation_error', 'Invalid JSON body.');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
      return errorReply(422, 'validation_error', 'The request body must be a JSON object.');
    }
    const body = payload as Record<string, unknown>;
    for (const field of ['from', 'to', 'subject'] as const) {
      if (body[field] === undefined || body[field] === null || body[field] === '') {
        return errorReply(422, 'missing_required_field', `Missing \`${field}\` field.`);
      }
    }
    if (typeof body.text !== 'string' && typeof body.html !== 'string' && !body.template) {
      return errorReply(422, 'missing_required_field', 'Missing `html` or `text` field.');
    }
    const to = Array.isArray(body.to) ? body.to : [body.to];
    if (to.length === 0 || to.length > 50 || !to.every(isAddress)) {
      return errorReply(
        422,
        'validation_error',
        'Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
      );
    }
    if (!isAddress(body.from)) {
      return errorReply(
        422,
        'validation_error',
        'Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
      );
    }
    if (typeof body.subject !== 'string') return errorReply(422, 'validation_error', 'Invalid `subject` field.');

    const id = randomUUID();
    sent.push({
      id,
      from: body.from,
      to: to as string[],
      subject: body.subject,
      ...(typeof body.text === 'string' ? { text: body.text } : {}),
      ...(typeof body.html === 'string' ? { html: body.html } : {}),
      ...(key !== undefined ? { idempotencyKey: key } : {}),
      payload: body,
      createdAt: new Date(now()),
    });
    const reply: Reply = { status: 200, body: JSON.stringify({ id }) };
    if (key !== undefined) idempotent.set(key, { fingerprint: canonical(body), reply, at: now() });
    return reply;
  }

  /** What an idempotency key says before the request is processed: a replay, a conflict, or nothing. */
  function checkIdempotency(request: RecordedRequest): Reply | undefined {
    const key = request.headers['idempotency-key'];
    if (key === undefined) return undefined;
    const previous = idempotent.get(key);
    if (previous && now() - previous.at >= ttl) idempotent.delete(key);
    const live = idempotent.get(key);
    if (live) {
      let fingerprint: string;
      try {
        fingerprint = canonical(JSON.parse(request.body));
      } catch {
        fingerprint = request.body;
      }
      return fingerprint === live.fingerprint ? live.reply : errorReply(409, 'invalid_idempotent_request');
    }
    if (inProgress.has(key)) {
      return errorReply(
        409,
        'concurrent_idempotent_requests',
        'Same idempotency key used while original request is still in progress.',
      );
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      body: Buffer.concat(chunks).toString('utf8'),
      receivedAt: new Date(now()),
    };
    requests.push(request);

    const planned = planner?.(request);
    const fault = planned !== undefined ? toFault(planned) : queue.shift();

    if (fault?.kind === 'status') {
      if (fault.rawBody !== undefined) {
        res.writeHead(fault.status, { 'content-type': 'text/plain', ...fault.headers });
        res.end(fault.rawBody);
      } else {
        send(res, errorReply(fault.status, fault.name, fault.message, fault.headers));
      }
      return;
    }
    if ((fault?.kind === 'hang' || fault?.kind === 'reset') && !fault.afterAccept) {
      if (fault.kind === 'reset') req.socket.destroy();
      return; // A hung request is left open; close() destroys it.
    }

    const pathname = new URL(request.path, 'http://fake').pathname;
    let reply: Reply;
    if (pathname === '/emails') {
      if (request.method !== 'POST') {
        reply = errorReply(405);
      } else {
        const key = request.headers['idempotency-key'];
        const known = precheck(request) ?? checkIdempotency(request);
        if (known) {
          reply = known;
        } else {
          if (key) inProgress.add(key);
          try {
            if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
            reply = acceptEmail(request);
          } finally {
            if (key) inProgress.delete(key);
          }
        }
      }
    } else if (/^\/emails\/[^/]+$/.test(pathname) && request.method === 'GET') {
      const email = sent.find((e) => e.id === decodeURIComponent(pathname.slice('/emails/'.length)));
      reply =
        precheck(request) ??
        (email
          ? {
              status: 200,
              body: JSON.stringify({
                object: 'email',
                id: email.id,
                from: email.from,
                to: email.to,
                subject: email.subject,
                text: email.text ?? null,
                html: email.html ?? null,
                created_at: email.createdAt.toISOString(),
                last_event: 'delivered',
              }),
            }
          : errorReply(404, 'not_found', 'Email not found'));
    } else {
      reply = errorReply(404);
    }

    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    send(res, reply);
  }

  return {
    sent,
    requests,
    failNext(fault, times = 1) {
      for (let i = 0; i < times; i++) queue.push(toFault(fault));
    },
    respondWith(next) {
      planner = next;
    },
    reset() {
      sent.length = 0;
      requests.length = 0;
      queue.length = 0;
      planner = null;
      idempotent.clear();
      inProgress.clear();
    },
    async handle(req, res) {
      try {
        await handle(req, res);
      } catch (err) {
        if (!res.headersSent && !res.destroyed) send(res, errorReply(500, 'application_error', String(err)));
      }
    },
  };
}

export async function startFakeResend(options: FakeResendOptions = {}): Promise<FakeResend> {
  const handler = createFakeResendHandler(options);
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => void handler.handle(req, res));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    sent: handler.sent,
    requests: handler.requests,
    failNext: handler.failNext,
    respondWith: handler.respondWith,
    reset: handler.reset,
    baseUrl: `http://127.0.0.1:${port}`,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
