/**
 * Errors as RFC 9457 problem details. Every rejection the API makes is one of these, with a stable
 * `type`, so clients can branch on it; nothing internal (stack traces, SQL) ever reaches them.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

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
  return c.body(JSON.stringify(body), problem.status, { 'Content-Type': 'application/problem+json' });
}
