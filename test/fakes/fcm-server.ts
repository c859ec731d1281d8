/**
 * A local stand-in for Firebase Cloud Messaging's HTTP v1 API and Google's OAuth token endpoint,
 * for the real firebase-admin SDK. It serves HTTPS with a certificate for fcm.googleapis.com and
 * oauth2.googleapis.com signed by a CA made for the run (./fcm-tls.ts); the FCM adapter reaches it
 * through FIREBASE_CONNECT_TO and FIREBASE_TLS_CA (providers/fcm-push.ts). It checks what Google
 * checks that matters here: the service account's signed JWT at the token endpoint, the bearer
 * token and the project at `projects/{id}/messages:send`.
 *
 *   const fcm = await startFakeFcm();
 *   fcm.unregister('device-1');                        // UNREGISTERED (404) for good
 *   fcm.respondWith(({ token }) => token === 'x' ? { kind: 'status', status: 503, retryAfterSeconds: 1 } : undefined);
 *   FcmPushSender.fromServiceAccount(fcm.serviceAccount, fcm.connection);   // a file path
 *   fcm.sent   // accepted messages, with their data (the adapter's dedupeKey)
 *
 * Faults answer as FCM does (google.rpc.Status JSON with an FcmError detail), so the SDK maps them
 * to its own codes: 503 UNAVAILABLE (which the SDK itself retries, honouring Retry-After), 500
 * INTERNAL, 429 QUOTA_EXCEEDED with Retry-After, 404 UNREGISTERED, 400 INVALID_ARGUMENT, and hung
 * requests (the SDK gives up after 15 s), optionally after the message was accepted.
 */
import { createPrivateKey, createPublicKey, createVerify, generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { issueTestCertificates } from './fcm-tls.ts';

export const GOOGLE_HOSTS = ['fcm.googleapis.com', 'oauth2.googleapis.com'];

export type FakeFcmFault =
  | { kind: 'status'; status: 500 | 503 | 429; retryAfterSeconds?: number }
  | { kind: 'unregistered' }
  | { kind: 'invalid-argument' }
  /** No answer at all; with `afterAccept` the message is delivered first (the answer is lost). */
  | { kind: 'hang'; afterAccept?: boolean };

export interface FakeFcmMessage {
  token: string;
  notification?: { title?: string; body?: string };
  data?: Record<string, string>;
  android?: { notification?: { tag?: string; channel_id?: string } };
  apns?: { headers?: Record<string, string>; payload?: { aps?: Record<string, unknown> } };
  webpush?: { headers?: Record<string, string> };
}

/** The limits FCM enforces on collapse ids: APNs takes 64 bytes, a Web Push topic 32 URL-safe characters. */
function invalidCollapse(m: FakeFcmMessage): string | null {
  const apns = m.apns?.headers?.['apns-collapse-id'];
  if (apns !== undefined && Buffer.byteLength(apns) > 64) return 'apns-collapse-id is longer than 64 bytes';
  const topic = m.webpush?.headers?.Topic;
  if (topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(topic))
    return 'Web Push Topic is not 1-32 URL-safe characters';
  return null;
}

export interface FakeFcmRequest {
  token: string;
  message: FakeFcmMessage;
  /** How many times this token was sent to before (any outcome). */
  attempt: number;
}

export interface FakeFcm {
  /** "host:port" every Google host of the adapter must be connected to. */
  connectTo: string;
  caPem: string;
  /** ca.pem on disk, for a child process's FIREBASE_TLS_CA. */
  caFile: string;
  /** The adapter's options for this fake (see FcmPushSender.fromServiceAccount). */
  connection: { connectTo: string; ca: string };
  /** Path of a service account JSON file (a fresh RSA key) whose JWTs the token endpoint accepts. */
  serviceAccount: string;
  projectId: string;
  /** Every message accepted, in order. */
  sent: { token: string; message: FakeFcmMessage; name: string; at: number }[];
  /** Every send request answered (or hung), with the outcome: `ok`, a fault kind, or `rejected`. */
  requests: { token: string; outcome: string; at: number }[];
  /** Access tokens issued by the token endpoint. */
  tokensIssued: number;
  /** FCM answers UNREGISTERED for this token from now on. */
  unregister(token: string): void;
  /** Decides a fault per send request (undefined: accept). Replaces the previous decider; null removes it. */
  respondWith(decide: ((request: FakeFcmRequest) => FakeFcmFault | undefined) | null): void;
  close(): Promise<void>;
}

const FCM_ERROR = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

function rpcError(code: number, status: string, message: string, fcmErrorCode?: string) {
  return {
    error: {
      code,
      message,
      status,
      ...(fcmErrorCode ? { details: [{ '@type': FCM_ERROR, errorCode: fcmErrorCode }] } : {}),
    },
  };
}

/** Verifies an RS256 JWT against the service account's public key; returns its claims. */
function verifyJwt(jwt: string, publicKey: ReturnType<typeof createPublicKey>): Record<string, unknown> | undefined {
  const [header, payload, signature] = jwt.split('.');
  if (!header || !payload || !signature) return undefined;
  const verifier = createVerify('RSA-SHA256');
  verifier.update(`${header}.${payload}`);
  if (!verifier.verify(publicKey, Buffer.from(signature, 'base64url'))) return undefined;
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export async function startFakeFcm(opts: { projectId?: string } = {}): Promise<FakeFcm> {
  const projectId = opts.projectId ?? 'carecircle-fake';
  const certs = issueTestCertificates(GOOGLE_HOSTS);
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const publicKey = createPublicKey(createPrivateKey(privateKeyPem));
  const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
  const serviceAccountJson = JSON.stringify({
    type: 'service_account',
    project_id: projectId,
    private_key_id: randomUUID(),
    private_key: privateKeyPem,
    client_email: clientEmail,
    client_id: '100000000000000000000',
    token_uri: 'https://oauth2.googleapis.com/token',
  });
  // A file, not the JSON: only then does firebase-admin send its token request through the agent.
  const serviceAccount = path.join(certs.dir, 'service-account.json');
  fs.writeFileSync(serviceAccount, serviceAccountJson, { mode: 0o600 });

  const accessTokens = new Set<string>();
  const unregistered = new Set<string>();
  const attempts = new Map<string, number>();
  let decide: ((request: FakeFcmRequest) => FakeFcmFault | undefined) | null = null;
  let counter = 0;
  const sockets = new Set<Socket>();

  const fake: FakeFcm = {
    connectTo: '',
    caPem: certs.caPem,
    caFile: certs.caFile,
    connection: { connectTo: '', ca: certs.caPem },
    serviceAccount,
    projectId,
    sent: [],
    requests: [],
    tokensIssued: 0,
    unregister: (token) => void unregistered.add(token),
    respondWith: (fn) => void (decide = fn),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      certs.remove();
    },
  };

  const json = (res: import('node:http').ServerResponse, status: number, body: unknown, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
    res.end(JSON.stringify(body));
  };

  const server = https.createServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      const url = new URL(req.url ?? '/', `https://${host}`);

      if (host === 'oauth2.googleapis.com' && req.method === 'POST' && url.pathname === '/token') {
        const form = new URLSearchParams(body);
        const claims =
          form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer'
            ? verifyJwt(form.get('assertion') ?? '', publicKey)
            : undefined;
        if (!claims || claims.iss !== clientEmail || claims.aud !== 'https://oauth2.googleapis.com/token') {
          return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
        }
        const accessToken = `ya29.fake-${randomUUID()}`;
        accessTokens.add(accessToken);
        fake.tokensIssued++;
        return json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
      }

      const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(url.pathname);
      if (host !== 'fcm.googleapis.com' || req.method !== 'POST' || !send) {
        return json(res, 404, rpcError(404, 'NOT_FOUND', `No such endpoint: ${req.method} ${host}${url.pathname}`));
      }
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !accessTokens.has(bearer)) {
        fake.requests.push({ token: '', outcome: 'rejected', at: Date.now() });
        return json(res, 401, rpcError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'));
      }
      if (send[1] !== projectId) {
        fake.requests.push({ token: '', outcome: 'rejected', at: Date.now() });
        return json(res, 403, rpcError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH'));
      }
      let message: FakeFcmMessage | undefined;
      try {
        message = (JSON.parse(body) as { message?: FakeFcmMessage }).message;
      } catch {
        message = undefined;
      }
      if (!message || typeof message.token !== 'string' || message.token === '') {
        fake.requests.push({ token: '', outcome: 'rejected', at: Date.now() });
        return json(res, 400, rpcError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.', 'INVALID_ARGUMENT'));
      }
      const invalid = invalidCollapse(message);
      if (invalid) {
        fake.requests.push({ token: message.token, outcome: 'rejected', at: Date.now() });
        return json(res, 400, rpcError(400, 'INVALID_ARGUMENT', invalid, 'INVALID_ARGUMENT'));
      }
      const token = message.token;
      const attempt = attempts.get(token) ?? 0;
      attempts.set(token, attempt + 1);
      const fault: FakeFcmFault | undefined = unregistered.has(token)
        ? { kind: 'unregistered' }
        : (decide?.({ token, message, attempt }) ?? undefined);
      fake.requests.push({
        token,
        outcome: fault ? (fault.kind === 'status' ? String(fault.status) : fault.kind) : 'ok',
        at: Date.now(),
      });
      const accept = () => {
        const name = `projects/${projectId}/messages/${++counter}`;
        fake.sent.push({ token, message: message!, name, at: Date.now() });
        return name;
      };
      if (!fault) return json(res, 200, { name: accept() });
      switch (fault.kind) {
        case 'hang':
          if (fault.afterAccept) accept();
          return; // the client's timeout ends it
        case 'unregistered':
          return json(res, 404, rpcError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'));
        case 'invalid-argument':
          return json(
            res,
            400,
            rpcError(
              400,
              'INVALID_ARGUMENT',
              'The registration token is not a valid FCM registration token',
              'INVALID_ARGUMENT',
            ),
          );
        case 'status': {
          const headers = fault.retryAfterSeconds ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
          if (fault.status === 429) {
            return json(res, 429, rpcError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded.', 'QUOTA_EXCEEDED'), headers);
          }
          if (fault.status === 503) {
            return json(
              res,
              503,
              rpcError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE'),
              headers,
            );
          }
          return json(res, 500, rpcError(500, 'INTERNAL', 'Internal error encountered.', 'INTERNAL'), headers);
        }
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.connectTo = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.connection.connectTo = fake.connectTo;
  return fake;
}
