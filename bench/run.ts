/**
 * `npm run bench`: every scenario at its default size, one after another, on this machine;
 * `npm run bench -- <scenario> [--n N]` for one (burst, api, scale, fanout, replay); the burst takes
 * a list (`--n 1000,5000,10000`; default 1,000 then 5,000) and `--systems` (default all of
 * carecircle, carecircle-killed, bare-temporal, bullmq, bullmq-at-20).
 *
 * Prints a table, merges the results into bench/results/latest.json (a single-scenario run replaces
 * only its own entry), redraws bench/results/latest.svg, and writes bench/results/latest.md. A full
 * default run also refreshes the table in BENCHMARKS.md. Needs nothing but `npm install`: every
 * server is started here on free ports in temporary folders (see bench/lib/env.ts); BullMQ uses the
 * Redis at BENCH_REDIS_URL (default redis://127.0.0.1:6379), skipped if unreachable.
 *
 * Worker tuning (also recorded in the results): --medication-concurrency, --notifications-concurrency,
 * --email-concurrency, --cache (maxCachedWorkflows per worker), --reuse-v8 true|false,
 * --worker-queues (WORKER_QUEUES), --prebuilt true|false (workflow bundle built before the worker
 * starts), --malloc-arena-max N, --workflow-task-slots N, --workflow-threads N, --preload mod1,mod2
 * (bundler preloadModules), --render (redraw results from latest.json, no run), --replicas N (worker processes; default 2, as docker-compose), --email-rate (EMAIL_RATE_LIMIT_PER_MINUTE); --production starts from production's defaults
 * instead of DEFAULT_TUNING; --warmup N (burst: doses run through each system first); --lead S (burst: least
 * seconds between starting to create CareCircle's medications and their due minute, for a machine
 * too busy for the default of 10 s + 15 ms a dose).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { projectRoot } from '../shared/config.ts';
import { renderChart } from './lib/chart.ts';
import { makeTempDir, startPostgres, type PostgresServer, type WorkerTuning } from './lib/env.ts';
import {
  chartPanels,
  formatMarkdown,
  formatText,
  type Machine,
  type Results,
  type RunInfo,
  type ScenarioName,
} from './lib/report.ts';
import { runApi } from './scenarios/api.ts';
import { BURST_SYSTEMS, runBurst, type BurstSystem } from './scenarios/burst.ts';
import { runFanout } from './scenarios/fanout.ts';
import { runReplay } from './scenarios/replay.ts';
import { runScale } from './scenarios/scale.ts';

export const resultsDir = fileURLToPath(new URL('./results', import.meta.url));
const SCENARIOS: ScenarioName[] = ['burst', 'api', 'scale', 'fanout', 'replay'];

/** The defaults of a run. Provider latency is the fake's (email) and the FCM stub's (push). */
export const DEFAULTS = {
  burst: [1_000, 5_000],
  /** Provider calls handled at once, the same for every system of the burst (the provider floor's divisor). */
  providerConcurrency: 20,
  apiRequests: 2_000,
  apiConnections: 50,
  scale: 10_000,
  fanoutMembers: 50,
  replayDays: 365,
  providerLatencyMs: 50,
  /**
   * Resend's quota is a production concern (EMAIL_RATE_LIMIT_PER_MINUTE, default 100): the fake has
   * none, so the bench lifts it, except in the fan-out's second measurement.
   */
  emailRatePerMinute: 1_000_000,
  /** Warm-up doses per system before the burst (costs CareCircle a minute: see burst.ts). */
  burstWarmup: 0,
};

/**
 * Worker settings of a default run, where they differ from production's defaults; BENCHMARKS.md
 * ("Tuning") shows the figures that chose them. `--production` measures production's defaults.
 */
export const DEFAULT_TUNING: WorkerTuning = {
  // Activities of a dose wait on the database and the providers: 5 slots cap a burst at ~25 doses/s.
  medicationConcurrency: 20,
  // ~0.34 MB per cached workflow; the SDK's default here is ~2,300 per worker.
  maxCachedWorkflows: 500,
  // webpack at start-up leaves ~100-200 MB behind in the worker process.
  prebuiltBundle: true,
  // One workflow thread (and V8 isolate) per workflow-running queue: serve the medication path only.
  workerQueues: 'medication,notifications,email',
  // Fewer glibc malloc arenas for the worker's many threads: ~50 MB less RSS once idle.
  mallocArenaMax: 2,
};

/** Both modes run docker-compose's topology: two worker processes (the scale scenario measures one). */
export const REPLICAS = 2;

const log = (message: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${message}`);

function machine(): Machine {
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${os.release()}`,
    loadStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      n: { type: 'string' },
      systems: { type: 'string' },
      cache: { type: 'string' },
      'reuse-v8': { type: 'string' },
      'medication-concurrency': { type: 'string' },
      'notifications-concurrency': { type: 'string' },
      'email-concurrency': { type: 'string' },
      'worker-queues': { type: 'string' },
      'email-rate': { type: 'string' },
      warmup: { type: 'string' },
      lead: { type: 'string' },
      prebuilt: { type: 'string' },
      'malloc-arena-max': { type: 'string' },
      'workflow-task-slots': { type: 'string' },
      'workflow-threads': { type: 'string' },
      replicas: { type: 'string' },
      preload: { type: 'string' },
      production: { type: 'boolean' },
      render: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
    return 0;
  }
  if (values.render) return render();
  const wanted = positionals[0] ?? 'all';
  if (wanted !== 'all' && !SCENARIOS.includes(wanted as ScenarioName)) {
    console.error(`unknown scenario "${wanted}"; one of: all, ${SCENARIOS.join(', ')}`);
    return 2;
  }
  if (wanted === 'all' && values.n) {
    console.error('--n applies to one scenario: npm run bench -- <scenario> --n <N>');
    return 2;
  }
  const unknownSystems = (values.systems?.split(',') ?? []).filter((x) => !BURST_SYSTEMS.includes(x as BurstSystem));
  if (unknownSystems.length > 0) {
    console.error(`unknown burst system(s) ${unknownSystems.join(', ')}; known: ${BURST_SYSTEMS.join(', ')}`);
    return 2;
  }
  const scenarios = wanted === 'all' ? SCENARIOS : [wanted as ScenarioName];
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const tuning: WorkerTuning = {
    replicas: REPLICAS,
    ...(values.production ? {} : DEFAULT_TUNING),
    ...(values.replicas ? { replicas: num(values.replicas) } : {}),
    ...(values.prebuilt ? { prebuiltBundle: values.prebuilt === 'true' } : {}),
    ...(values.cache ? { maxCachedWorkflows: num(values.cache) } : {}),
    ...(values['reuse-v8'] ? { reuseV8Context: values['reuse-v8'] === 'true' } : {}),
    ...(values['medication-concurrency'] ? { medicationConcurrency: num(values['medication-concurrency']) } : {}),
    ...(values['notifications-concurrency']
      ? { notificationsConcurrency: num(values['notifications-concurrency']) }
      : {}),
    ...(values['email-concurrency'] ? { emailConcurrency: num(values['email-concurrency']) } : {}),
    ...(values['worker-queues'] ? { workerQueues: values['worker-queues'] } : {}),
    ...(values['malloc-arena-max'] ? { mallocArenaMax: num(values['malloc-arena-max']) } : {}),
    ...(values['workflow-task-slots'] ? { workflowTaskSlots: num(values['workflow-task-slots']) } : {}),
    ...(values['workflow-threads'] ? { workflowThreads: num(values['workflow-threads']) } : {}),
    ...(values.preload ? { preloadModules: values.preload.split(',') } : {}),
  };
  const emailRatePerMinute = num(values['email-rate']) ?? DEFAULTS.emailRatePerMinute;
  const size = num(values.n);
  const isDefaultRun = wanted === 'all' && Object.keys(values).length === 0;

  // The replay scenario's in-process worker and clients: warnings only.
  Runtime.install({ logger: new DefaultLogger('WARN') });

  const started = Date.now();
  const mach = machine();
  log(
    `machine: ${mach.cores} cores (${mach.cpuModel}), ${mach.ramGiB} GiB, Node ${mach.node}; ` +
      `load ${mach.loadStart.join(' ')}`,
  );
  const runDir = makeTempDir('run');
  let pg: PostgresServer | undefined;
  const results: Results = {};
  try {
    if (scenarios.some((s) => s !== 'replay')) {
      pg = await startPostgres(runDir, log);
      log(`PostgreSQL: ${pg.kind === 'embedded' ? 'embedded (dev/embedded-postgres.ts)' : 'DATABASE_URL'}`);
    }
    const common = {
      pgAdminUrl: pg?.adminUrl ?? '',
      providerLatencyMs: DEFAULTS.providerLatencyMs,
      emailRatePerMinute,
      tuning,
      log,
    };
    const settings = {
      database: pg?.kind ?? 'none',
      temporal: 'Temporal CLI dev server, SQLite journal_mode=WAL synchronous=FULL',
      providerLatencyMs: DEFAULTS.providerLatencyMs,
      pushProvider: 'FCM adapter over test/fakes/fcm-stub.ts (same latency)',
      emailProvider: 'Resend adapter → test/fakes/provider-server.ts',
      emailRatePerMinute,
      worker: { ...tuning, logLevel: 'warn' },
      workerDefaults: values.production ? 'production' : 'bench (DEFAULT_TUNING)',
    };
    for (const scenario of scenarios) {
      const t0 = Date.now();
      const load = () => os.loadavg().map((l) => Math.round(l * 100) / 100);
      const loadStart = load();
      const info = (): RunInfo => ({
        ranAt: new Date(t0).toISOString(),
        durationS: Math.round((Date.now() - t0) / 100) / 10,
        machine: { ...mach, loadStart, loadEnd: load() },
        settings,
      });
      log(`── ${scenario} ──`);
      try {
        switch (scenario) {
          case 'burst':
            results.burst = {
              ...(await runBurst({
                ...common,
                sizes: values.n ? values.n.split(',').map(Number) : DEFAULTS.burst,
                providerConcurrency: DEFAULTS.providerConcurrency,
                ...(values.systems ? { systems: values.systems.split(',') as BurstSystem[] } : {}),
                warmup: num(values.warmup) ?? DEFAULTS.burstWarmup,
                ...(values.lead ? { leadMs: Number(values.lead) * 1000 } : {}),
              })),
              ...info(),
            };
            break;
          case 'api':
            results.api = {
              ...(await runApi({
                ...common,
                requests: size ?? DEFAULTS.apiRequests,
                connections: DEFAULTS.apiConnections,
              })),
              ...info(),
            };
            break;
          case 'scale': {
            const m = size ?? DEFAULTS.scale;
            results.scale = { ...(await runScale({ ...common, steps: [Math.round(m / 10), m] })), ...info() };
            break;
          }
          case 'fanout':
            results.fanout = {
              ...(await runFanout({
                ...common,
                members: size ?? DEFAULTS.fanoutMembers,
                withProductionRateLimit: true,
              })),
              ...info(),
            };
            break;
          case 'replay':
            results.replay = { ...(await runReplay({ days: size ?? DEFAULTS.replayDays, log })), ...info() };
            break;
        }
      } catch (err) {
        log(`${scenario} failed: ${(err as Error).stack ?? String(err)}`);
        results[scenario] = { scenario, error: (err as Error).message, ...info() };
      }
    }
  } finally {
    await pg?.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  mach.loadEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const totalS = Math.round((Date.now() - started) / 1000);

  const merged = write(results, mach, totalS, isDefaultRun);
  console.log(`\n${formatText(results)}\n`);
  log(
    `done in ${Math.floor(totalS / 60)} min ${totalS % 60} s; load ${mach.loadStart.join(' ')} → ${mach.loadEnd.join(' ')}; ` +
      `results in ${path.relative(projectRoot, resultsDir)}/ (${Object.keys(merged).length} scenarios)`,
  );
  return Object.values(results).some((r) => r && 'error' in r) ? 1 : 0;
}

/** Merges into latest.json, redraws the chart and the Markdown table; returns the merged results. */
function write(results: Results, mach: Machine, totalS: number, isDefaultRun: boolean): Results {
  fs.mkdirSync(resultsDir, { recursive: true });
  const latestFile = path.join(resultsDir, 'latest.json');
  let previous: Results = {};
  try {
    previous = (JSON.parse(fs.readFileSync(latestFile, 'utf8')) as { results: Results }).results ?? {};
  } catch {
    // first run
  }
  const merged: Results = { ...previous, ...results };
  fs.writeFileSync(
    latestFile,
    JSON.stringify(
      { updatedAt: new Date().toISOString(), lastRun: { machine: mach, totalS }, results: merged },
      null,
      2,
    ) + '\n',
  );
  const subtitle =
    `${mach.cores} cores, ${mach.ramGiB} GiB, Node ${mach.node}; load ${mach.loadStart.join(' ')} at start; ` +
    `providers answer after ${DEFAULTS.providerLatencyMs} ms`;
  fs.writeFileSync(
    path.join(resultsDir, 'latest.svg'),
    renderChart('CareCircle benchmarks', subtitle, chartPanels(merged)),
  );
  const markdown = formatMarkdown(merged);
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), markdown);
  if (isDefaultRun) updateBenchmarksMd(markdown, mach, totalS);
  return merged;
}

/** `--render`: redraws the chart and the tables (and BENCHMARKS.md's section) from latest.json. */
function render(): number {
  const latest = JSON.parse(fs.readFileSync(path.join(resultsDir, 'latest.json'), 'utf8')) as {
    lastRun: { machine: Machine; totalS: number };
    results: Results;
  };
  const { machine: mach, totalS } = latest.lastRun;
  const subtitle =
    `${mach.cores} cores, ${mach.ramGiB} GiB, Node ${mach.node}; load ${mach.loadStart.join(' ')} at start; ` +
    `providers answer after ${DEFAULTS.providerLatencyMs} ms`;
  fs.writeFileSync(
    path.join(resultsDir, 'latest.svg'),
    renderChart('CareCircle benchmarks', subtitle, chartPanels(latest.results)),
  );
  const markdown = formatMarkdown(latest.results);
  fs.writeFileSync(path.join(resultsDir, 'latest.md'), markdown);
  updateBenchmarksMd(markdown, mach, totalS, latest.results.burst?.ranAt);
  console.log(formatText(latest.results));
  return 0;
}

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

/** Replaces the generated part of BENCHMARKS.md (between the markers), if the file has them. */
function updateBenchmarksMd(markdown: string, mach: Machine, totalS: number, ranAt?: string): void {
  const file = path.join(projectRoot, 'BENCHMARKS.md');
  if (!fs.existsSync(file)) return;
  const text = fs.readFileSync(file, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) return;
  const header =
    `Run of ${(ranAt ?? new Date().toISOString()).slice(0, 16).replace('T', ' ')} UTC, ${Math.round(totalS / 60)} min; ` +
    `${mach.cores} cores, ${mach.ramGiB} GiB RAM, Node ${mach.node}; load average ${mach.loadStart.join(' / ')} ` +
    `at the start, ${mach.loadEnd?.join(' / ')} at the end.\n\n`;
  fs.writeFileSync(file, `${text.slice(0, start + START.length)}\n${header}${markdown}${text.slice(end)}`);
}

process.exitCode = await main();
// Servers and clients are closed; pg/ioredis handles left by a failed scenario must not hold the run.
process.exit(process.exitCode);
