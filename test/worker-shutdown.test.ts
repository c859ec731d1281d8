/**
 * Graceful shutdown of real processes, on the Temporal CLI dev server:
 * - a worker process gets SIGTERM in the middle of a long heartbeating activity: it turns unready,
 *   stops polling, cancels the activity once WORKER_SHUTDOWN_GRACE has passed and exits 0; a new
 *   worker resumes the activity from its last heartbeat and the side effect happens exactly once;
 *   both workers' /metrics show the attempts and the Temporal SDK's own metrics;
 * - the real worker (workers/main.ts) and API (api/main.ts) entry points turn unready on SIGTERM
 *   and exit 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { freePort } from '../shared/free-port.ts';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../shared/config.ts';
import type { LongJobResult } from './fixtures/ops-activities.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';
import { waitFor } from './helpers/wait.ts';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let tmp: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  [env, db] = await Promise.all([createLocalEnv(), createTestDatabase()]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-shutdown-'));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await env?.teardown();
  await db?.drop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Proc {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(entry: string, extraEnv: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, entry)], {
    cwd: projectRoot,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const logs: Record<string, unknown>[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line (e.g. webpack's stats table)
      }
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      if (code !== 0 && stderr) process.stderr.write(`[${entry}] ${stderr}\n`);
      resolve({ code, signal });
    }),
  );
  return { child, logs, exited };
}

const httpStatus = async (url: string) => (await fetch(url)).status;
const metricValue = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('worker shutdown in the middle of a long activity', () => {
  it('drains, exits 0, and the work completes exactly once on the next worker', async () => {
    const taskQueue = `ops-shutdown-${randomUUID()}`;
    const sideEffectFile = path.join(tmp, 'side-effects.log');
    const workerEnv = (port: number) => ({
      OPS_TEST_TASK_QUEUE: taskQueue,
      OPS_TEST_SIDE_EFFECT_FILE: sideEffectFile,
      WORKER_METRICS_PORT: String(port),
      WORKER_SHUTDOWN_GRACE: '1s',
    });

    const portA = await freePort();
    const a = start('test/fixtures/ops-worker.ts', workerEnv(portA));
    const urlA = `http://127.0.0.1:${portA}`;
    await waitFor(
      'worker A ready',
      async () => ((await httpStatus(`${urlA}/ready`)) === 200 ? true : undefined),
      30_000,
    );

    // 20 steps of 250 ms: 5 s of work, a heartbeat per step.
    const jobId = `job-${randomUUID()}`;
    const handle = await env.client.workflow.start('longJobWorkflow', {
      taskQueue,
      workflowId: `long-job:${jobId}`,
      args: [{ jobId, steps: 20, stepMs: 250 }],
    });
    // Let it get well into the work: a heartbeat from step 3 or later has reached the server.
    await waitFor(
      'progress heartbeats',
      async () => {
        const d = await env.client.workflowService.describeWorkflowExecution({
          namespace: env.namespace ?? 'default',
          execution: { workflowId: handle.workflowId },
        });
        const details = d.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0]?.data;
        return details && Number(Buffer.from(details).toString()) >= 3 ? true : undefined;
      },
      15_000,
    );
    const during = await (await fetch(`${urlA}/metrics`)).text();
    expect(metricValue(during, `carecircle_activities_in_flight{task_queue="${taskQueue}"}`)).toBe(1);
    expect(metricValue(during, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 2 ** 20);
    // The Temporal SDK's own metrics, merged into the same endpoint.
    expect(during).toMatch(/^temporal_worker_task_slots_used\{/m);
    expect(during).toMatch(/^temporal_num_pollers\{/m);

    const sigtermAt = Date.now();
    a.child.kill('SIGTERM');
    // Unready at once, while the activity still has its grace time.
    expect(
      await waitFor('A unready', async () => ((await httpStatus(`${urlA}/ready`)) === 503 ? 503 : undefined), 2_000),
    ).toBe(503);
    const exitA = await a.exited;
    const shutdownMs = Date.now() - sigtermAt;
    expect(exitA).toEqual({ code: 0, signal: null });
    // Grace (1 s) plus the cancellation and closing; well before the job's remaining ~4 s.
    expect(shutdownMs).toBeGreaterThanOrEqual(1_000);
    expect(shutdownMs).toBeLessThan(3_500);
    expect(fs.existsSync(sideEffectFile)).toBe(false);

    const failed = a.logs.find((l) => l.msg === 'activity attempt failed');
    expect(failed).toMatchObject({
      level: 40, // warn: it will be retried
      willRetry: true,
      activityType: 'longJob',
      attempt: 1,
      workflowId: handle.workflowId,
      workflowRunId: handle.firstExecutionRunId,
      taskQueue,
    });
    expect(failed?.durationMs).toBeGreaterThan(500);
    expect(a.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['worker draining', 'worker stopped']));
    expect(a.logs.find((l) => l.msg === 'activity attempt started')).toMatchObject({
      attempt: 1,
      activityType: 'longJob',
    });

    const portB = await freePort();
    const b = start('test/fixtures/ops-worker.ts', workerEnv(portB));
    const result = (await handle.result()) as LongJobResult;
    expect(result.pid).toBe(b.child.pid);
    expect(result.attempt).toBe(2);
    expect(result.resumedFromStep).toBeGreaterThanOrEqual(3);
    expect(fs.readFileSync(sideEffectFile, 'utf8').trim().split('\n')).toEqual([
      `${jobId} pid=${b.child.pid} attempt=2`,
    ]);

    const urlB = `http://127.0.0.1:${portB}`;
    const after = await (await fetch(`${urlB}/metrics`)).text();
    const labels = `task_queue="${taskQueue}",activity_type="longJob"`;
    expect(metricValue(after, `carecircle_activity_executions_total{${labels},outcome="completed"}`)).toBe(1);
    expect(metricValue(after, `carecircle_activity_schedule_to_start_seconds_count{${labels}}`)).toBe(1);
    expect(metricValue(after, `carecircle_activity_duration_seconds_count{${labels}}`)).toBe(1);
    expect(after).toMatch(/^temporal_activity_execution_latency_count\{.*activity_type="longJob"/m);

    const status = (await (await fetch(`${urlB}/status`)).json()) as { ready: boolean; inFlightActivities: number };
    expect(status).toMatchObject({ ready: true, inFlightActivities: 0 });
    const idleStop = Date.now();
    b.child.kill('SIGTERM');
    expect(await b.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - idleStop).toBeLessThan(2_000);
    // B's log lines, read once it has exited (the SDK buffers forwarded lines for 100 ms).
    expect(b.logs.find((l) => l.msg === 'activity attempt completed')).toMatchObject({
      attempt: 2,
      activityType: 'longJob',
      workflowId: handle.workflowId,
    });
    expect(a.logs.find((l) => l.msg === 'workflow run started')).toMatchObject({
      workflowId: handle.workflowId,
      runId: handle.firstExecutionRunId,
      workflowType: 'longJobWorkflow',
    });
    expect(b.logs.find((l) => l.msg === 'workflow run completed')).toMatchObject({
      workflowId: handle.workflowId,
      workflowType: 'longJobWorkflow',
    });
  });
});

describe('the real entry points on SIGTERM', () => {
  it('workers/main.ts serves health, readiness and metrics, then exits 0', async () => {
    const port = await freePort();
    const w = start('workers/main.ts', {
      DATABASE_URL: db.url,
      WORKER_METRICS_PORT: String(port),
      WORKER_QUEUES: 'medication,notifications',
      SCHEDULES_ENABLED: 'false',
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor('worker ready', async () => ((await httpStatus(`${url}/ready`)) === 200 ? true : undefined), 30_000);
    expect(await httpStatus(`${url}/health`)).toBe(200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('# TYPE carecircle_activity_executions_total counter');
    expect(metrics).toContain('# TYPE carecircle_provider_circuit_state gauge');
    expect(metrics).toMatch(/^temporal_num_pollers\{.*task_queue="medication-reminders"/m);
    // System-wide gauges are the API's to report, not each worker's.
    expect(metrics).not.toContain('carecircle_dead_letters_open');

    const stopAt = Date.now();
    w.child.kill('SIGTERM');
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopAt).toBeLessThan(3_000);
  });

  it('api/main.ts turns unready, keeps serving through API_SHUTDOWN_DELAY, then exits 0', async () => {
    const port = await freePort();
    const api = start('api/main.ts', { DATABASE_URL: db.url, API_PORT: String(port), API_SHUTDOWN_DELAY: '1s' });
    const url = `http://127.0.0.1:${port}`;
    await waitFor('api ready', async () => ((await httpStatus(`${url}/ready`)) === 200 ? true : undefined), 30_000);
    api.child.kill('SIGTERM');
    const ready = await waitFor(
      'api draining',
      async () => {
        const res = await fetch(`${url}/ready`);
        return res.status === 503 ? ((await res.json()) as { status: string }) : undefined;
      },
      1_000,
    );
    expect(ready).toEqual({ status: 'draining' });
    // Still answering during the delay, so in-flight clients and late requests are not refused.
    expect(await httpStatus(`${url}/health`)).toBe(200);
    expect(await api.exited).toEqual({ code: 0, signal: null });
    expect(api.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['api draining', 'api stopped']));
  });
});
