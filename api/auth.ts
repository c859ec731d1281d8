/**
 * Bearer authentication for /v1: a valid token puts its Principal on the context; anything else
 * is a 401 problem with a WWW-Authenticate challenge (RFC 6750) that says what was wrong.
 */
import type { MiddlewareHandler } from 'hono';
import { InvalidToken, type TokenVerifier } from '../shared/auth-tokens.ts';
import type { AppEnv } from './openapi.ts';
import { ProblemError, problemResponse } from './problem.ts';

const BEARER = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/;

export function authenticate(verifier: TokenVerifier): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    const match = header ? BEARER.exec(header) : null;
    const refuse = (detail: string, error?: 'invalid_token' | 'invalid_request') => {
      c.header(
        'WWW-Authenticate',
        error
          ? `Bearer realm="carecircle", error="${error}", error_description="${detail}"`
          : 'Bearer realm="carecircle"',
      );
      return problemResponse(c, new ProblemError(401, 'unauthenticated', 'Authentication required', detail));
    };
    if (!header) return refuse('Send a bearer token: Authorization: Bearer <token>');
    if (!match?.[1]) return refuse('The Authorization header must be "Bearer <token>"', 'invalid_request');
    try {
      c.set('principal', await verifier.verify(match[1]));
    } catch (err) {
      if (err instanceof InvalidToken) return refuse(err.message, 'invalid_token');
      throw err;
    }
    return next();
  };
}

/** Operator-only routes (dead letters, queues, the dev outbox). */
export const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get('principal').operator) {
    throw new ProblemError(403, 'forbidden', 'Forbidden', 'This endpoint is for operators (the operator role)');
  }
  return next();
};
