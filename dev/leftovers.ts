/**
 * Servers outliving the process that started them. The embedded PostgreSQL, the Temporal dev
 * server, the worker and the API run in process groups of their own (so a terminal's Ctrl-C
 * reaches only `npm start`, which then stops them in order); the flip side is that when `npm start`
 * is killed hard (SIGKILL, the OOM killer) nothing stops them, and they keep their ports and data.
 *
 * So each one is recorded in a pid file in the data folder: its pid and start time, and the pid
 * and start time of the process that owns it. The start time is what makes a pid an identity: a
 * pid the system has since given to another program never matches. The next start in the same
 * data folder stops what a dead owner left behind, and refuses to touch what a live owner still
 * uses.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Opaque, compared for equality only: /proc's start tick on Linux, `ps -o lstart` elsewhere. */
  startedAt: string;
}

interface PidFile {
  name: string;
  server: ProcessIdentity;
  owner: ProcessIdentity;
}

/** The identity of a live process, or undefined when there is none with this pid (or only a zombie). */
export function identify(pid: number): ProcessIdentity | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is the first,
    // starttime the 20th (field 22 of proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return { pid, startedAt: fields[19]! };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync('/proc/self/stat')) return undefined;
  }
  // No /proc (macOS, BSD).
  const ps = spawnSync('ps', ['-o', 'stat=,lstart=', '-p', String(pid)], { encoding: 'utf8' });
  const line = ps.stdout?.trim();
  if (!line || line.startsWith('Z')) return undefined;
  return { pid, startedAt: line.split(/\s+/).slice(1).join(' ') };
}

const isAlive = (who: ProcessIdentity): boolean => identify(who.pid)?.startedAt === who.startedAt;

/** Records `pid` as the server `name`, owned by this process. */
export function recordServer(file: string, name: string, pid: number): void {
  const server = identify(pid);
  const owner = identify(process.pid);
  if (!server || !owner) return; // already gone: nothing will be left over
  const record: PidFile = { name, server, owner };
  fs.writeFileSync(file, `${JSON.stringify(record)}\n`);
}

/** The server stopped as it should: nothing left over. */
export function forgetServer(file: string): void {
  fs.rmSync(file, { force: true });
}

export interface ReclaimOptions {
  /** How to ask it to stop (its orderly shutdown), and how long to give it before SIGKILL. */
  signal: NodeJS.Signals;
  timeoutMs: number;
  log?: (message: string) => void;
}

/**
 * Makes sure the server recorded in `file` no longer runs: if its owner is gone, the server is
 * stopped (its orderly shutdown, then SIGKILL); if its owner still runs, this throws, since
 * whoever started it is using it.
 */
export async function reclaim(file: string, opts: ReclaimOptions): Promise<void> {
  let record: PidFile;
  try {
    record = JSON.parse(fs.readFileSync(file, 'utf8')) as PidFile;
  } catch {
    forgetServer(file); // none, or unreadable (an older format): nothing we can safely act on
    return;
  }
  if (!record.server || !isAlive(record.server)) return forgetServer(file);
  if (record.owner && isAlive(record.owner)) {
    throw new Error(
      `The ${record.name} (pid ${record.server.pid}) recorded in ${file} is still in use by process ` +
        `${record.owner.pid} (a running \`npm start\`?). Stop that one first, or use another DATA_DIR.`,
    );
  }
  opts.log?.(`stopping the ${record.name} (pid ${record.server.pid}) left running by an earlier start`);
  await stopProcess(record.server, opts.signal, opts.timeoutMs);
  forgetServer(file);
}

async function stopProcess(who: ProcessIdentity, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    try {
      process.kill(who.pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };
  send(signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(who)) {
    if (Date.now() > deadline) {
      send('SIGKILL');
      await waitUntilGone(who, 5_000);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitUntilGone(who: ProcessIdentity, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(who)) {
    if (Date.now() > deadline) throw new Error(`process ${who.pid} did not exit after SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
