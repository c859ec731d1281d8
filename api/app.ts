/**
 * The HTTP API. It validates, writes to the database and talks to Temporal; the work itself
 * happens in workers. Every /v1 route needs a bearer token and is rate limited; its schema is in
 * GET /openapi.json and browsable at GET /docs.
 */
import { bodyLimit } from 'hono/body-limit';
import { loadConfig } from '../shared/config.ts';
import { requestSpans } from '../shared/tracing.ts';
import { authenticate } from './auth.ts';
import type { ApiDeps } from './deps.ts';
import { idempotency } from './idempotency.ts';
import { allowedMethodsOf } from './method-not-allowed.ts';
import { createRouter, type Router } from './openapi.ts';
import { ProblemError, problemOf, problemResponse } from './problem.ts';
import { perAddressRateLimit, perUserRateLimit, rateLimitsOf } from './rate-limit.ts';
import { appointmentRoutes } from './routes/appointments.ts';
import { careCircleRoutes } from './routes/care-circles.ts';
import { circleNotificationRoutes } from './routes/circle-notifications.ts';
import { deadLetterRoutes } from './routes/dead-letters.ts';
import { devOutboxRoutes } from './routes/dev-outbox.ts';
import { mountDocs } from './routes/docs.ts';
import { documentRoutes } from './routes/documents.ts';
import { healthRoutes } from './routes/health.ts';
import { medicationRoutes } from './routes/medications.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { opsRoutes } from './routes/ops.ts';
import { memberRoutes, patientRoutes } from './routes/patients.ts';
import { readyRoutes } from './routes/ready.ts';
import { shiftRoutes } from './routes/shifts.ts';

export const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: ApiDeps, onError: (err: unknown) => void = () => {}): Router {
  const app = createRouter();
  const limits = deps.rateLimits ?? rateLimitsOf(loadConfig({}));

  app.use('*', requestSpans());

  app.use('/v1/*', perAddressRateLimit(limits.perAddress, limits.trustForwardedFor ?? false));
  app.use('/v1/*', authenticate(deps.tokens));
  app.use('/v1/*', perUserRateLimit(limits.perUser));

  // Before the JSON body limit below: documents have their own, larger one (DOCUMENT_MAX_BYTES).
  app.route('/v1/documents', documentRoutes(deps));
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      problemResponse(
        c,
        new ProblemError(
          413,
          'payload-too-large',
          'Payload too large',
          `Bodies are limited to ${MAX_BODY_BYTES} bytes`,
        ),
      ),
  });
  // GET and HEAD requests have no body; asking for it would build a whole fetch Request per read.
  app.use('/v1/*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)));
  // After the body limit: an oversized body is refused before it is hashed.
  app.use('/v1/*', idempotency(deps.prisma));

  app.route('/health', healthRoutes(deps));
  app.route('/ready', readyRoutes(deps));
  app.route('/metrics', metricsRoutes(deps));
  app.route('/v1/ops', opsRoutes(deps));
  app.route('/v1/care-circles', careCircleRoutes(deps));
  app.route('/v1/care-circles', circleNotificationRoutes(deps));
  app.route('/v1/appointments', appointmentRoutes(deps));
  app.route('/v1/shifts', shiftRoutes(deps));
  app.route('/v1/medications', medicationRoutes(deps));
  app.route('/v1/members', memberRoutes(deps));
  app.route('/v1/patients', patientRoutes(deps));
  app.route('/v1/notifications', notificationRoutes(deps));
  app.route('/v1/dead-letters', deadLetterRoutes(deps));
  if (deps.devOutbox) app.route('/v1/dev/outbox', devOutboxRoutes(deps));
  mountDocs(app);

  const allowedMethods = allowedMethodsOf(app);
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    if (allowed.length === 0) {
      return problemResponse(
        c,
        new ProblemError(404, 'not-found', 'Not found', `No route for ${c.req.method} ${c.req.path}`),
      );
    }
    c.header('Allow', allowed.join(', '));
    return problemResponse(
      c,
      new ProblemError(
        405,
        'method-not-allowed',
        'Method not allowed',
        `${c.req.path} takes ${allowed.join(', ')}, not ${c.req.method}`,
      ),
    );
  });
  app.onError((err, c) => {
    const { problem, cause } = problemOf(err);
    // The client reads only the problem; operators need what Temporal or the database said.
    if (cause !== undefined) onError(cause);
    return problemResponse(c, problem);
  });
  return app;
}

/**
 * An app whose handlers never run: what the OpenAPI document, the docs page and the client
 * generator are built from, without a database or Temporal.
 */
export function createDocumentationApp(): Router {
  return createApp({
    prisma: null as never,
    temporal: null as never,
    taskQueue: 'unused',
    devOutbox: true,
    tokens: { issuer: '', audience: '', verify: () => Promise.reject(new Error('documentation only')) },
  });
}
