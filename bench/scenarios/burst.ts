/**
 * Burst: N medication doses due at the same instant (by default N = 1,000, then 5,000), side by
 * side with baselines on the same machine, in one run per N (fresh servers for each N).
 *
 * Every system meets the same provider: the fake answers each call after the same latency (50 ms)
 * and handles at most `providerConcurrency` (20) calls at once, the rest waiting their turn, so no
 * system can be faster than the provider floor, N × latency ÷ concurrency.
 *
 * 1. `carecircle`: N medications created through the API (POST /v1/medications, a `once` dose at a
 *    whole minute ahead), run by the production worker processes; each dose emails its patient
 *    through the Resend adapter.
 * 2. `carecircle-killed`: the same, and one of the worker processes is SIGKILLed at the due instant
 *    (the others carry on; nothing restarts it). Lateness then includes what recovery costs.
 * 3. `bare-temporal`, on the same dev server: one workflow per dose, a timer to its instant and one
 *    activity that sends to the provider (bench/bare.ts). The engine's minimal path.
 * 4. `bullmq` on the local Redis: the replaced design (bench/bullmq/), delayed jobs, same database
 *    work, same Resend adapter, the replaced design's concurrency (10 provider calls at once).
 * 5. `bullmq-at-20`: the same with as many provider calls at once as the provider takes (its
 *    notification worker's concurrency raised to `providerConcurrency`); nothing else changes.
 * BullMQ is skipped (and said so) when Redis is unreachable.
 *
 * Lateness = time the provider took the call − due time; drain = due → last provider call.
 * Exactly-once is checked from the fake provider's log: one accepted email per dose, under the
 * dose's dedupe key. Each system has a deadline (the killed one a minute more, for its recovery);
 * past it the run goes on with what arrived and reports the doses lost (with their notification
 * rows' status), those sent twice, and provider calls never answered.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { FakeProviders } from '../../test/fakes/provider-server.ts';
import type { BareDoseInput } from '../bare.ts';
import {
  QUEUES,
  REDIS_URL_DEFAULT,
  REMINDER_JOB_OPTIONS,
  jobIdFor,
  redisOptions,
  type ReminderJob,
} from '../bullmq/seed-design.ts';
import { freePort } from '../../shared/free-port.ts';
import {
  type ApiProcess,
  BENCH_USER,
  childEnv,
  cpuSeconds,
  histogramMeans,
  type Log,
  makeTempDir,
  metricTotal,
  pidsOf,
  RESEND_API_KEY,
  resetFakes,
  type ScratchDatabase,
  type ServiceSettings,
  spawnProjectProcess,
  Stack,
  startApi,
  startScenarioServices,
  startWorkers,
  type TemporalServer,
  waitForHttp,
  type WorkerProcess,
  type WorkerTuning,
} from '../lib/env.ts';
import { localMinute, nextMinuteBoundary, seedPatients, type SeededPatient } from '../lib/seed.ts';
import { distribution, mapLimit, round, waitUntil, type Distribution } from '../lib/stats.ts';

export type BurstSystem = 'carecircle' | 'carecircle-killed' | 'bare-temporal' | 'bullmq' | 'bullmq-at-20';
export const BURST_SYSTEMS: BurstSystem[] = [
  'carecircle',
  'carecircle-killed',
  'bare-temporal',
  'bullmq',
  'bullmq-at-20',
];

export interface BurstSystemResult {
  system: BurstSystem;
  n: number;
  dueAt: string;
  /** Time to create / start / enqueue all N (before the due instant). */
  startMs: number;
  startPerSecond: number;
  /** How long before the due instant everything was started. */
  marginMs: number;
  /** Provider receive time − due time, per provider call (ms). */
  lateness: Distribution;
  /** Due → last provider call (ms). */
  drainMs: number;
  /** Doses whose notification the provider accepted exactly once. */
  deliveredOnce: number;
  /** Doses not delivered exactly once (lost + sent twice). */
  missing: number;
  /** Doses the provider never accepted by the deadline. */
  lost: number;
  /** Doses the provider accepted more than once (under their one key). */
  sentTwice: number;
  /** What the lost doses' notification rows said at the deadline, e.g. `{ pending: 3 }`. */
  lostRows?: Record<string, number>;
  /** Provider calls taken in but never answered (a caller that died during the call). */
  unansweredRequests: number;
  /** Requests the provider received, and the emails it accepted (one per idempotency key). */
  providerRequests: number;
  acceptedEmails: number;
  /** Provider requests beyond one per dose (retries; the idempotency key keeps them harmless). */
  extraRequests: number;
  /** CPU seconds each process used from the due instant to the last provider call (+ settle). */
  cpuSeconds: Record<string, number>;
  /** From the worker's /metrics after the burst (Temporal systems): where the time went. */
  worker?: WorkerFigures;
}

export interface WorkerFigures {
  /** Mean time an activity waited in its queue, and ran, per activity type (ms). */
  activityScheduleToStartMs: Record<string, number>;
  activityRunMs: Record<string, number>;
  /** Mean time a workflow task waited, and ran (ms). */
  workflowTaskScheduleToStartMs: number;
  workflowTaskRunMs: number;
  /** Workflow tasks that found their workflow evicted from the cache (full replay). */
  stickyCacheMisses: number;
}

async function workerFigures(workers: WorkerProcess[]): Promise<WorkerFigures> {
  // Histogram sums and counts add up across processes: parse them together.
  const text = (await Promise.all(workers.map((w) => w.metrics().catch(() => '')))).join('\n');
  const ms = (values: Record<string, number>) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, round(v * 1000, 1)]));
  return {
    activityScheduleToStartMs: ms(histogramMeans(text, 'temporal_activity_schedule_to_start_latency', 'activity_type')),
    activityRunMs: ms(histogramMeans(text, 'temporal_activity_execution_latency', 'activity_type')),
    workflowTaskScheduleToStartMs: round(
      (histogramMeans(text, 'temporal_workflow_task_schedule_to_start_latency')[''] ?? 0) * 1000,
      1,
    ),
    workflowTaskRunMs: round((histogramMeans(text, 'temporal_workflow_task_execution_latency')[''] ?? 0) * 1000, 1),
    stickyCacheMisses: metricTotal(text, 'temporal_sticky_cache_miss'),
  };
}

/** One N. */
export interface BurstRun {
  n: number;
  /** N × provider latency ÷ provider concurrency: no system can drain sooner. */
  providerFloorMs: number;
  systems: BurstSystemResult[];
  /** CareCircle's lateness p99 ÷ the others', and ÷ the provider floor; its drain ÷ bare Temporal's. */
  ratios: {
    p99VsBullmq: number | null;
    p99VsBullmqAt20: number | null;
    p99VsBareTemporal: number | null;
    p99VsFloor: number | null;
    drainVsBareTemporal: number | null;
  };
  skipped: { system: BurstSystem; reason: string }[];
}

export interface BurstResult {
  scenario: 'burst';
  providerLatencyMs: number;
  providerConcurrency: number;
  runs: BurstRun[];
}

export interface BurstOptions {
  /** Doses due at once, one run each (fresh servers per run). */
  sizes: number[];
  /** Provider calls the fake handles at once (every system), and BullMQ's second run's concurrency. */
  providerConcurrency: number;
  pgAdminUrl: string;
  providerLatencyMs: number;
  emailRatePerMinute: number;
  tuning: WorkerTuning;
  log: Log;
  systems?: BurstSystem[];
  redisUrl?: string;
  /** Requests in flight while creating medications through the API. */
  createConcurrency?: number;
  /**
   * Doses run through each system first (a minute earlier for CareCircle), so that every system is
   * measured warm (database pools open, queries compiled), as in production. 0: cold.
   */
  warmup?: number;
  /** Least time between starting to create CareCircle's medications and their due minute. */
  leadMs?: number;
}

interface Phase {
  n: number;
  db: ScratchDatabase;
  temporal: TemporalServer;
  fake: FakeProviders;
  settings: ServiceSettings;
  patients: SeededPatient[];
  opts: BurstOptions;
}

const SETTLE_MS = 2_000;

export async function runBurst(opts: BurstOptions): Promise<BurstResult> {
  const runs: BurstRun[] = [];
  for (const n of opts.sizes) runs.push(await runBurstOnce(n, opts));
  return {
    scenario: 'burst',
    providerLatencyMs: opts.providerLatencyMs,
    providerConcurrency: opts.providerConcurrency,
    runs,
  };
}

async function runBurstOnce(n: number, opts: BurstOptions): Promise<BurstRun> {
  const systems = opts.systems ?? BURST_SYSTEMS;
  const dir = makeTempDir('burst');
  const stack = new Stack();
  const results: BurstSystemResult[] = [];
  const skipped: BurstRun['skipped'] = [];
  opts.log(`burst: N = ${n}`);
  try {
    const { db, temporal, fake, settings } = await startScenarioServices(stack, dir, opts);
    // Email only: one provider call per dose, observable at the fake.
    // BENCH_USER is a caregiver of every circle: it creates the medications through the API.
    const patients = await seedPatients(db.prisma, Math.max(1, Math.ceil(n / 10)), {
      channels: ['email'],
      caregiver: BENCH_USER,
    });
    const phase: Phase = { n, db, temporal, fake, settings, patients, opts };

    if (systems.includes('carecircle')) results.push(await burstCareCircle(phase, false));
    if (systems.includes('carecircle-killed')) results.push(await burstCareCircle(phase, true));
    if (systems.includes('bare-temporal')) results.push(await burstBareTemporal(phase));
    const bullmq = systems.filter((s) => s === 'bullmq' || s === 'bullmq-at-20');
    if (bullmq.length > 0) {
      const redisUrl = opts.redisUrl ?? process.env.BENCH_REDIS_URL ?? REDIS_URL_DEFAULT;
      const down = await redisDown(redisUrl);
      for (const system of bullmq) {
        if (down) {
          opts.log(`${system} skipped: Redis at ${redisUrl} is not reachable (${down})`);
          skipped.push({ system, reason: `Redis at ${redisUrl} not reachable: ${down}` });
        } else {
          results.push(await burstBullmq(phase, redisUrl, system));
        }
      }
    }
  } finally {
    await stack.close(opts.log);
    if (process.env.BENCH_KEEP) opts.log(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  const of = (s: BurstSystem) => results.find((r) => r.system === s);
  const ours = of('carecircle');
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? round(a / b, 2) : null);
  const providerFloorMs = (n * opts.providerLatencyMs) / opts.providerConcurrency;
  return {
    n,
    providerFloorMs,
    systems: results,
    ratios: {
      p99VsBullmq: ratio(ours?.lateness.p99, of('bullmq')?.lateness.p99),
      p99VsBullmqAt20: ratio(ours?.lateness.p99, of('bullmq-at-20')?.lateness.p99),
      p99VsBareTemporal: ratio(ours?.lateness.p99, of('bare-temporal')?.lateness.p99),
      p99VsFloor: ratio(ours?.lateness.p99, providerFloorMs),
      drainVsBareTemporal: ratio(ours?.drainMs, of('bare-temporal')?.drainMs),
    },
    skipped,
  };
}

// ---- CareCircle ------------------------------------------------------------------------------

/** Creation through the API has run at 65–150 per second here under load: room for 65. */
const leadForApi = (n: number) => 10_000 + n * 15;

/**
 * A killed worker's doses come back after the heartbeat timeout (15 s) and a 1 s retry, and are
 * sent by the survivors within seconds (docs/medication-schedules.md): a minute is room enough, and
 * past it the run reports what is missing rather than waiting on.
 */
const KILLED_EXTRA_WAIT_MS = 60_000;

/** CareCircle's burst; `kill`: one worker process is SIGKILLed at the due instant (at least two run). */
async function burstCareCircle(p: Phase, kill: boolean): Promise<BurstSystemResult> {
  const { opts, fake, n } = p;
  const system: BurstSystem = kill ? 'carecircle-killed' : 'carecircle';
  const stack = new Stack();
  try {
    const replicas = Math.max(kill ? 2 : 1, p.settings.tuning.replicas ?? 1);
    const [workers, api] = await Promise.all([
      startWorkers({ ...p.settings, tuning: { ...p.settings.tuning, replicas } }, { mode: 'app', name: system }),
      startApi(p.settings),
    ]);
    for (const worker of workers) stack.push('worker', () => worker.stop());
    stack.push('API', () => api.stop());
    resetFakes(fake, opts.providerLatencyMs, opts.providerConcurrency);

    const warmup = opts.warmup ?? 0;
    let due = nextMinuteBoundary(opts.leadMs ?? leadForApi(n));
    // Warm-up doses fire a minute before the measured ones, while those are being created.
    if (warmup > 0 && due - 60_000 < Date.now() + 8_000) due += 60_000;
    if (warmup > 0) {
      opts.log(`${system}: ${warmup} warm-up doses due ${new Date(due - 60_000).toISOString()}`);
      await createThroughApi(api, p.patients, warmup, due - 60_000, 'warm-up', opts.createConcurrency);
    }
    opts.log(`${system}: creating ${n} medications due ${new Date(due).toISOString()} through the API`);
    const t0 = Date.now();
    const keys = await createThroughApi(api, p.patients, n, due, system, opts.createConcurrency);
    const startMs = Date.now() - t0;
    if (warmup > 0) {
      const warmed = await waitUntil(() => fake.resend.sent.length >= warmup, Math.max(0, due - Date.now() - 1_000));
      if (!warmed) opts.log(`${system}: warm-up incomplete (${fake.resend.sent.length}/${warmup})`);
      resetFakes(fake, opts.providerLatencyMs, opts.providerConcurrency);
    }
    const victim = kill ? workers[0] : undefined;
    const killer = victim
      ? setTimeout(
          () => {
            opts.log(`${system}: SIGKILL worker ${victim.pid} at the due instant`);
            victim.child.kill('SIGKILL');
          },
          Math.max(0, due - Date.now()),
        )
      : undefined;
    try {
      const result = await collectProviderCalls(
        p,
        system,
        due,
        startMs,
        keys,
        { ...pidsOf('worker', workers), api: api.pid, temporal: p.temporal.pid, bench: process.pid },
        kill ? KILLED_EXTRA_WAIT_MS : 0,
      );
      return { ...result, worker: await workerFigures(workers.filter((w) => w !== victim)) };
    } finally {
      clearTimeout(killer);
    }
  } finally {
    await stack.close(opts.log);
  }
}

/**
 * Creates `count` medications with a `once` dose at `due` through the API, as BENCH_USER; returns
 * their dedupe keys.
 */
async function createThroughApi(
  api: ApiProcess,
  patients: SeededPatient[],
  count: number,
  due: number,
  label: string,
  concurrency = 20,
): Promise<string[]> {
  const dueIso = new Date(due).toISOString();
  const authorization = `Bearer ${await api.token(BENCH_USER)}`;
  return mapLimit(
    Array.from({ length: count }, (_, i) => patients[i % patients.length]!),
    concurrency,
    async (patient, i) => {
      const res = await fetch(`${api.url}/v1/medications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({
          careCircleId: patient.circleId,
          patientId: patient.patientId,
          name: `${label} medication ${i}`,
          dosage: '1 tablet',
          schedule: { type: 'once', at: localMinute(due, patient.timezone) },
          // The follow-up and caregiver alert stay out of the measurement (and of later phases).
          escalationWindowMinutes: 720,
        }),
      });
      if (res.status !== 201) throw new Error(`POST /v1/medications answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { id: string; nextDoseAt: string };
      if (body.nextDoseAt !== dueIso) throw new Error(`medication due ${body.nextDoseAt}, expected ${dueIso}`);
      return `dose:${body.id}:${dueIso}:${patient.patientId}:email`;
    },
  );
}

/** Waits for every expected email at the fake provider, then measures. */
async function collectProviderCalls(
  p: Phase,
  system: BurstSystem,
  due: number,
  startMs: number,
  expectedKeys: string[],
  pids: Record<string, number>,
  extraWaitMs = 0,
): Promise<BurstSystemResult> {
  const { fake, opts } = p;
  const n = expectedKeys.length;
  const cpu = cpuFrom(due, pids);
  const marginMs = due - Date.now();
  if (marginMs < 0) opts.log(`${system}: WARNING starting took past the due instant by ${-marginMs} ms`);
  opts.log(`${system}: ${n} started in ${(startMs / 1000).toFixed(1)} s; waiting for the due instant`);
  const timeoutMs = Math.max(0, marginMs) + Math.max(120_000, n * 200) + extraWaitMs;
  const expected = new Set(expectedKeys);
  // By key, not by count: emails of other doses, or one dose's twice, must not make up for a lost one.
  const delivered = () =>
    new Set(fake.resend.sent.map((e) => e.idempotencyKey ?? '').filter((k) => expected.has(k))).size;
  let lastProgress = Math.max(Date.now(), due);
  const complete = await waitUntil(
    () => {
      if (Date.now() - lastProgress >= 30_000) {
        lastProgress = Date.now();
        opts.log(`${system}: ${delivered()}/${n} doses at the provider so far`);
      }
      return delivered() >= n;
    },
    timeoutMs,
    100,
  );
  if (!complete)
    opts.log(`${system}: deadline: only ${delivered()}/${n} doses at the provider after ${timeoutMs / 1000} s`);
  await delay(SETTLE_MS); // anything arriving now is a duplicate or a late retry
  const cpuSecondsUsed = cpu.read();
  const arrivals = fake.requests
    .filter((r) => r.provider === 'resend' && r.method === 'POST')
    .map((r) => r.receivedAt.getTime());
  const sentKeys = new Map<string, number>();
  for (const email of fake.resend.sent) {
    sentKeys.set(email.idempotencyKey ?? '', (sentKeys.get(email.idempotencyKey ?? '') ?? 0) + 1);
  }
  const deliveredOnce = expectedKeys.filter((k) => sentKeys.get(k) === 1).length;
  const lostKeys = expectedKeys.filter((k) => !sentKeys.has(k));
  const sentTwice = expectedKeys.filter((k) => (sentKeys.get(k) ?? 0) > 1).length;
  const unansweredRequests = fake.requests.filter((r) => r.provider === 'resend' && r.status === null).length;
  const lostRows = lostKeys.length > 0 ? await rowStatuses(p, lostKeys) : undefined;
  const result: BurstSystemResult = {
    system,
    n,
    dueAt: new Date(due).toISOString(),
    startMs,
    startPerSecond: round(n / (startMs / 1000), 1),
    marginMs,
    lateness: roundDistribution(distribution(arrivals.map((t) => t - due))),
    drainMs: arrivals.length ? Math.max(...arrivals) - due : Number.NaN,
    deliveredOnce,
    missing: n - deliveredOnce,
    lost: lostKeys.length,
    sentTwice,
    ...(lostRows ? { lostRows } : {}),
    unansweredRequests,
    providerRequests: arrivals.length,
    acceptedEmails: fake.resend.sent.length,
    extraRequests: Math.max(0, arrivals.length - n),
    cpuSeconds: cpuSecondsUsed,
  };
  opts.log(
    `${system}: drain ${result.drainMs} ms, lateness p50 ${result.lateness.p50} / p99 ${result.lateness.p99} ms, ` +
      `${deliveredOnce}/${n} delivered exactly once`,
  );
  if (lostKeys.length > 0 || sentTwice > 0 || unansweredRequests > 0) {
    const rows = Object.entries(lostRows ?? {})
      .map(([status, count]) => `${count} ${status}`)
      .join(', ');
    opts.log(
      `${system}: ${lostKeys.length} lost${rows ? ` (their notification rows: ${rows})` : ''}, ${sentTwice} sent twice, ` +
        `${unansweredRequests} provider calls never answered` +
        (lostKeys.length > 0 ? `; first lost: ${lostKeys.slice(0, 3).join(', ')}` : ''),
    );
  }
  return result;
}

/** The notification rows of `keys` by status ('no row' for a dose that never planned one). */
async function rowStatuses(p: Phase, keys: string[]): Promise<Record<string, number>> {
  const rows = await p.db.prisma.notificationLog.findMany({
    where: { dedupeKey: { in: keys } },
    select: { status: true },
  });
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.status] = (counts[row.status] ?? 0) + 1;
  if (rows.length < keys.length) counts['no row'] = keys.length - rows.length;
  return counts;
}

/** CPU seconds used by each process between the due instant (or now, if later) and `read()`. */
function cpuFrom(due: number, pids: Record<string, number>): { read(): Record<string, number> } {
  let start: Record<string, number> | undefined;
  const sample = () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const timer = setTimeout(() => (start = sample()), Math.max(0, due - Date.now()));
  return {
    read() {
      clearTimeout(timer);
      const end = sample();
      const from = start ?? end;
      // A process that died meanwhile reads 0: its figure is lost, not negative.
      return Object.fromEntries(
        Object.entries(end).map(([name, v]) => [name, round(Math.max(0, v - (from[name] ?? v)), 2)]),
      );
    },
  };
}

function roundDistribution(d: Distribution): Distribution {
  return {
    count: d.count,
    min: round(d.min),
    p50: round(d.p50),
    p95: round(d.p95),
    p99: round(d.p99),
    max: round(d.max),
    mean: round(d.mean, 1),
  };
}

// ---- Bare Temporal ---------------------------------------------------------------------------

async function burstBareTemporal(p: Phase): Promise<BurstSystemResult> {
  const { opts, temporal, fake, n } = p;
  const stack = new Stack();
  const taskQueue = `bench-bare-${randomBytes(4).toString('hex')}`;
  const start = (ids: string[], dueAtMs: number) =>
    mapLimit(ids, 50, (workflowId) =>
      temporal.client.workflow.start('bareDoseWorkflow', {
        workflowId,
        taskQueue,
        args: [{ dueAtMs, dedupeKey: workflowId } satisfies BareDoseInput],
      }),
    );
  try {
    const workers = await startWorkers(p.settings, { mode: 'bare', bareTaskQueue: taskQueue });
    for (const worker of workers) stack.push('bare worker', () => worker.stop());
    resetFakes(fake, opts.providerLatencyMs, opts.providerConcurrency);
    const warmup = opts.warmup ?? 0;
    if (warmup > 0) {
      const warmIds = Array.from({ length: warmup }, (_, i) => `${taskQueue}:warm-up:${i}`);
      await start(warmIds, Date.now() + 1_000);
      await mapLimit(warmIds, 50, (id) => temporal.client.workflow.getHandle(id).result());
      resetFakes(fake, opts.providerLatencyMs, opts.providerConcurrency);
    }
    const due = Date.now() + 3_000 + n * 15;
    opts.log(`bare-temporal: starting ${n} workflows due ${new Date(due).toISOString()}`);
    const ids = Array.from({ length: n }, (_, i) => `${taskQueue}:${i}`);
    const t0 = Date.now();
    await start(ids, due);
    const startMs = Date.now() - t0;
    const result = await collectProviderCalls(p, 'bare-temporal', due, startMs, ids, {
      ...pidsOf('worker', workers),
      temporal: temporal.pid,
      bench: process.pid,
    });
    return { ...result, worker: await workerFigures(workers) };
  } finally {
    await stack.close(opts.log);
  }
}

// ---- BullMQ ----------------------------------------------------------------------------------

async function redisDown(url: string): Promise<string | null> {
  const redis = new Redis({
    ...redisOptions(url),
    lazyConnect: true,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    redis.disconnect();
  }
}

async function burstBullmq(p: Phase, redisUrl: string, system: 'bullmq' | 'bullmq-at-20'): Promise<BurstSystemResult> {
  const { opts, fake, db, n } = p;
  const stack = new Stack();
  const prefix = `carecircle-bench-${randomBytes(4).toString('hex')}`;
  const connection = redisOptions(redisUrl);
  const reminders = new Queue<ReminderJob>(QUEUES.reminders, { connection, prefix });
  try {
    stack.push('BullMQ queues', async () => {
      for (const name of Object.values(QUEUES)) {
        const queue = new Queue(name, { connection, prefix });
        await queue.obliterate({ force: true });
        await queue.close();
      }
      await reminders.close();
    });
    const port = await freePort();
    const worker = spawnProjectProcess(
      'bench/bullmq/worker.ts',
      childEnv({
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        BENCH_REDIS_URL: redisUrl,
        BENCH_BULLMQ_PREFIX: prefix,
        BENCH_STATUS_PORT: String(port),
        RESEND_API_KEY,
        RESEND_BASE_URL: fake.resend.baseUrl,
        BENCH_BULLMQ_NOTIFICATIONS_CONCURRENCY:
          system === 'bullmq-at-20' ? String(opts.providerConcurrency) : undefined,
      }),
      path.join(p.settings.logDir, `${system}-worker.log`),
    );
    stack.push('BullMQ worker', () => worker.stop());
    await waitForHttp(`http://127.0.0.1:${port}/ready`, worker, 60_000);

    /** Medication rows as the replaced design's API would have written them (setup, not timed). */
    const createRows = async (count: number, due: number, label: string) => {
      const meds = Array.from({ length: count }, (_, i) => ({
        id: randomUUID(),
        patient: p.patients[i % p.patients.length]!,
      }));
      for (let i = 0; i < meds.length; i += 1000) {
        await db.prisma.medication.createMany({
          data: meds.slice(i, i + 1000).map(({ id, patient }, j) => ({
            id,
            careCircleId: patient.circleId,
            patientId: patient.patientId,
            name: `${label} medication (BullMQ) ${i + j}`,
            dosage: '1 tablet',
            schedule: { type: 'once', at: localMinute(due, patient.timezone), timezone: patient.timezone },
            workflowId: `bullmq:${id}`,
          })),
        });
      }
      return meds;
    };
    const enqueue = async (meds: { id: string }[], due: number) => {
      const dueIso = new Date(due).toISOString();
      for (let i = 0; i < meds.length; i += 500) {
        await reminders.addBulk(
          meds.slice(i, i + 500).map(({ id }) => ({
            name: 'medication-reminder',
            data: { medicationId: id, doseAt: dueIso },
            opts: {
              ...REMINDER_JOB_OPTIONS,
              delay: Math.max(0, due - Date.now()),
              jobId: jobIdFor(`dose:${id}:${dueIso}`),
            },
          })),
        );
      }
    };

    const warmup = opts.warmup ?? 0;
    if (warmup > 0) {
      const warmDue = Date.now();
      await enqueue(await createRows(warmup, warmDue, 'warm-up'), warmDue);
      await waitUntil(() => fake.resend.sent.length >= warmup, 60_000);
    }
    resetFakes(fake, opts.providerLatencyMs, opts.providerConcurrency);

    // The rows' schedules only document the dose; the delayed jobs carry the instant.
    const meds = await createRows(n, Date.now() + 60_000, system);
    const due = Date.now() + 2_000 + n * 2;
    const dueIso = new Date(due).toISOString();
    opts.log(`${system}: enqueuing ${n} delayed jobs due ${dueIso}`);
    const t0 = Date.now();
    await enqueue(meds, due);
    const startMs = Date.now() - t0;
    return await collectProviderCalls(
      p,
      system,
      due,
      startMs,
      meds.map(({ id, patient }) => `dose:${id}:${dueIso}:${patient.patientId}:email`),
      { worker: worker.pid, bench: process.pid },
    );
  } finally {
    await stack.close(opts.log);
  }
}
