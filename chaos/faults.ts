/**
 * Provider faults at the fake Resend, decided per request: permanently invalid addresses get 422
 * (Resend's validation_error), and while a domain is "faulty" 30 % of its calls fail: 5xx (half
 * with Retry-After), 429 with Retry-After, hung requests (the adapter gives up after 15 s) and hung
 * requests whose email was accepted first (the response is lost: the retry must be absorbed by the
 * Idempotency-Key). Everything is counted, including retries the idempotency key absorbed.
 */
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
