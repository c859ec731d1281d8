/**
 * Worker process: one Temporal worker per workload it serves (WORKER_QUEUES, built by
 * workers/build.ts), polling until SIGINT/SIGTERM; then it hands armed doses that wait for their
 * instant to another worker at once, stops polling, lets other in-flight activities finish for
 * WORKER_SHUTDOWN_GRACE (past it they are cancelled and retried elsewhere) and exits 0.
 * Metrics, health and readiness on WORKER_METRICS_PORT; the process lifecycle is workers/lifecycle.ts.
 */
// First: tracing starts before the modules it instruments load.
import { tracing } from './start-tracing.ts';
import { Client } from '@temporalio/client';
import { createActivities } from '../activities/index.ts';
import { createProviders } from '../providers/index.ts';
import { config, requireDatabaseUrl } from '../shared/config.ts';
import { createPrisma } from '../shared/db.ts';
import { taskQueueSettings } from '../shared/task-queues.ts';
import { buildWorkers, prebuiltWorkflowBundle, selectedWorkloads } from './build.ts';
import { reconcilers } from './reconcilers.ts';
import { ensureSchedules } from './schedules.ts';
import { workerInterceptors } from './observability.ts';
import { runWorkerProcess } from './lifecycle.ts';
import { tracingSinks, withTracing } from './tracing.ts';
import { tracingClientInterceptors } from '../shared/tracing.ts';

const cfg = config();
const prisma = createPrisma(requireDatabaseUrl(cfg));

await runWorkerProcess({
  name: 'worker',
  cfg,
  createWorkers: async ({ connection, shutdownGraceMs, logger, draining }) => {
    const workloads = selectedWorkloads(cfg.WORKER_QUEUES);
    // The reconciliation (maintenance queue) starts workflows, so activities get a client too.
    const temporal = new Client({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      interceptors: tracingClientInterceptors(),
    });
    const workflowBundle = prebuiltWorkflowBundle();
    const workers = await buildWorkers({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      settings: taskQueueSettings(cfg),
      workloads,
      activities: createActivities({
        prisma,
        ...createProviders(cfg, prisma),
        temporal,
        // Stopping hands armed doses that wait for their instant to another worker at once.
        draining,
        reconcilers: reconcilers(prisma, cfg),
      }),
      shutdownGraceTime: shutdownGraceMs,
      interceptors: withTracing(workerInterceptors()),
      sinks: tracingSinks(tracing),
      memoryBudgetMb: cfg.WORKER_MEMORY_BUDGET_MB,
      ...(workflowBundle ? { workflowBundle } : {}),
      ...(cfg.WORKER_MAX_CACHED_WORKFLOWS !== undefined ? { maxCachedWorkflows: cfg.WORKER_MAX_CACHED_WORKFLOWS } : {}),
    });
    if (workloads.includes('maintenance') && cfg.SCHEDULES_ENABLED) {
      logger.info({ schedules: await ensureSchedules(temporal, cfg) }, 'schedules ensured');
    }
    return workers;
  },
  onStopped: async () => {
    await prisma.$disconnect();
    await tracing.shutdown();
  },
});
