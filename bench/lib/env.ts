/**
 * What a benchmark scenario needs, started in temporary folders on free ports (never the default
 * ones, so a developer's `npm start` and other engineers' tests are left alone):
 *
 * - PostgreSQL: the server DATABASE_URL names, else an embedded one (dev/embedded-postgres.ts), once
 *   per run; each scenario gets a scratch database (dev/scratch-database.ts), migrated and dropped after.
 * - The Temporal CLI dev server (dev/temporal-dev-server.ts) with its SQLite file and the production
 *   pragmas (WAL, synchronous=FULL), one per scenario.
 * - The fake provider server (test/fakes/provider-server.ts) with a fixed latency.
 * - The project's own processes as child processes, as `npm start` runs them: the API
 *   (api/main.ts) and the benchmark worker (bench/worker.ts: the production builder and activities).
 *   The API runs with NODE_ENV=production, which refuses the local development key: each API
 *   process gets a signing key of its own, and `ApiProcess.token()` signs bearer tokens with it.
 *
 * Everything started is stopped by `Stack.close()`, in reverse order, by process id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { freePort } from '../../shared/free-port.ts';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startEmbeddedPostgres } from '../../dev/embedded-postgres.ts';
import { startTemporalDevServer } from '../../dev/temporal-dev-server.ts';
import { signDevToken, type TokenRequest } from '../../shared/auth-tokens.ts';
import { loadConfig, projectRoot } from '../../shared/config.ts';
import type { PrismaClient } from '../../shared/db.ts';
import { createScratchDatabaseWithClient } from '../../dev/scratch-database.ts';
import { searchAttributeDefinitions } from '../../shared/search-attributes.ts';
import { startFakeProviders, type FakeProviders } from '../../test/fakes/provider-server.ts';
import { workflowsPath } from '../../workers/build.ts';
import { workerInterceptors } from '../../workers/observability.ts';

export const NAMESPACE = 'default';
export const RESEND_API_KEY = 're_bench_key';

export type Log = (message: string) => void;

/** Things to stop, in reverse order of starting. */
export class Stack {
  private readonly items: { name: string; stop: () => Promise<void> }[] = [];
  push(name: string, stop: () => Promise<void>): void {
    this.items.push({ name, stop });
  }
  async close(log: Log = () => {}): Promise<void> {
    for (const item of this.items.reverse()) {
      try {
        await item.stop();
      } catch (err) {
        log(`could not stop ${item.name}: ${(err as Error).message}`);
      }
    }
    this.items.length = 0;
  }
}

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `carecircle-bench-${prefix}-`));
}

/** Resident set size of a process, from /proc (Linux), else `ps`. */
export function rssBytes(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // not Linux, or the process is gone
  }
  return 0;
}

/** CPU time (user + system) a process has used so far, in seconds (Linux; 0 elsewhere). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}
const CLOCK_TICKS_PER_SECOND = 100;

// ---- PostgreSQL ------------------------------------------------------------------------------

export interface PostgresServer {
  adminUrl: string;
  kind: 'DATABASE_URL' | 'embedded';
  stop(): Promise<void>;
}

export async function startPostgres(dir: string, log: Log): Promise<PostgresServer> {
  const configured = process.env.DATABASE_URL?.trim();
  if (configured) return { adminUrl: configured, kind: 'DATABASE_URL', stop: async () => {} };
  const port = await freePort();
  log(`starting embedded PostgreSQL on 127.0.0.1:${port}`);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port });
  return { adminUrl: server.url, kind: 'embedded', stop: server.stop };
}

export interface ScratchDatabase {
  url: string;
  prisma: PrismaClient;
  drop(): Promise<void>;
}

export function createScratchDatabase(adminUrl: string): Promise<ScratchDatabase> {
  return createScratchDatabaseWithClient(adminUrl, 'carecircle_bench');
}

// ---- Temporal --------------------------------------------------------------------------------

export interface TemporalServer {
  address: string;
  /** The dev server's process id (for its memory). */
  pid: number;
  client: Client;
  connection: Connection;
  stop(): Promise<void>;
}

export async function startTemporal(dir: string): Promise<TemporalServer> {
  const dataDir = path.join(dir, 'temporal');
  const server = await startTemporalDevServer({
    dataDir,
    port: await freePort(),
    uiPort: await freePort(),
    namespace: NAMESPACE,
    searchAttributes: searchAttributeDefinitions,
  });
  // The pid file records the server's identity (dev/leftovers.ts): `{ server: { pid, … }, … }`.
  const record = JSON.parse(fs.readFileSync(path.join(dataDir, 'temporal.pid'), 'utf8')) as { server: { pid: number } };
  const pid = record.server.pid;
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: NAMESPACE });
  return {
    address: server.address,
    pid,
    client,
    connection,
    async stop() {
      await connection.close();
      await server.stop();
    },
  };
}

// ---- Fake providers --------------------------------------------------------------------------

export async function startFakes(latencyMs: number): Promise<FakeProviders> {
  const fake = await startFakeProviders({ resend: { apiKey: RESEND_API_KEY }, latency: latencyMs });
  return fake;
}

/**
 * Forgets what the fake received (between phases of a scenario), keeping its latency and, if
 * given, its limit of calls handled at once.
 */
export function resetFakes(fake: FakeProviders, latencyMs: number, maxConcurrent?: number): void {
  fake.reset();
  fake.setLatency({ minMs: latencyMs, maxMs: latencyMs });
  fake.setMaxConcurrent(maxConcurrent);
}

/**
 * What every scenario stands on: a scratch database, a Temporal dev server and the fake providers,
 * started side by side and each stopped by `stack` when the scenario ends; and the settings that
 * point the project's processes at them.
 */
export async function startScenarioServices(
  stack: Stack,
  dir: string,
  opts: { pgAdminUrl: string; providerLatencyMs: number; emailRatePerMinute: number; tuning: WorkerTuning },
): Promise<{ db: ScratchDatabase; temporal: TemporalServer; fake: FakeProviders; settings: ServiceSettings }> {
  const [db, temporal, fake] = await Promise.all([
    createScratchDatabase(opts.pgAdminUrl),
    startTemporal(dir),
    startFakes(opts.providerLatencyMs),
  ]);
  stack.push('database', db.drop);
  stack.push('Temporal dev server', temporal.stop);
  stack.push('fake providers', fake.close);
  const settings: ServiceSettings = {
    databaseUrl: db.url,
    temporalAddress: temporal.address,
    resendBaseUrl: fake.resend.baseUrl,
    emailRatePerMinute: opts.emailRatePerMinute,
    pushLatencyMs: opts.providerLatencyMs,
    tuning: opts.tuning,
    logDir: dir,
  };
  return { db, temporal, fake, settings };
}

// ---- Child processes -------------------------------------------------------------------------

export interface ChildHandle {
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Config keys a child must not inherit from the shell that runs the benchmark. */
const INHERITED_KEYS_TO_DROP = [
  'DATABASE_URL',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_API_KEY',
  'FIREBASE_SERVICE_ACCOUNT',
  'RESEND_API_KEY',
  'RESEND_BASE_URL',
  'CLOUDINARY_URL',
  'WORKER_QUEUES',
  'API_PORT',
  'WORKER_METRICS_PORT',
  // The API's token settings are its own (startApi), and so are its rate limits.
  'AUTH_JWT_SECRET',
  'AUTH_JWT_PUBLIC_KEY',
  'AUTH_ISSUER',
  'AUTH_AUDIENCE',
  'RATE_LIMIT_PER_USER_PER_MINUTE',
  'RATE_LIMIT_PER_IP_PER_MINUTE',
  'VITEST',
  'VITEST_POOL_ID',
  'VITEST_WORKER_ID',
];

export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of INHERITED_KEYS_TO_DROP) delete env[key];
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs a TypeScript entry point of this project in its own Node process, output to `logFile`. */
export function spawnProjectProcess(
  entry: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  nodeArgs: string[] = [],
): ChildHandle {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(projectRoot, entry)], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${entry}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    pid: child.pid,
    child,
    logFile,
    async stop(timeoutMs = 15_000) {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

/** Polls `url` until it answers 2xx; fails early if the process exits. */
export async function waitForHttp(url: string, handle: ChildHandle, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (handle.child.exitCode !== null || handle.child.signalCode !== null) {
      throw new Error(`process exited before ${url} answered. Its output:\n${tail(handle.logFile)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${url} not ready after ${timeoutMs / 1000} s. Output:\n${tail(handle.logFile)}`);
    }
    await delay(200);
  }
}

// ---- The project's processes -----------------------------------------------------------------

/** Worker settings a run may tune; undefined = the production default. */
export interface WorkerTuning {
  /** Per worker (one per task queue); SDK default ≈ 600 per GiB of heap limit. */
  maxCachedWorkflows?: number;
  /** SDK default: true. */
  reuseV8Context?: boolean;
  /** MEDICATION_CONCURRENCY: activities at once on the medication queue (production default 5). */
  medicationConcurrency?: number;
  /** NOTIFICATIONS_CONCURRENCY (default 10). */
  notificationsConcurrency?: number;
  /** EMAIL_CONCURRENCY (default 10). */
  emailConcurrency?: number;
  /** WORKER_QUEUES: the workloads the worker process serves (production default: all). */
  workerQueues?: string;
  /**
   * Give the worker a workflow bundle built beforehand (by this process), instead of bundling at
   * start-up as workers/main.ts does: no webpack in the worker process.
   */
  prebuiltBundle?: boolean;
  /** glibc's MALLOC_ARENA_MAX for the worker process (unset: 2, as `npm start` and the image set it). */
  mallocArenaMax?: number;
  /**
   * Modules evaluated once per V8 context and shared by its workflows (the bundler's
   * `preloadModules`), instead of once per workflow; implies a prebuilt bundle.
   */
  preloadModules?: string[];
  /** maxConcurrentWorkflowTaskExecutions of every worker (the builder: min(10, concurrency)). */
  workflowTaskSlots?: number;
  /** workflowThreadPoolSize (SDK default with reuseV8Context: 1 thread per worker). */
  workflowThreads?: number;
  /**
   * Worker processes (docker-compose runs two) in the scenarios that process work (burst, api,
   * fan-out); the scale scenario measures one.
   */
  replicas?: number;
}

export interface ServiceSettings {
  databaseUrl: string;
  temporalAddress: string;
  resendBaseUrl: string;
  /** EMAIL_RATE_LIMIT_PER_MINUTE given to the worker. */
  emailRatePerMinute: number;
  /** Latency of the FCM stub inside the worker. */
  pushLatencyMs: number;
  tuning: WorkerTuning;
  logDir: string;
}

function serviceEnv(s: ServiceSettings, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const num = (v: number | undefined) => (v === undefined ? undefined : String(v));
  return childEnv({
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    LOG_FORMAT: 'json',
    DATA_DIR: s.logDir,
    DATABASE_URL: s.databaseUrl,
    TEMPORAL_ADDRESS: s.temporalAddress,
    TEMPORAL_NAMESPACE: NAMESPACE,
    RESEND_API_KEY,
    RESEND_BASE_URL: s.resendBaseUrl,
    SCHEDULES_ENABLED: 'false',
    EMAIL_RATE_LIMIT_PER_MINUTE: String(s.emailRatePerMinute),
    MEDICATION_CONCURRENCY: num(s.tuning.medicationConcurrency),
    NOTIFICATIONS_CONCURRENCY: num(s.tuning.notificationsConcurrency),
    EMAIL_CONCURRENCY: num(s.tuning.emailConcurrency),
    WORKER_QUEUES: s.tuning.workerQueues,
    ...extra,
  });
}

const bundleFiles = new Map<string, string>();

/** The production workflow bundle (workflows + observability interceptors), built once per run. */
async function prebuiltBundlePath(preloadModules: string[] = []): Promise<string> {
  const key = preloadModules.join(',');
  const existing = bundleFiles.get(key);
  if (existing) return existing;
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: workerInterceptors().workflowModules ?? [],
    preloadModules,
    logger: { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error: (m: string) => console.error(m) },
  });
  const file = path.join(os.tmpdir(), `carecircle-bench-bundle-${process.pid}-${bundleFiles.size}.js`);
  fs.writeFileSync(file, code);
  process.once('exit', () => fs.rmSync(file, { force: true }));
  bundleFiles.set(key, file);
  return file;
}

export interface WorkerStatusMemory {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
}

export interface WorkerProcess extends ChildHandle {
  statusUrl: string;
  memory(): Promise<WorkerStatusMemory>;
  /** The worker's Prometheus text (our metrics and the SDK's). */
  metrics(): Promise<string>;
}

/**
 * Means of Prometheus histograms (`<name>_sum` / `<name>_count`), summed over label sets, per value of
 * `by` (e.g. activity_type); '' when the series has no such label. Unit: the metric's (seconds).
 */
export function histogramMeans(text: string, name: string, by?: string): Record<string, number> {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}_(sum|count)(\\{[^}]*\\})? ([0-9.e+-]+)$`).exec(line);
    if (!match) continue;
    const key = by ? (new RegExp(`${by}="([^"]*)"`).exec(match[2] ?? '')?.[1] ?? '') : '';
    const entry = sums.get(key) ?? { sum: 0, count: 0 };
    entry[match[1] as 'sum' | 'count'] += Number(match[3]);
    sums.set(key, entry);
  }
  return Object.fromEntries([...sums].map(([k, v]) => [k, v.count ? v.sum / v.count : 0]));
}

/** Sum of a counter or gauge over its label sets. */
export function metricTotal(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.e+-]+)$`).exec(line);
    if (match) total += Number(match[2]);
  }
  return total;
}

export async function startWorker(
  s: ServiceSettings,
  opts: { mode: 'app' | 'bare'; bareTaskQueue?: string; name?: string; notificationsRunWorkflows?: boolean },
): Promise<WorkerProcess> {
  const port = await freePort();
  const env = serviceEnv(s, {
    WORKER_METRICS_HOST: '127.0.0.1',
    WORKER_METRICS_PORT: String(port),
    BENCH_WORKER_MODE: opts.mode,
    BENCH_BARE_TASK_QUEUE: opts.bareTaskQueue,
    BENCH_PUSH_LATENCY_MS: String(s.pushLatencyMs),
    BENCH_NOTIFICATIONS_RUN_WORKFLOWS: opts.notificationsRunWorkflows ? 'true' : undefined,
    // As `npm start` and the image run the worker, unless the run tunes it.
    MALLOC_ARENA_MAX: String(s.tuning.mallocArenaMax ?? 2),
    BENCH_WORKFLOW_BUNDLE:
      (s.tuning.prebuiltBundle || s.tuning.preloadModules?.length) && opts.mode === 'app'
        ? await prebuiltBundlePath(s.tuning.preloadModules)
        : undefined,
    WORKER_WORKFLOW_TASK_SLOTS:
      s.tuning.workflowTaskSlots === undefined ? undefined : String(s.tuning.workflowTaskSlots),
    BENCH_WORKFLOW_THREADS: s.tuning.workflowThreads === undefined ? undefined : String(s.tuning.workflowThreads),
    WORKER_MAX_CACHED_WORKFLOWS:
      s.tuning.maxCachedWorkflows === undefined ? undefined : String(s.tuning.maxCachedWorkflows),
    BENCH_REUSE_V8_CONTEXT: s.tuning.reuseV8Context === undefined ? undefined : String(s.tuning.reuseV8Context),
  });
  // For profiling by hand, e.g. BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = process.env.BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const handle = spawnProjectProcess(
    'bench/worker.ts',
    env,
    path.join(s.logDir, `${opts.name ?? opts.mode}-worker.log`),
    nodeArgs,
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${base}/ready`, handle, 120_000);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return {
    ...handle,
    statusUrl: `${base}/status`,
    async memory() {
      const res = await fetch(`${base}/status`);
      const body = (await res.json()) as { memory: WorkerStatusMemory };
      return body.memory;
    },
    async metrics() {
      // A wedged worker must not hold the run: its figures are then missing, not awaited.
      return (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    },
  };
}

/** `s.tuning.replicas` worker processes (default one), started side by side. */
export async function startWorkers(
  s: ServiceSettings,
  opts: Parameters<typeof startWorker>[1],
): Promise<WorkerProcess[]> {
  const count = Math.max(1, s.tuning.replicas ?? 1);
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      startWorker(s, { ...opts, name: `${opts.name ?? opts.mode}${count > 1 ? `-${i + 1}` : ''}` }),
    ),
  );
}

/** pids of a group of processes, named `<name>`, `<name>2`, … for CPU accounting. */
export function pidsOf(name: string, handles: { pid: number }[]): Record<string, number> {
  return Object.fromEntries(handles.map((h, i) => [i === 0 ? name : `${name}${i + 1}`, h.pid]));
}

/** The user the benchmarks act as: seed it as a caregiver of the circles they use (seedPatients). */
export const BENCH_USER = 'bench-caregiver';

export interface ApiProcess extends ChildHandle {
  url: string;
  /** A bearer token this API accepts (signed with its key; valid for a day). */
  token(userId?: string, opts?: Omit<TokenRequest, 'userId'>): Promise<string>;
}

export async function startApi(s: ServiceSettings): Promise<ApiProcess> {
  const port = await freePort();
  const env = serviceEnv(s, {
    API_HOST: '127.0.0.1',
    API_PORT: String(port),
    AUTH_JWT_SECRET: randomBytes(32).toString('base64url'),
    // The benchmarks load the API from one user and one address, far beyond the production limits
    // (300 requests a minute per user, 600 per address): lifted, so that they measure the API's
    // work rather than its 429s.
    RATE_LIMIT_PER_USER_PER_MINUTE: '1000000000',
    RATE_LIMIT_PER_IP_PER_MINUTE: '1000000000',
  });
  // Signed with exactly the API's token settings (signDevToken refuses a production configuration).
  const tokenConfig = loadConfig({
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: env.AUTH_JWT_SECRET,
    AUTH_ISSUER: env.AUTH_ISSUER,
    AUTH_AUDIENCE: env.AUTH_AUDIENCE,
  });
  const handle = spawnProjectProcess('api/main.ts', env, path.join(s.logDir, 'api.log'));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/health`, handle, 60_000);
  } catch (err) {
    await handle.stop();
    throw err;
  }
  return {
    ...handle,
    url,
    token: (userId = BENCH_USER, opts = {}) => signDevToken(tokenConfig, { userId, ttlSeconds: 24 * 3600, ...opts }),
  };
}
