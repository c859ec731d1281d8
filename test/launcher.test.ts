/**
 * `npm start` killed hard: its servers (embedded PostgreSQL, Temporal dev server, worker, API) are
 * in process groups of their own and outlive it. The next start in the same data folder must stop
 * them and come up on the same ports; a start while the first one still runs must leave it alone.
 *
 * The real launcher (scripts/start.ts) as a child process, really SIGKILLed. The worker serves only
 * the email queue (activities only: no workflow bundle to build), which keeps each start short.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { identify } from '../dev/leftovers.ts';
import { projectRoot } from '../shared/config.ts';
import { freePort } from '../shared/free-port.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-launcher-'));
const launched: ChildProcess[] = [];
const PID_FILES = ['api.pid', 'worker.pid', 'embedded-postgres.pid', 'temporal.pid'];

interface Launch {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function environment(): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'CLOUDINARY_URL', 'RESEND_API_KEY']) delete env[name];
  return {
    ...env,
    NODE_ENV: 'development',
    LOG_FORMAT: 'json',
    DATA_DIR: dataDir,
    API_PORT: String(await freePort()),
    WORKER_METRICS_PORT: String(await freePort()),
    EMBEDDED_PG_PORT: String(await freePort()),
    TEMPORAL_DEV_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    WORKER_QUEUES: 'email',
    SCHEDULES_ENABLED: 'false',
  };
}

function launch(env: NodeJS.ProcessEnv): Launch {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts/start.ts')], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  launched.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => output, exited };
}

async function ready(l: Launch): Promise<void> {
  // A few seconds on a quiet machine; far longer on a busy one (see README, start-up time).
  const deadline = Date.now() + 120_000;
  while (!l.output().includes('CareCircle is running')) {
    if (l.child.exitCode !== null || l.child.signalCode !== null) throw new Error(`launcher exited:\n${l.output()}`);
    if (Date.now() > deadline) throw new Error(`launcher not ready:\n${l.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The servers a launcher recorded, by pid file. */
function recordedServers(): Record<string, { pid: number; startedAt: string }> {
  const servers: Record<string, { pid: number; startedAt: string }> = {};
  for (const file of PID_FILES) {
    const p = path.join(dataDir, file);
    if (fs.existsSync(p)) servers[file] = JSON.parse(fs.readFileSync(p, 'utf8')).server;
  }
  return servers;
}

const running = (s: { pid: number; startedAt: string }) => identify(s.pid)?.startedAt === s.startedAt;

afterAll(async () => {
  // Whatever a failed assertion left behind.
  for (const child of launched) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const s of Object.values(recordedServers())) if (running(s)) process.kill(s.pid, 'SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start killed with SIGKILL', () => {
  it('leaves servers that the next start in the same data folder stops before starting its own', async () => {
    const env = await environment();
    const first = launch(env);
    await ready(first);
    const leftovers = recordedServers();
    expect(Object.keys(leftovers).sort()).toEqual([...PID_FILES].sort());

    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // What the second start has to deal with: nothing stopped them.
    for (const s of Object.values(leftovers)) expect(running(s)).toBe(true);

    const second = launch(env);
    await ready(second);
    for (const s of Object.values(leftovers)) expect(running(s)).toBe(false);
    for (const name of ['API', 'worker', 'embedded PostgreSQL', 'Temporal dev server']) {
      expect(second.output()).toContain(`stopping the ${name} (pid `);
    }
    const api = `http://127.0.0.1:${env.API_PORT}`;
    expect((await fetch(`${api}/health`)).status).toBe(200);

    // A third start while the second runs: refused, and the second's servers untouched.
    const ours = recordedServers();
    const third = launch(env);
    expect((await third.exited).code).toBe(1);
    expect(third.output()).toMatch(/still in use by process \d+/);
    for (const s of Object.values(ours)) expect(running(s)).toBe(true);
    expect((await fetch(`${api}/health`)).status).toBe(200);

    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    for (const s of Object.values(ours)) expect(running(s)).toBe(false);
    expect(recordedServers()).toEqual({});
  }, 300_000);
});
