/**
 * Rate limits with the standard headers (RateLimit-Policy, RateLimit-Limit/-Remaining/-Reset, and
 * Retry-After on a 429): one per client address, checked before the token so floods of bad tokens
 * are cut off too, and one per signed-in user. Counters live in this process (hono-rate-limiter's
 * memory store): with several API replicas each enforces its own share; use its Redis store then.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context, MiddlewareHandler } from 'hono';
import { rateLimiter } from 'hono-rate-limiter';
import type { Config } from '../shared/config.ts';
import type { ApiDeps } from './deps.ts';
import type { AppEnv } from './openapi.ts';
import { ProblemError, problemResponse } from './problem.ts';

const WINDOW_MS = 60_000;

/** The limits configured (RATE_LIMIT_* in shared/config.ts). */
export function rateLimitsOf(cfg: Config): NonNullable<ApiDeps['rateLimits']> {
  return {
    perUser: cfg.RATE_LIMIT_PER_USER_PER_MINUTE,
    perAddress: cfg.RATE_LIMIT_PER_IP_PER_MINUTE,
    trustForwardedFor: cfg.TRUST_FORWARDED_FOR ?? false,
  };
}

function tooMany(c: Context, who: string): Response {
  return problemResponse(
    c,
    new ProblemError(
      429,
      'rate-limited',
      'Too many requests',
      `Too many requests from this ${who}; retry after the Retry-After seconds`,
    ),
  );
}

export function clientAddress(c: Context, trustForwardedFor: boolean): string {
  if (trustForwardedFor) {
    const first = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (first) return first;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown'; // app.request() in tests has no socket
  }
}

export function perAddressRateLimit(limit: number, trustForwardedFor: boolean): MiddlewareHandler<AppEnv> {
  return rateLimiter<AppEnv>({
    windowMs: WINDOW_MS,
    limit,
    standardHeaders: 'draft-6',
    keyGenerator: (c) => `ip:${clientAddress(c, trustForwardedFor)}`,
    handler: (c) => tooMany(c, 'address'),
  });
}

/** After authenticate(): the principal is set. */
export function perUserRateLimit(limit: number): MiddlewareHandler<AppEnv> {
  return rateLimiter<AppEnv>({
    windowMs: WINDOW_MS,
    limit,
    standardHeaders: 'draft-6',
    keyGenerator: (c) => `user:${c.get('principal').userId}`,
    handler: (c) => tooMany(c, 'user'),
  });
}
