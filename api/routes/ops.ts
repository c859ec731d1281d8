/**
 * GET /v1/ops/queues: the operator's one-page view. Depth, age, rates and pollers per task queue,
 * deliveries sent and failed in the last 15 minutes, open dead letters, every worker's breakers,
 * in-flight work and memory, and `attention`: what crosses the replaced design's alert thresholds right now.
 * A source that does not answer is reported as such; the rest is still served. Operators only.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { ALERT_THRESHOLDS } from '../../shared/metrics.ts';
import { requireOperator } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import {
  CircuitsSchema,
  DeadLetterSummarySchema,
  notificationRates,
  NotificationRatesSchema,
  opsOptionsFromConfig,
  SourceErrorSchema,
  systemSnapshot,
  TaskQueueStatusSchema,
  WorkerReportSchema,
  workerReports,
  worstCircuits,
  type OpsOptions,
  type QueueTypeStats,
} from '../ops-status.ts';
import { createRouter, jsonResponse, problems, type Router } from '../openapi.ts';

const OpsQueuesSchema = z
  .object({
    generatedAt: z.iso.datetime(),
    namespace: z.string(),
    status: z.enum(['ok', 'attention']),
    attention: z.array(z.string()).openapi({ description: 'What crosses an alert threshold right now' }),
    thresholds: z
      .object({
        backlog: z.number(),
        backlogAgeSeconds: z.number(),
        failureRatio: z.number(),
        deadLetters: z.number(),
        workerMemoryBytes: z.number(),
        processingRateDropRatio: z.number(),
      })
      .openapi('AlertThresholds'),
    taskQueues: z.array(TaskQueueStatusSchema),
    notifications: z.union([NotificationRatesSchema, SourceErrorSchema]),
    deadLetters: z.union([DeadLetterSummarySchema, SourceErrorSchema]),
    circuits: CircuitsSchema,
    workers: z.array(WorkerReportSchema),
  })
  .openapi('OpsQueues');

const queuesRoute = createRoute({
  method: 'get',
  path: '/queues',
  tags: ['Operations'],
  summary: 'Task queues, deliveries, dead letters and workers at a glance (operators)',
  middleware: [requireOperator],
  responses: { 200: jsonResponse(OpsQueuesSchema, 'The current state of the system'), ...problems(403) },
});

export function opsRoutes(deps: ApiDeps, opts: OpsOptions = opsOptionsFromConfig(deps)): Router {
  const app = createRouter();
  app.openapi(queuesRoute, async (c) => {
    const [snapshot, notifications, workers] = await Promise.all([
      systemSnapshot(deps, opts.taskQueues),
      notificationRates(deps.prisma).catch((err: unknown) => ({ error: (err as Error).message })),
      workerReports(opts.workerStatusUrls),
    ]);
    const circuits = worstCircuits(workers);

    const attention: string[] = [];
    for (const q of snapshot.taskQueues) {
      for (const type of ['workflow', 'activity'] as const) {
        const s = q[type];
        if ('error' in s) {
          attention.push(`${q.name} (${type}): Temporal did not describe it: ${s.error}`);
          continue;
        }
        const stats: QueueTypeStats = s;
        if (stats.backlog > ALERT_THRESHOLDS.backlog) {
          attention.push(`${q.name} (${type}): backlog ${stats.backlog} > ${ALERT_THRESHOLDS.backlog}`);
        }
        if (stats.backlogAgeSeconds > ALERT_THRESHOLDS.backlogAgeSeconds) {
          attention.push(
            `${q.name} (${type}): oldest task waited ${Math.round(stats.backlogAgeSeconds)} s > ${ALERT_THRESHOLDS.backlogAgeSeconds} s`,
          );
        }
      }
    }
    if ('error' in snapshot.deadLetters) attention.push(`dead letters unknown: ${snapshot.deadLetters.error}`);
    else if (snapshot.deadLetters.open > ALERT_THRESHOLDS.deadLetters) {
      attention.push(`${snapshot.deadLetters.open} open dead letter(s)`);
    }
    if ('error' in notifications) attention.push(`delivery counts unknown: ${notifications.error}`);
    else if (notifications.failureRatio > ALERT_THRESHOLDS.failureRatio) {
      attention.push(
        `${(notifications.failureRatio * 100).toFixed(1)} % of deliveries failed in the last ${notifications.windowMinutes} min`,
      );
    }
    for (const [provider, state] of Object.entries(circuits)) {
      if (state !== 'closed') attention.push(`circuit ${provider} is ${state}`);
    }
    for (const w of workers) {
      if (!w.reachable) attention.push(`worker ${w.url} unreachable: ${w.error ?? 'no answer'}`);
      else if ((w.status?.memory.rssBytes ?? 0) > ALERT_THRESHOLDS.workerMemoryBytes) {
        attention.push(`worker ${w.url} uses ${Math.round((w.status?.memory.rssBytes ?? 0) / 2 ** 20)} MiB`);
      }
    }

    return c.json(
      {
        generatedAt: new Date().toISOString(),
        namespace: deps.temporal.options.namespace,
        status: attention.length === 0 ? ('ok' as const) : ('attention' as const),
        attention,
        thresholds: ALERT_THRESHOLDS,
        taskQueues: snapshot.taskQueues,
        notifications,
        deadLetters: snapshot.deadLetters,
        circuits,
        workers,
      },
      200,
    );
  });
  return app;
}
