/**
 * What operators watch, gathered from where it is true: task-queue backlog, its age and rates from
 * the Temporal server (DescribeTaskQueue with report_stats), dead letters and delivery counts from
 * the database, breaker states and in-flight work from each worker's /status. GET /metrics serves
 * the first two as gauges; GET /v1/ops/queues serves all of it as one JSON document.
 */
import dns from 'node:dns/promises';
import net from 'node:net';
import { z } from '@hono/zod-openapi';
import type { Client } from '@temporalio/client';
// A default import: Node's ESM loader sees no named exports in this CommonJS package.
import protos from '@temporalio/proto';
import { config } from '../shared/config.ts';
import type { PrismaClient } from '../shared/db.ts';
import {
  ALERT_THRESHOLDS,
  CIRCUIT_STATES,
  deadLetterGauges,
  taskQueueGauges,
  type CircuitStateName,
} from '../shared/metrics.ts';
import { taskQueueSettings } from '../shared/task-queues.ts';
import type { WorkerStatus } from '../shared/worker-status.ts';

const RPC_TIMEOUT_MS = 2_000;
const WORKER_TIMEOUT_MS = 1_500;
/** Scrapes and operator refreshes within this window share one round of server and database calls. */
const CACHE_MS = 5_000;

const { TaskQueueType, TaskQueueKind } = protos.temporal.api.enums.v1;
const TASK_TYPES = [
  ['workflow', TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
  ['activity', TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY],
] as const;
type TaskType = (typeof TASK_TYPES)[number][0];

export const SourceErrorSchema = z
  .object({ error: z.string() })
  .openapi('SourceError', { description: 'This source did not answer; the rest of the report is still served' });

export const QueueTypeStatsSchema = z
  .object({
    backlog: z.number().int().openapi({
      description: "Tasks waiting (the server's approximate count; converges, may briefly count expired tasks)",
    }),
    backlogAgeSeconds: z
      .number()
      .openapi({ description: 'Age of the oldest waiting task, in seconds (0 when nothing waits)' }),
    addRatePerSecond: z.number(),
    dispatchRatePerSecond: z.number(),
    pollers: z
      .number()
      .int()
      .openapi({ description: 'Pollers the server saw recently: each worker process polls with several' }),
    workerIdentities: z.array(z.string()),
  })
  .openapi('QueueTypeStats');
export type QueueTypeStats = z.infer<typeof QueueTypeStatsSchema>;

export const TaskQueueStatusSchema = z
  .object({
    name: z.string(),
    workflow: z.union([QueueTypeStatsSchema, SourceErrorSchema]),
    activity: z.union([QueueTypeStatsSchema, SourceErrorSchema]),
  })
  .openapi('TaskQueueStatus');
export type TaskQueueStatus = z.infer<typeof TaskQueueStatusSchema>;

export const DeadLetterSummarySchema = z
  .object({
    open: z.number().int(),
    oldestOpenAt: z.iso.datetime().nullable(),
    byKind: z.array(z.object({ kind: z.string(), channel: z.string().nullable(), count: z.number().int() })),
  })
  .openapi('DeadLetterSummary');
export type DeadLetterSummary = z.infer<typeof DeadLetterSummarySchema>;

export const NotificationRatesSchema = z
  .object({
    windowMinutes: z.number().int(),
    sent: z.number().int(),
    sentPerMinute: z.number(),
    deadLettered: z.number().int(),
    failureRatio: z
      .number()
      .openapi({ description: 'Deliveries that failed for good, out of those finished in the window' }),
    pendingOverdue: z
      .number()
      .int()
      .openapi({ description: 'Still pending after the time-in-queue threshold: stuck or starved deliveries' }),
  })
  .openapi('NotificationRates');

const circuitState = z.enum(CIRCUIT_STATES);

/** What a worker's /status says (shared/worker-status.ts). */
export const WorkerStatusSchema = z
  .object({
    status: z.enum(['ok', 'failed']),
    ready: z.boolean(),
    draining: z.boolean(),
    workers: z.array(z.object({ taskQueue: z.string(), state: z.string() })),
    namespace: z.string(),
    inFlightActivities: z.number().int(),
    shutdownGraceMs: z.number(),
    memory: z.object({ rssBytes: z.number(), heapUsedBytes: z.number(), heapTotalBytes: z.number() }),
    circuits: z.record(z.string(), z.object({ state: circuitState, since: z.iso.datetime() })),
    pid: z.number().int(),
    uptimeSeconds: z.number(),
  })
  .openapi('WorkerStatus');

export const WorkerReportSchema = z
  .object({
    url: z.string(),
    reachable: z.boolean(),
    error: z.string().optional(),
    status: WorkerStatusSchema.optional(),
  })
  .openapi('WorkerReport');
export type WorkerReport = z.infer<typeof WorkerReportSchema>;

/** Worst breaker state per provider across workers. */
export const CircuitsSchema = z.record(z.string(), circuitState).openapi('Circuits');

export interface OpsOptions {
  taskQueues: string[];
  workerStatusUrls: string[];
}

/** Defaults from configuration: every queue of shared/task-queues.ts plus MONITORED_TASK_QUEUES. */
export function opsOptionsFromConfig(deps: { taskQueue: string }): OpsOptions {
  const cfg = config();
  const queues = [
    deps.taskQueue,
    ...Object.values(taskQueueSettings(cfg)).map((q) => q.name),
    ...(cfg.MONITORED_TASK_QUEUES ?? []),
  ];
  return {
    taskQueues: [...new Set(queues)],
    workerStatusUrls: cfg.WORKER_STATUS_URLS ?? [`http://127.0.0.1:${cfg.WORKER_METRICS_PORT}`],
  };
}

const toNumber = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

async function describeQueue(
  temporal: Client,
  name: string,
  type: (typeof TASK_TYPES)[number][1],
): Promise<QueueTypeStats> {
  const res = await temporal.connection.withDeadline(Date.now() + RPC_TIMEOUT_MS, () =>
    temporal.workflowService.describeTaskQueue({
      namespace: temporal.options.namespace,
      taskQueue: { name, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: type,
      reportStats: true,
    }),
  );
  const stats = res.stats;
  const age = stats?.approximateBacklogAge;
  return {
    backlog: toNumber(stats?.approximateBacklogCount),
    backlogAgeSeconds: toNumber(age?.seconds) + toNumber(age?.nanos) / 1e9,
    addRatePerSecond: stats?.tasksAddRate ?? 0,
    dispatchRatePerSecond: stats?.tasksDispatchRate ?? 0,
    pollers: res.pollers.length,
    workerIdentities: [...new Set(res.pollers.map((p) => p.identity ?? '').filter(Boolean))].sort(),
  };
}

export async function describeTaskQueues(temporal: Client, names: string[]): Promise<TaskQueueStatus[]> {
  return Promise.all(
    names.map(async (name) => {
      const [workflow, activity] = await Promise.all(
        TASK_TYPES.map(([, type]) =>
          describeQueue(temporal, name, type).catch((err: unknown) => ({ error: (err as Error).message })),
        ),
      );
      return { name, workflow: workflow!, activity: activity! };
    }),
  );
}

export async function deadLetterSummary(prisma: PrismaClient): Promise<DeadLetterSummary> {
  const [totals, groups] = await Promise.all([
    prisma.deadLetter.aggregate({ where: { status: 'open' }, _count: { _all: true }, _min: { createdAt: true } }),
    prisma.deadLetter.groupBy({ by: ['kind', 'channel'], where: { status: 'open' }, _count: { _all: true } }),
  ]);
  return {
    open: totals._count._all,
    oldestOpenAt: totals._min.createdAt?.toISOString() ?? null,
    byKind: groups
      .map((g) => ({ kind: g.kind, channel: g.channel, count: g._count._all }))
      .sort((a, b) => b.count - a.count || a.kind.localeCompare(b.kind)),
  };
}

/** Deliveries in the last `windowMinutes`: the processing rate and the final-failure ratio. */
export async function notificationRates(
  prisma: PrismaClient,
  windowMinutes = 15,
): Promise<z.infer<typeof NotificationRatesSchema>> {
  const since = new Date(Date.now() - windowMinutes * 60_000);
  const overdue = new Date(Date.now() - ALERT_THRESHOLDS.backlogAgeSeconds * 1000);
  const [sent, deadLettered, pendingOverdue] = await Promise.all([
    prisma.notificationLog.count({ where: { status: 'sent', sentAt: { gte: since } } }),
    prisma.deadLetter.count({ where: { createdAt: { gte: since } } }),
    prisma.notificationLog.count({ where: { status: 'pending', createdAt: { lt: overdue } } }),
  ]);
  const finished = sent + deadLettered;
  return {
    windowMinutes,
    sent,
    sentPerMinute: Math.round((sent / windowMinutes) * 100) / 100,
    deadLettered,
    failureRatio: finished === 0 ? 0 : Math.round((deadLettered / finished) * 10_000) / 10_000,
    pendingOverdue,
  };
}

/**
 * Each URL's host may stand for several workers (Compose replicas, a Kubernetes headless service):
 * every address it resolves to is asked separately.
 */
export async function workerReports(urls: string[]): Promise<WorkerReport[]> {
  const targets = (
    await Promise.all(
      urls.map(async (raw): Promise<string[]> => {
        let url: URL;
        try {
          url = new URL(raw);
        } catch {
          return [raw];
        }
        const host = url.hostname.replace(/^\[|\]$/g, '');
        if (net.isIP(host) || host === 'localhost') return [url.origin];
        try {
          const addresses = await dns.lookup(host, { all: true });
          return addresses.map((a) => {
            const u = new URL(url.origin);
            u.hostname = a.family === 6 ? `[${a.address}]` : a.address;
            return u.origin;
          });
        } catch {
          return [url.origin];
        }
      }),
    )
  ).flat();
  return Promise.all(
    [...new Set(targets)].map(async (origin): Promise<WorkerReport> => {
      try {
        const res = await fetch(`${origin}/status`, { signal: AbortSignal.timeout(WORKER_TIMEOUT_MS) });
        if (!res.ok) return { url: origin, reachable: false, error: `HTTP ${res.status}` };
        return { url: origin, reachable: true, status: (await res.json()) as WorkerStatus };
      } catch (err) {
        return { url: origin, reachable: false, error: (err as Error).message };
      }
    }),
  );
}

/** Worst state per provider across workers: one open breaker is what an operator needs to see. */
export function worstCircuits(reports: WorkerReport[]): z.infer<typeof CircuitsSchema> {
  const severity: Record<CircuitStateName, number> = { closed: 0, half_open: 1, isolated: 2, open: 3 };
  const out: Record<string, CircuitStateName> = {};
  for (const r of reports) {
    for (const [provider, c] of Object.entries(r.status?.circuits ?? {})) {
      if (!CIRCUIT_STATES.includes(c.state)) continue;
      const current = out[provider];
      if (!current || severity[c.state] > severity[current]) out[provider] = c.state;
    }
  }
  return out;
}

interface SystemSnapshot {
  taskQueues: TaskQueueStatus[];
  deadLetters: DeadLetterSummary | { error: string };
}

const cache = new WeakMap<object, { at: number; value: Promise<SystemSnapshot> }>();

/** Queue stats and dead letters, shared by /metrics and /v1/ops/queues for CACHE_MS. */
export function systemSnapshot(
  deps: { prisma: PrismaClient; temporal: Client },
  taskQueues: string[],
): Promise<SystemSnapshot> {
  const hit = cache.get(deps);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.value;
  const value = Promise.all([
    describeTaskQueues(deps.temporal, taskQueues),
    deadLetterSummary(deps.prisma).catch((err: unknown) => ({ error: (err as Error).message })),
  ]).then(([queues, deadLetters]) => ({ taskQueues: queues, deadLetters }));
  cache.set(deps, { at: Date.now(), value });
  return value;
}

/** Bypasses the cache (tests that change state between two reads). */
export function clearSystemSnapshot(deps: object): void {
  cache.delete(deps);
}

/** Writes a snapshot into the gauges of systemMetricsRegistry (replacing the previous scrape's series). */
export function updateSystemGauges(snapshot: SystemSnapshot): void {
  for (const gauge of Object.values(taskQueueGauges)) gauge.reset();
  for (const q of snapshot.taskQueues) {
    for (const [taskType] of TASK_TYPES) {
      const labels = { task_queue: q.name, task_type: taskType };
      const s = q[taskType as TaskType];
      if ('error' in s) {
        taskQueueGauges.up.set(labels, 0);
        continue;
      }
      taskQueueGauges.up.set(labels, 1);
      taskQueueGauges.backlog.set(labels, s.backlog);
      taskQueueGauges.backlogAge.set(labels, s.backlogAgeSeconds);
      taskQueueGauges.addRate.set(labels, s.addRatePerSecond);
      taskQueueGauges.dispatchRate.set(labels, s.dispatchRatePerSecond);
      taskQueueGauges.pollers.set(labels, s.pollers);
    }
  }
  if ('error' in snapshot.deadLetters) {
    // The last known values stay; the up gauge says they are stale (an alert watches it).
    deadLetterGauges.up.set(0);
    return;
  }
  deadLetterGauges.up.set(1);
  deadLetterGauges.openByKind.reset();
  const dl = snapshot.deadLetters;
  deadLetterGauges.open.set(dl.open);
  deadLetterGauges.oldestAge.set(dl.oldestOpenAt ? (Date.now() - Date.parse(dl.oldestOpenAt)) / 1000 : 0);
  for (const g of dl.byKind) deadLetterGauges.openByKind.set({ kind: g.kind, channel: g.channel ?? 'none' }, g.count);
}
