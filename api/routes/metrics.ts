import { Hono } from 'hono';
import { metricsRegistry, systemMetricsRegistry } from '../../shared/metrics.ts';
import type { ApiDeps } from '../deps.ts';
import { opsOptionsFromConfig, systemSnapshot, updateSystemGauges, type OpsOptions } from '../ops-status.ts';

/**
 * GET /metrics in the Prometheus text format: task-queue backlog, backlog age, rates and pollers
 * (asked of the Temporal server), open dead letters (counted in the database), and this process's
 * own metrics. Activity, breaker and Temporal SDK metrics are on each worker's endpoint.
 */
export function metricsRoutes(deps: ApiDeps, opts: Pick<OpsOptions, 'taskQueues'> = opsOptionsFromConfig(deps)): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    updateSystemGauges(await systemSnapshot(deps, opts.taskQueues));
    const [process, system] = await Promise.all([metricsRegistry.metrics(), systemMetricsRegistry.metrics()]);
    return c.body(process + system, 200, {
      'Content-Type': metricsRegistry.contentType,
      'Cache-Control': 'no-store',
    });
  });
  return app;
}
