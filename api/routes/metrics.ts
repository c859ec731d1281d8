/**
 * GET /metrics in the Prometheus text format: task-queue backlog, backlog age, rates and pollers
 * (asked of the Temporal server), open dead letters (counted in the database), and this process's
 * own metrics. Activity, breaker and Temporal SDK metrics are on each worker's endpoint. Public (no
 * token), like every Prometheus target; do not expose it beyond the scraper.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { metricsRegistry, systemMetricsRegistry } from '../../shared/metrics.ts';
import type { ApiDeps } from '../deps.ts';
import { opsOptionsFromConfig, systemSnapshot, updateSystemGauges, type OpsOptions } from '../ops-status.ts';
import { createRouter, type Router } from '../openapi.ts';

const metricsRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Service'],
  summary: 'Metrics in the Prometheus text format (no token)',
  security: [],
  responses: {
    200: {
      description: 'Prometheus exposition format 0.0.4',
      content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: z.string() } },
    },
  },
});

export function metricsRoutes(
  deps: ApiDeps,
  opts: Pick<OpsOptions, 'taskQueues'> = opsOptionsFromConfig(deps),
): Router {
  const app = createRouter();
  app.openapi(metricsRoute, async (c) => {
    updateSystemGauges(await systemSnapshot(deps, opts.taskQueues));
    const [process, system] = await Promise.all([metricsRegistry.metrics(), systemMetricsRegistry.metrics()]);
    return c.text(process + system, 200, {
      'Content-Type': metricsRegistry.contentType,
      'Cache-Control': 'no-store',
    });
  });
  return app;
}
