/**
 * Idempotency-Key for POST requests: a mobile app that retries after a timeout gets the first
 * response back instead of creating a second schedule or sending a second notification.
 *
 * - first request with a key: handled, and its response (below 500) stored with a hash of the body;
 * - the same key, method, path and body again: the stored response, with `Idempotent-Replayed: true`;
 * - the same key with another body: 422; while the first is still being handled: 409;
 * - keys belong to the signed-in user: another user's identical key is a separate request;
 * - a 5xx is not stored, so a retry runs again; records are kept for 24 hours;
 * - a multipart body (a document upload) is compared without its boundary, which a client such as
 *   curl draws afresh for every attempt: the same file and fields are the same request.
 */
import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './openapi.ts';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { Prisma, type PrismaClient } from '../shared/db.ts';
import { ProblemError, problemResponse } from './problem.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const KEY = /^[\x21-\x7e]{1,255}$/;

/** SHA-256 of the body; of a multipart body, with every occurrence of its boundary left out. */
function hashBody(body: Buffer, contentType: string | undefined): string {
  const hash = createHash('sha256');
  const boundary = /^multipart\/[^;]*;(?:.*;)?\s*boundary="?([^";]+)"?/i.exec(contentType ?? '')?.[1];
  if (!boundary) return hash.update(body).digest('hex');
  const marker = Buffer.from(boundary);
  let from = 0;
  for (let at = body.indexOf(marker, from); at >= 0; at = body.indexOf(marker, from)) {
    hash.update(body.subarray(from, at)).update('\0boundary\0');
    from = at + marker.length;
  }
  return hash.update(body.subarray(from)).digest('hex');
}

export function idempotency(prisma: PrismaClient): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header('idempotency-key');
    if (c.req.method !== 'POST' || key === undefined) return next();
    if (!KEY.test(key)) {
      return problemResponse(
        c,
        new ProblemError(
          400,
          'invalid-idempotency-key',
          'Invalid Idempotency-Key',
          'Use 1 to 255 visible ASCII characters',
        ),
      );
    }
    // Per user: the same key from someone else is their own request, never a replay of this one.
    const id = { userId: c.get('principal').userId, key, method: c.req.method, path: c.req.path };
    // Hono keeps the body it read here for the route handler.
    const requestHash = hashBody(Buffer.from(await c.req.arrayBuffer()), c.req.header('content-type'));

    await prisma.idempotencyRecord.deleteMany({
      where: { ...id, createdAt: { lt: new Date(Date.now() - IDEMPOTENCY_TTL_MS) } },
    });
    try {
      await prisma.idempotencyRecord.create({ data: { ...id, requestHash } });
    } catch (err) {
      if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
      const first = await prisma.idempotencyRecord.findUnique({ where: { userId_key_method_path: id } });
      if (!first) throw err;
      if (first.requestHash !== requestHash) {
        return problemResponse(
          c,
          new ProblemError(
            422,
            'idempotency-key-reused',
            'Idempotency-Key reused',
            'This key was used for a different request body',
          ),
        );
      }
      if (first.responseStatus === null) {
        return problemResponse(
          c,
          new ProblemError(
            409,
            'request-in-progress',
            'Request in progress',
            'The first request with this key is still being handled',
          ),
        );
      }
      return c.body(first.responseBody ?? '', first.responseStatus as ContentfulStatusCode, {
        ...(first.responseType ? { 'Content-Type': first.responseType } : {}),
        'Idempotent-Replayed': 'true',
      });
    }

    try {
      await next();
    } finally {
      const status = c.res.status;
      if (status >= 500) {
        await prisma.idempotencyRecord.deleteMany({ where: id });
      } else {
        await prisma.idempotencyRecord.update({
          where: { userId_key_method_path: id },
          data: {
            responseStatus: status,
            responseType: c.res.headers.get('content-type'),
            responseBody: await c.res.clone().text(),
          },
        });
      }
    }
  };
}
