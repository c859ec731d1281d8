/**
 * Runs the Temporal CLI dev server (`temporal server start-dev`) for `npm start` when no
 * TEMPORAL_ADDRESS is configured: one process with frontend, history, matching, the Web UI and a
 * SQLite file under DATA_DIR, so workflows (e.g. a reminder sleeping until 8 am) survive restarts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { forgetServer, reclaim, recordServer } from './leftovers.ts';
import { collectLines } from './log-lines.ts';
import { Connection } from '@temporalio/client';
import { resolveTemporalCli } from './temporal-binaries.ts';

export type SearchAttributeTypeName = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

export interface TemporalDevServerOptions {
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  searchAttributes: Record<string, SearchAttributeTypeName>;
  log?: (line: string) => void;
  /** What the launcher itself has to say (stopping a server left over by an earlier run); default `log`. */
  notice?: (line: string) => void;
  /** How long to wait for the frontend (and namespace and search attributes) to answer. */
  startTimeoutMs?: number;
  /** Overrides SQLITE_PRAGMAS below, e.g. for benchmarks. */
  sqlitePragmas?: Record<string, string>;
}

export interface TemporalDevServer {
  /** host:port of the gRPC frontend, for Connection / NativeConnection. */
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/**
 * SQLite settings. Medication reminders make durability the priority: once the server has told a
 * client "workflow started" or "activity completed", that must still be true after a power cut,
 * or a reminder silently never fires (or fires twice).
 *
 * - journal_mode=WAL: commits append to the -wal file instead of rewriting pages plus a rollback
 *   journal; readers (UI, visibility queries) do not block the writer. The server's default is
 *   the rollback journal (DELETE).
 * - synchronous=FULL: the WAL is fsynced at every commit, so an acknowledged write survives an OS
 *   crash or power loss. NORMAL syncs only at checkpoints: the database stays consistent, but the
 *   last transactions before a power cut can vanish after the server has acknowledged them, which
 *   is exactly the silent-loss case above.
 *
 * Measured here (2 cores, ext4 on a virtual disk; 200 workflow starts and 100 start-to-result runs,
 * 8 at a time): DELETE+FULL (the server's default) 7.4-7.9 ms per start, 22-27 ms per workflow;
 * WAL+FULL 3.8 ms and 13-14 ms; WAL+NORMAL 2.7-3.2 ms and 15 ms. WAL+FULL is about twice as fast as
 * the default and within noise of NORMAL for whole workflows, so durability costs next to nothing.
 */
const SQLITE_PRAGMAS: Record<string, string> = { journal_mode: 'WAL', synchronous: 'FULL' };

const STOP_GRACE_MS = 10_000;

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const cli = resolveTemporalCli();
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const dbFile = path.join(opts.dataDir, 'temporal.sqlite');
  const pidFile = path.join(opts.dataDir, 'temporal.pid');

  // Two servers on one SQLite file would corrupt each other's view of the shards: one left running
  // by a start that was killed hard is stopped first; one whose owner still runs is refused.
  await reclaim(pidFile, { signal: 'SIGTERM', timeoutMs: STOP_GRACE_MS, log: opts.notice ?? opts.log });
  // Checked up front because otherwise the server logs the bind error and exits, and a client
  // polling the port may meanwhile reach whatever else is listening there.
  await assertPortFree(opts.port, `Temporal frontend (TEMPORAL_DEV_PORT=${opts.port})`);
  await assertPortFree(opts.uiPort, `Temporal Web UI (TEMPORAL_UI_PORT=${opts.uiPort})`);

  const args = [
    'server',
    'start-dev',
    '--db-filename',
    dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--namespace',
    opts.namespace,
    // The UI otherwise fetches a news feed from the internet on every page load.
    '--ui-disable-news-fetch',
    ...Object.entries(opts.sqlitePragmas ?? SQLITE_PRAGMAS).flatMap(([k, v]) => ['--sqlite-pragma', `${k}=${v}`]),
    // Used only when the database is created; ensureSearchAttributes handles existing databases.
    ...Object.entries(opts.searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];

  const log = opts.log ?? (() => {});
  const tail: string[] = [];
  // detached: its own process group, so a Ctrl-C in the terminal reaches only `npm start`, which
  // then stops the API and workers before the server they depend on.
  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) collectLines(stream, tail, log);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {}); // only start-up cares; a later 'error' must not become an unhandled rejection
  child.once('error', () => (exited ??= { code: null, signal: null })); // no 'exit' follows a failed spawn
  if (child.pid !== undefined) recordServer(pidFile, 'Temporal dev server', child.pid);

  // If this process dies without calling stop() (uncaught error), do not leave the server
  // holding the ports and the SQLite file.
  const onExit = () => child.kill('SIGTERM');
  process.once('exit', onExit);

  let stopping = false;
  const stop = async (): Promise<void> => {
    stopping = true;
    process.removeListener('exit', onExit);
    if (!exited) {
      // The CLI shuts down in order on SIGTERM (exit 0 after about 1 s here). It leaves the -wal file
      // next to the database; SQLite replays it at the next open, and with synchronous=FULL it
      // already holds every acknowledged commit.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    forgetServer(pidFile);
  };
  void exitPromise.then(() => {
    if (!stopping) log(`temporal dev server exited unexpectedly (${describeExit(exited)})`);
  });

  const address = `127.0.0.1:${opts.port}`;
  try {
    await Promise.race([
      waitUntilReady(address, opts, () => exited),
      spawnError,
      exitPromise.then(() => {
        throw new Error(`exited during start-up (${describeExit(exited)})`);
      }),
    ]);
  } catch (err) {
    await stop();
    const reason = err instanceof Error ? err.message : String(err);
    const inUse = tail.some((l) => /address already in use/i.test(l))
      ? `\nA port is already in use: stop the other process or change TEMPORAL_DEV_PORT / TEMPORAL_UI_PORT.`
      : '';
    throw new Error(
      `Temporal dev server (${cli} ${args.slice(0, 2).join(' ')}) did not start: ${reason}.${inUse}\n` +
        `Last server output:\n${tail.join('\n') || '(none)'}`,
    );
  }
  return { address, uiUrl: `http://127.0.0.1:${opts.uiPort}`, stop };
}

/**
 * Ready means: the frontend answers, the namespace exists, and the requested search attributes are
 * registered. Workers and clients started after this never see "namespace not found".
 */
async function waitUntilReady(
  address: string,
  opts: TemporalDevServerOptions,
  hasExited: () => unknown,
): Promise<void> {
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline && !hasExited()) {
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.getSystemInfo({});
      await connection.workflowService.describeNamespace({ namespace: opts.namespace });
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      await connection?.close().catch(() => {});
      await sleep(250);
      continue;
    }
    try {
      return await ensureSearchAttributes(connection, opts, deadline);
    } finally {
      await connection.close().catch(() => {});
    }
  }
  throw new Error(hasExited() ? 'the server exited' : `not ready after ${timeoutMs} ms (${lastError})`);
}

/** Temporal API enum IndexedValueType (temporal/api/enums/v1/common.proto); stable wire numbers. */
const INDEXED_VALUE_TYPE: Record<SearchAttributeTypeName, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/**
 * `--search-attribute` only takes effect when the SQLite file is created: on an existing database
 * the CLI silently skips attributes added later (checked with CLI 1.9.1). So register whatever is
 * missing through the operator API, and refuse a type change, which Temporal cannot do in place.
 */
async function ensureSearchAttributes(
  connection: Connection,
  opts: TemporalDevServerOptions,
  deadline: number,
): Promise<void> {
  const wanted = Object.entries(opts.searchAttributes);
  let addError = '';
  for (;;) {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({
      namespace: opts.namespace,
    });
    const existing = customAttributes ?? {};
    const conflicts = wanted.filter(([name, type]) => name in existing && existing[name] !== INDEXED_VALUE_TYPE[type]);
    if (conflicts.length > 0) {
      const byNumber = Object.fromEntries(Object.entries(INDEXED_VALUE_TYPE).map(([k, v]) => [v, k]));
      const list = conflicts.map(([n, t]) => `${n} is ${byNumber[existing[n] ?? 0] ?? existing[n]}, wanted ${t}`);
      throw new Error(
        `search attribute type mismatch in ${path.join(opts.dataDir, 'temporal.sqlite')}: ${list.join('; ')}. ` +
          'Temporal cannot change the type of a registered attribute: use a new name, or delete the ' +
          'temporal.sqlite* files to start over (this discards all workflow state)',
      );
    }
    const missing = wanted.filter(([name]) => !(name in existing));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`search attributes not registered: ${missing.map(([n]) => n).join(', ')} ${addError}`);
    }
    try {
      await connection.operatorService.addSearchAttributes({
        namespace: opts.namespace,
        searchAttributes: Object.fromEntries(missing.map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
      });
    } catch (err) {
      // On a fresh database the CLI registers them at the same moment: "already exists" is fine,
      // the next listing decides.
      addError = `(${err instanceof Error ? err.message : String(err)})`;
    }
    await sleep(250);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function assertPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `Port ${port} for the ${what} is already in use on 127.0.0.1. Another Temporal dev server ` +
                `(a previous \`npm start\`?) or another program is running: stop it, choose another port, ` +
                `or set TEMPORAL_ADDRESS to use an existing Temporal server.`
            : `Cannot listen on 127.0.0.1:${port} for the ${what}: ${err.message}`,
        ),
      );
    });
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null } | undefined): string {
  if (!exit) return 'still running';
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}
