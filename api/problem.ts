/**
 * Errors as RFC 9457 problem details. Every rejection the API makes is one of these, with a stable
 * `type`, so clients can branch on it; nothing internal (stack traces, SQL) ever reaches them.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { isDatabaseUnavailable } from '../shared/db-errors.ts';

/** Retry-After of every 503: an outage of the database or Temporal is not over in a second. */
export const RETRY_AFTER_SECONDS = 5;

export interface FieldError {
  path: string;
  message: string;
}

export class ProblemError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    /** Short stable slug, e.g. "validation-failed"; the full `type` is a URN built from it. */
    readonly slug: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
  ) {
    super(detail ?? title);
  }
}

export const notFound = (what: string, id: string): ProblemError =>
  new ProblemError(404, 'not-found', 'Not found', `${what} ${id} does not exist`);

export const validationFailed = (errors: FieldError[]): ProblemError =>
  new ProblemError(
    400,
    'validation-failed',
    'Invalid request',
    errors.map((e) => `${e.path}: ${e.message}`).join('; '),
    errors,
  );

/** A 503 whose `cause` (a Temporal or database error) is logged, never shown to the client. */
export const unavailable = (detail: string, cause?: unknown): ProblemError =>
  Object.assign(new ProblemError(503, 'service-unavailable', 'Service unavailable', detail), { cause });

export const DATABASE_UNAVAILABLE_DETAIL = 'The database is unreachable; retry shortly';

const unsupportedMediaType = new ProblemError(
  415,
  'unsupported-media-type',
  'Unsupported media type',
  'Send the body as application/json',
);
const malformedJson = new ProblemError(400, 'malformed-json', 'Malformed JSON', 'The request body is not valid JSON');
const internal = new ProblemError(500, 'internal', 'Internal error', 'Something went wrong on our side');

/**
 * The one mapping from whatever a route or middleware threw to the client's answer (app.onError):
 * a database that cannot be reached is a 503 from every route, whichever query met the outage,
 * instead of each route catching it. `cause` is what operators should see: set for 5xx only.
 */
export function problemOf(err: unknown): { problem: ProblemError; cause?: unknown } {
  if (err instanceof ProblemError) {
    return err.status >= 500 && err.cause !== undefined ? { problem: err, cause: err.cause } : { problem: err };
  }
  // The routes' validators (@hono/zod-openapi): unparsable JSON, or a media type the route does not take.
  if (err instanceof HTTPException && err.status === 400) return { problem: malformedJson };
  if (err instanceof HTTPException && err.status === 415) return { problem: unsupportedMediaType };
  if (isDatabaseUnavailable(err)) return { problem: unavailable(DATABASE_UNAVAILABLE_DETAIL, err), cause: err };
  return { problem: internal, cause: err };
}

export function zodFieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(body)',
    message: issue.message,
  }));
}

export function problemResponse(c: Context, problem: ProblemError): Response {
  const body = {
    type: `urn:carecircle:problem:${problem.slug}`,
    title: problem.title,
    status: problem.status,
    ...(problem.detail ? { detail: problem.detail } : {}),
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
  return c.body(JSON.stringify(body), problem.status, {
    'Content-Type': 'application/problem+json',
    ...(problem.status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {}),
  });
}
