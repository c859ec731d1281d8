/**
 * The worker process of the benchmarks, started by bench/lib/env.ts. It is workers/main.ts (same
 * process lifecycle, builder, activities, interceptors and configuration) with these differences:
 *
 * - Providers: email is the real Resend adapter behind its circuit breaker, exactly as
 *   `createProviders` builds it, pointed at the fake provider server by RESEND_BASE_URL. Push is the
 *   real FCM adapter (also behind its breaker) over the FCM stub of test/fakes/fcm-stub.ts, because
 *   firebase-admin cannot be pointed at a local server; the stub answers after
 *   BENCH_PUSH_LATENCY_MS.
 * - BENCH_WORKER_MODE=bare serves the bare-Temporal baseline (bench/bare.ts) on
 *   BENCH_BARE_TASK_QUEUE instead, built by the same `buildWorker`, with the medication queue's
 *   concurrency; its one activity sends to RESEND_BASE_URL.
 * - BENCH_NOTIFICATIONS_RUN_WORKFLOWS=true makes the notifications queue's worker run workflows
 *   (as test/helpers/care-env.ts does), for the fan-out scenario when the production settings do not.
 * - BENCH_WORKFLOW_BUNDLE: a workflow bundle built beforehand (same modules), instead of bundling
 *   at start-up.
 * - Cache size and workflow-task slots are the production settings WORKER_MEMORY_BUDGET_MB,
 *   WORKER_MAX_CACHED_WORKFLOWS and WORKER_WORKFLOW_TASK_SLOTS; tuning that workers/build.ts does not expose (BENCH_REUSE_V8_CONTEXT,
 *   BENCH_WORKFLOW_THREADS) is added to every Worker.create call of this process.
 */
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { CircuitBreakingPushSender } from '../providers/circuit-breaker.ts';
import { FcmPushSender } from '../providers/fcm-push.ts';
import { createProviders } from '../providers/index.ts';
import { config, requireDatabaseUrl } from '../shared/config.ts';
import { createPrisma } from '../shared/db.ts';
import { taskQueueSettings } from '../shared/task-queues.ts';
import { createFcmStub } from '../test/fakes/fcm-stub.ts';
import { buildWorker, buildWorkers, selectedWorkloads } from '../workers/build.ts';
import { workerInterceptors } from '../workers/observability.ts';
import { medicationReconcilerOf } from '../workers/reconcilers.ts';
import { runWorkerProcess } from '../workers/lifecycle.ts';
import { bareWorkflowsPath, createBareActivities } from './bare.ts';

const cfg = config();
const mode = process.env.BENCH_WORKER_MODE ?? 'app';

const tuning: Partial<WorkerOptions> = {};
if (process.env.BENCH_REUSE_V8_CONTEXT) tuning.reuseV8Context = process.env.BENCH_REUSE_V8_CONTEXT === 'true';
if (process.env.BENCH_WORKFLOW_THREADS) tuning.workflowThreadPoolSize = Number(process.env.BENCH_WORKFLOW_THREADS);
if (Object.keys(tuning).length > 0) {
  // Called on the builder's Worker subclass: `this` must stay that class.
  const create = Worker.create;
  Worker.create = function (this: typeof Worker, options: WorkerOptions) {
    return create.call(this, { ...options, ...tuning });
  };
}

const cachedWorkflows =
  cfg.WORKER_MAX_CACHED_WORKFLOWS === undefined ? {} : { maxCachedWorkflows: cfg.WORKER_MAX_CACHED_WORKFLOWS };

/** webpack's summary is noise in a benchmark log. */
const quietBundler = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  log: () => {},
  warn: (message: string, meta?: object) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: object) => console.error(message, meta ?? ''),
};

const prisma = createPrisma(requireDatabaseUrl(cfg));

await runWorkerProcess({
  name: `bench-${mode}-worker`,
  cfg,
  createWorkers: async ({ connection, shutdownGraceMs }) => {
    if (mode === 'bare') {
      const medication = taskQueueSettings(cfg).medication;
      return buildWorker({
        connection,
        namespace: cfg.TEMPORAL_NAMESPACE,
        settings: { ...medication, name: process.env.BENCH_BARE_TASK_QUEUE ?? 'bench-bare' },
        activities: createBareActivities({
          baseUrl: cfg.RESEND_BASE_URL ?? 'http://127.0.0.1:4010',
          apiKey: cfg.RESEND_API_KEY ?? '',
        }),
        workflowBundle: await bundleWorkflowCode({ workflowsPath: bareWorkflowsPath, logger: quietBundler }),
        shutdownGraceTime: shutdownGraceMs,
        ...cachedWorkflows,
      });
    }
    const fcm = createFcmStub();
    fcm.setLatency(Number(process.env.BENCH_PUSH_LATENCY_MS ?? 50));
    const providers = createProviders(cfg, prisma);
    providers.push = new CircuitBreakingPushSender(new FcmPushSender(fcm), {
      failures: cfg.CIRCUIT_BREAKER_FAILURES,
      openMs: cfg.CIRCUIT_BREAKER_OPEN_MS,
    });
    const temporal = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
    const settings = taskQueueSettings(cfg);
    // The fan-out scenario's stop-gap while the production settings run no workflows there.
    if (process.env.BENCH_NOTIFICATIONS_RUN_WORKFLOWS === 'true') {
      settings.notifications = { ...settings.notifications, runsWorkflows: true };
    }
    return buildWorkers({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      settings,
      workloads: selectedWorkloads(cfg.WORKER_QUEUES),
      ...(process.env.BENCH_WORKFLOW_BUNDLE ? { workflowBundle: { codePath: process.env.BENCH_WORKFLOW_BUNDLE } } : {}),
      activities: createActivities({
        prisma,
        ...providers,
        temporal,
        reconcilers: { medication: medicationReconcilerOf(prisma, cfg) },
      }),
      shutdownGraceTime: shutdownGraceMs,
      interceptors: workerInterceptors(),
      memoryBudgetMb: cfg.WORKER_MEMORY_BUDGET_MB,
      ...cachedWorkflows,
    });
  },
  onStopped: () => prisma.$disconnect(),
});
