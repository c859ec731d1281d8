/**
 * `npm start`: the whole system on one machine.
 *
 * With no DATABASE_URL it runs an embedded PostgreSQL, with no TEMPORAL_ADDRESS the Temporal CLI
 * dev server (with its Web UI), both persisted under DATA_DIR; it migrates the database, then runs
 * the worker and the API as child processes, exactly as they run in production. On Ctrl-C or
 * SIGTERM (or when its terminal closes) it stops them in reverse order (API, worker, Temporal,
 * PostgreSQL) and exits 0. Killed hard, it cannot: the next start in the same DATA_DIR then stops
 * whatever it left running before starting anything (dev/leftovers.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.ts';
import { forgetServer, reclaim, recordServer } from '../dev/leftovers.ts';
import { startTemporalDevServer } from '../dev/temporal-dev-server.ts';
import { usesDevOutbox } from '../providers/index.ts';
import { config, projectRoot } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { migrateDeploy } from './migrations.ts';
import { searchAttributeDefinitions } from '../shared/search-attributes.ts';

const cfg = config();
const logger = createLogger('start');
// The children's own shutdown budgets (worker: WORKER_SHUTDOWN_GRACE, then a hard stop 10 s later;
// API: delay + grace) plus a margin.
const CHILD_STOP_TIMEOUT_MS =
  Math.max(cfg.WORKER_SHUTDOWN_GRACE, cfg.API_SHUTDOWN_DELAY + cfg.API_SHUTDOWN_GRACE) + 15_000;

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}
const running: Stoppable[] = [];
let shuttingDown = false;

async function shutdown(code: number): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => {});
  shuttingDown = true;
  for (const part of running.reverse()) {
    logger.info(`stopping ${part.name}`);
    try {
      await part.stop();
    } catch (err) {
      logger.error({ err }, `could not stop ${part.name} cleanly`);
      code = code || 1;
    }
  }
  logger.info('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
// A closed terminal: the servers are in their own process groups and do not get this one.
process.on('SIGHUP', () => void shutdown(0));

/** Where a child's pid is kept while it runs, for the next start should this one be killed hard. */
const pidFileOf = (name: string) => path.join(cfg.DATA_DIR, `${name.toLowerCase()}.pid`);

/** Runs a TypeScript entry point of this project as a child process with its own process group. */
function runChild(name: string, entry: string, env: NodeJS.ProcessEnv): Stoppable & { child: ChildProcess } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('exit', (code, signal) => {
    if (!shuttingDown) {
      logger.error({ code, signal }, `${name} exited unexpectedly; stopping everything`);
      void shutdown(1);
    }
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const pidFile = pidFileOf(name);
  if (child.pid !== undefined) recordServer(pidFile, name, child.pid);
  void exited.then(() => forgetServer(pidFile));
  return {
    name,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const code = await Promise.race([exited, delay(CHILD_STOP_TIMEOUT_MS).then(() => 'timeout' as const)]);
      if (code === 'timeout') {
        child.kill('SIGKILL');
        throw new Error(`${name} did not stop within ${CHILD_STOP_TIMEOUT_MS / 1000} s`);
      }
      if (code !== 0) throw new Error(`${name} exited with code ${code}`);
    },
  };
}

async function waitForHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not become healthy within ${timeoutMs / 1000} s`);
    await delay(250);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  fs.mkdirSync(cfg.DATA_DIR, { recursive: true });
  // What a start killed hard left running, in dependency order (PostgreSQL and Temporal: below).
  const notice = (line: string) => logger.warn(line);
  for (const name of ['API', 'worker']) {
    await reclaim(pidFileOf(name), { signal: 'SIGTERM', timeoutMs: CHILD_STOP_TIMEOUT_MS, log: notice });
  }

  let databaseUrl = cfg.DATABASE_URL;
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres({
      dataDir: cfg.DATA_DIR,
      port: cfg.EMBEDDED_PG_PORT,
      log: (line) => logger.debug({ component: 'postgres' }, line),
      notice,
    });
    running.push({ name: 'embedded PostgreSQL', stop: pg.stop });
    databaseUrl = pg.url;
    logger.info(`embedded PostgreSQL running on 127.0.0.1:${cfg.EMBEDDED_PG_PORT} (data in ${cfg.DATA_DIR})`);
  }
  const { applied } = await migrateDeploy(databaseUrl, { log: (msg) => logger.debug({ component: 'migrate' }, msg) });
  logger.info(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database schema is up to date');

  let temporalAddress = cfg.TEMPORAL_ADDRESS;
  let uiUrl: string | undefined;
  if (!temporalAddress) {
    const temporal = await startTemporalDevServer({
      dataDir: cfg.DATA_DIR,
      port: cfg.TEMPORAL_DEV_PORT,
      uiPort: cfg.TEMPORAL_UI_PORT,
      namespace: cfg.TEMPORAL_NAMESPACE,
      searchAttributes: searchAttributeDefinitions,
      log: (line) => logger.debug({ component: 'temporal' }, line),
      notice,
    });
    running.push({ name: 'Temporal dev server', stop: temporal.stop });
    temporalAddress = temporal.address;
    uiUrl = temporal.uiUrl;
  }

  const env = { ...process.env, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress };
  // Two glibc malloc arenas instead of 8 per core for the worker's many threads: about 140 MiB
  // less RSS with thousands of schedules (docs/queues.md, "Memory").
  running.push(runChild('worker', 'workers/main.ts', { MALLOC_ARENA_MAX: '2', ...env }));
  running.push(runChild('API', 'api/main.ts', env));

  const apiUrl = `http://${cfg.API_HOST}:${cfg.API_PORT}`;
  // Running means both answer: the API, and the worker polling its queues (it bundles first).
  await Promise.all([
    waitForHealthy(`${apiUrl}/health`, 60_000),
    waitForHealthy(`http://${cfg.WORKER_METRICS_HOST}:${cfg.WORKER_METRICS_PORT}/ready`, 120_000),
  ]);
  const lines = [
    '',
    `CareCircle is running (started in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    `  API            ${apiUrl}  (a token: npm run --silent token -- --user <you>)`,
    `  API docs       ${apiUrl}/docs · ${apiUrl}/openapi.json`,
    `  Health         ${apiUrl}/health`,
    `  Metrics        ${apiUrl}/metrics · worker http://${cfg.WORKER_METRICS_HOST}:${cfg.WORKER_METRICS_PORT}/metrics`,
    `  Ops status     ${apiUrl}/v1/ops/queues (operators: token --operator)`,
    ...(usesDevOutbox(cfg) ? [`  Dev outbox     ${apiUrl}/v1/dev/outbox (operators)`] : []),
    `  Temporal       ${temporalAddress} (namespace ${cfg.TEMPORAL_NAMESPACE})`,
    ...(uiUrl ? [`  Temporal UI    ${uiUrl}/namespaces/${cfg.TEMPORAL_NAMESPACE}/workflows`] : []),
    `  Data           ${cfg.DATABASE_URL ? 'DATABASE_URL' : cfg.DATA_DIR}`,
    'Press Ctrl-C to stop.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err: unknown) => {
  logger.fatal({ err }, (err as Error).message);
  void shutdown(1);
});
