/**
 * The HTTP API. It validates, writes to the database and talks to Temporal; the work itself
 * happens in workers.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { isDatabaseUnavailable } from '../shared/db-errors.ts';
import type { ApiDeps } from './deps.ts';
import { idempotency } from './idempotency.ts';
import { ProblemError, problemResponse } from './problem.ts';
import { careCircleRoutes } from './routes/care-circles.ts';
import { deadLetterRoutes } from './routes/dead-letters.ts';
import { devOutboxRoutes } from './routes/dev-outbox.ts';
import { healthRoutes } from './routes/health.ts';
import { medicationRoutes } from './routes/medications.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { memberRoutes, patientRoutes } from './routes/patients.ts';
import { opsRoutes } from './routes/ops.ts';
import { readyRoutes } from './routes/ready.ts';
// Appointments, shifts, circle notifications, documents (issue 4, part B).
import { appointmentRoutes } from './routes/appointments.ts';
import { circleNotificationRoutes } from './routes/circle-notifications.ts';
import { documentRoutes } from './routes/documents.ts';
import { shiftRoutes } from './routes/shifts.ts';

export const MAX_BODY_BYTES = 64 * 1024;

export function createApp(deps: ApiDeps, onError: (err: unknown) => void = () => {}): Hono {
  const app = new Hono();

  // Before the JSON body limit below: documents have their own, larger one (DOCUMENT_MAX_BYTES).
  app.route('/v1/documents', documentRoutes(deps));
  app.use(
    '/v1/*',
    bodyLimit({
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
    }),
  );

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

  app.notFound((c) =>
    problemResponse(c, new ProblemError(404, 'not-found', 'Not found', `No route for ${c.req.method} ${c.req.path}`)),
  );
  app.onError((err, c) => {
    if (err instanceof ProblemError) return problemResponse(c, err);
    if (isDatabaseUnavailable(err)) {
      return problemResponse(
        c,
        new ProblemError(
          503,
          'service-unavailable',
          'Service unavailable',
          'The database is unreachable; retry shortly',
        ),
      );
    }
    onError(err);
    return problemResponse(c, new ProblemError(500, 'internal', 'Internal error', 'Something went wrong on our side'));
  });
  return app;
}
