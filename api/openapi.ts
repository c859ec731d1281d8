/**
 * Every route is declared with @hono/zod-openapi: the zod schema that validates a request is the
 * one the OpenAPI document shows, so the spec cannot drift from the code. This module holds what
 * route files share: the router factory, the problem schema and the response helpers.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Principal } from '../shared/auth-tokens.ts';
import { pageSchema } from './pagination.ts';
import { validationFailed, zodFieldErrors } from './problem.ts';

/** What middleware hands to route handlers. */
export interface AppEnv {
  Variables: {
    /** The signed-in user; set by api/auth.ts on every /v1 route. */
    principal: Principal;
  };
}

export type Router = OpenAPIHono<AppEnv>;

/** A router whose validation failures are the API's own 400 problem, with one entry per field. */
export function createRouter(): Router {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const prefix = result.target === 'json' ? '' : result.target === 'param' ? 'path' : result.target;
        throw validationFailed(zodFieldErrors(result.error, prefix));
      }
    },
  });
}

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:carecircle:problem:validation-failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'One entry per invalid field (validation-failed only)' }),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details; `type` is stable per kind of error' });

const PROBLEM_DESCRIPTIONS = {
  400: 'Invalid request: malformed JSON, or fields that fail validation (see `errors`)',
  401: 'Missing, expired or invalid bearer token',
  403: 'Signed in, but your role in this care circle does not allow this',
  404: 'Not found, or not in any of your care circles',
  409: 'Conflicts with the current state',
  413: 'Body too large',
  415: 'Body is not application/json',
  422: 'Well-formed but not allowed now, or an Idempotency-Key reused with another body',
  429: 'Too many requests; see Retry-After and RateLimit headers',
  503: 'A dependency (database or Temporal) is unreachable; retry after the Retry-After seconds',
} as const;
export type ProblemStatus = keyof typeof PROBLEM_DESCRIPTIONS;

const problemContent = { 'application/problem+json': { schema: ProblemSchema } };

/**
 * A status the server also gives to requests this document accepts, and the rules behind it: what
 * JSON Schema cannot say (one field against another, the clock, the database, the bytes of a file).
 * They are written into the response, as words and as `x-beyond-schema`, so a client (and the
 * contract test) knows that a schema-valid request may still get this status, and why.
 */
export interface BeyondSchema {
  status: ProblemStatus;
  rules: string[];
}
export const beyondSchema = (status: ProblemStatus, ...rules: string[]): BeyondSchema => ({ status, rules });

/** What a write to a circle's record may answer whatever its rules: invalid, forbidden, unknown, conflicting, too large, not JSON. */
export const WRITE_PROBLEMS = [400, 403, 404, 409, 413, 415] as const satisfies readonly ProblemStatus[];

interface ProblemResponse {
  description: string;
  content: typeof problemContent;
  'x-beyond-schema'?: string[];
}

/** The error responses of a route, for the spec. 401 and 429 apply to every /v1 route, 503 to all. */
export function problems(...statuses: (ProblemStatus | BeyondSchema)[]) {
  const rules = new Map<ProblemStatus, string[]>();
  for (const s of statuses)
    if (typeof s === 'object') rules.set(s.status, [...(rules.get(s.status) ?? []), ...s.rules]);
  const all = new Set<ProblemStatus>([...statuses.map((s) => (typeof s === 'object' ? s.status : s)), 401, 429, 503]);
  return Object.fromEntries(
    [...all].sort().map((s): [ProblemStatus, ProblemResponse] => {
      const extra = rules.get(s);
      if (!extra) return [s, { description: PROBLEM_DESCRIPTIONS[s], content: problemContent }];
      return [
        s,
        {
          description: `${PROBLEM_DESCRIPTIONS[s]}. Also, for a request valid by this schema: ${extra.join('; ')}`,
          content: problemContent,
          'x-beyond-schema': extra,
        },
      ];
    }),
  ) as Record<ProblemStatus, ProblemResponse>;
}

/** A required JSON request body. */
export function jsonBody<S extends z.ZodType>(schema: S, description?: string) {
  return {
    required: true,
    ...(description ? { description } : {}),
    content: { 'application/json': { schema } },
  } as const;
}

/** A JSON response. */
export function jsonResponse<S extends z.ZodType>(schema: S, description: string) {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** Path parameters that are UUIDs: anything else names nothing, so it is a 404, not a 400. */
export function uuidParams<K extends string>(...names: K[]) {
  return z.object(
    Object.fromEntries(
      names.map((n) => [n, z.string().openapi({ format: 'uuid', param: { name: n, in: 'path' } })]),
    ) as {
      [P in K]: z.ZodString;
    },
  );
}

export const CreatedSchema = z.object({ id: z.uuid() }).openapi('Created');

/** GET / of a resource whose records belong to care circles: a page of one circle's, or 400/404. */
export function circlePageRoute<Q extends z.ZodObject, S extends z.ZodType>(route: {
  tags: string[];
  summary: string;
  query: Q;
  item: S;
  /** The page schema's name in the document, e.g. "MedicationPage". */
  page: string;
  description: string;
}) {
  return createRoute({
    method: 'get',
    path: '/',
    tags: route.tags,
    summary: route.summary,
    request: { query: route.query },
    responses: {
      200: jsonResponse(pageSchema(route.item, route.page), route.description),
      ...problems(400, 404),
    },
  });
}

/** GET /{id}: one record, or 404 (also to whoever may not see it). */
export function recordRoute<S extends z.ZodType>(route: {
  tags: string[];
  summary: string;
  schema: S;
  description: string;
}) {
  return createRoute({
    method: 'get',
    path: '/{id}',
    tags: route.tags,
    summary: route.summary,
    request: { params: uuidParams('id') },
    responses: { 200: jsonResponse(route.schema, route.description), ...problems(404) },
  });
}
