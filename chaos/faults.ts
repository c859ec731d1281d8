/**
 * Provider faults at the fake Resend and the fake FCM.
 *
 * Resend, decided per request: permanently invalid addresses get 422
 * (Resend's validation_error), and while a domain is "faulty" 30 % of its calls fail: 5xx (half
 * with Retry-After), 429 with Retry-After, hung requests (the adapter gives up after 15 s) and hung
 * requests whose email was accepted first (the response is lost: the retry must be absorbed by the
 * Idempotency-Key). Everything is counted, including retries the idempotency key absorbed.
 */
import type { FakeFcm, FakeFcmFault } from '../test/fakes/fcm-server.ts';
import type { FakeProviders } from '../test/fakes/provider-server.ts';
import type { FakeResendFault } from '../test/fakes/resend-server.ts';
import { INVALID_EMAIL_DOMAIN } from './seed.ts';

export interface FaultStats {
  requests: number;
  invalid422: number;
  status5xx: number;
  status5xxRetryAfter: number;
  status429: number;
  hang: number;
  hangAfterAccept: number;
  /** Requests with an Idempotency-Key the fake had already accepted: answered from memory, not sent again. */
  idempotentReplays: number;
}

export function installResendFaults(
  fake: FakeProviders,
  opts: { faultyDomains: Set<string>; rate: number; random?: () => number },
): FaultStats {
  const random = opts.random ?? Math.random;
  const stats: FaultStats = {
    requests: 0,
    invalid422: 0,
    status5xx: 0,
    status5xxRetryAfter: 0,
    status429: 0,
    hang: 0,
    hangAfterAccept: 0,
    idempotentReplays: 0,
  };
  fake.resend.respondWith((request): FakeResendFault | undefined => {
    stats.requests++;
    let to: string[] = [];
    try {
      const body = JSON.parse(request.body) as { to?: string | string[] };
      to = Array.isArray(body.to) ? body.to : body.to ? [body.to] : [];
    } catch {
      return undefined;
    }
    const domains = to.map((a) => a.slice(a.lastIndexOf('@') + 1).replace(/>$/, ''));
    if (domains.includes(INVALID_EMAIL_DOMAIN)) {
      stats.invalid422++;
      return {
        kind: 'status',
        status: 422,
        name: 'validation_error',
        message: 'The recipient address is invalid (chaos).',
      };
    }
    let fault: FakeResendFault | undefined;
    if (domains.some((d) => opts.faultyDomains.has(d))) {
      const r = random() / opts.rate; // < 1 for `rate` of the calls
      if (r < 0.2) {
        stats.status5xx++;
        fault = { kind: 'status', status: 503, name: 'internal_server_error', message: 'Service unavailable (chaos)' };
      } else if (r < 0.4) {
        stats.status5xxRetryAfter++;
        fault = { kind: 'status', status: 500, headers: { 'retry-after': '2' } };
      } else if (r < 0.8) {
        stats.status429++;
        fault = { kind: 'status', status: 429, headers: { 'retry-after': String(1 + Math.floor(random() * 3)) } };
      } else if (r < 0.9) {
        stats.hang++;
        fault = { kind: 'hang' };
      } else if (r < 1) {
        stats.hangAfterAccept++;
        fault = { kind: 'hang', afterAccept: true };
      }
    }
    const key = request.headers['idempotency-key'];
    if ((!fault || (fault.kind === 'hang' && fault.afterAccept)) && key) {
      if (fake.resend.sent.some((e) => e.idempotencyKey === key)) stats.idempotentReplays++;
    }
    return fault;
  });
  return stats;
}

export interface FcmFaultStats {
  requests: number;
  status503: number;
  status500: number;
  status429: number;
  hang: number;
}

/**
 * Push faults at the fake FCM, for the tokens `faulty` picks, on `rate` of their requests: 503
 * with Retry-After (which firebase-admin retries itself), 500, 429 with Retry-After, and hung
 * requests (the SDK gives up after 15 s). A hang after FCM accepted the message is left out: FCM
 * has no idempotency key, so its retry is a second message by construction (RELIABILITY.md).
 * Unregistered tokens are the fake's own `unregister()`, answered before this is asked.
 */
export function installFcmFaults(
  fcm: FakeFcm,
  opts: { faulty: (token: string) => boolean; rate: number; random?: () => number },
): FcmFaultStats {
  const random = opts.random ?? Math.random;
  const stats: FcmFaultStats = { requests: 0, status503: 0, status500: 0, status429: 0, hang: 0 };
  fcm.respondWith(({ token }): FakeFcmFault | undefined => {
    stats.requests++;
    if (!opts.faulty(token)) return undefined;
    const r = random() / opts.rate; // < 1 for `rate` of the calls
    if (r < 0.3) {
      stats.status503++;
      return { kind: 'status', status: 503, retryAfterSeconds: 1 };
    }
    if (r < 0.5) {
      stats.status500++;
      return { kind: 'status', status: 500 };
    }
    if (r < 0.9) {
      stats.status429++;
      return { kind: 'status', status: 429, retryAfterSeconds: 1 + Math.floor(random() * 3) };
    }
    if (r < 1) {
      stats.hang++;
      return { kind: 'hang' };
    }
    return undefined;
  });
  return stats;
}

/** Requests to a token after FCM had answered UNREGISTERED for it: the token should have been retired. */
export function sendsAfterUnregistered(fcm: FakeFcm): number {
  const gone = new Map<string, number>();
  let after = 0;
  for (const r of fcm.requests) {
    const since = gone.get(r.token);
    if (since !== undefined && r.at > since + 1_000) after++;
    if (r.outcome === 'unregistered' && since === undefined) gone.set(r.token, r.at);
  }
  return after;
}
