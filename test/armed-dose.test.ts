/**
 * The armed dose on the real stack: the Temporal CLI dev server, PostgreSQL, the real activities
 * with the dev outbox, the API for the user's changes, and real worker processes (workers/main.ts)
 * that are killed or stopped while a dose waits in them.
 *
 * Every medication here has a `once` dose at the same whole minute, and the arm lead is longer than
 * the time left to it, so each dose is armed as soon as its workflow starts and waits in a worker
 * until that minute. The cases run side by side and share the wait (under a minute and a half): each
 * is started once the stack is up, and its test awaits its outcome.
 *
 * - a pause, an edit and a deletion in the lead window: nothing is sent;
 * - an untouched dose: every channel is sent at the instant, none before it;
 * - a worker process SIGKILLed while the dose waits in it: another worker sends it once, within
 *   seconds of the instant (the heartbeat timeout notices the dead worker);
 * - a worker process SIGTERMed while the dose waits in it: it exits at once instead of holding its
 *   shutdown for the lead, and another worker sends the dose once at the instant;
 * - a provider's failure on one channel: the other channels go out at the instant; a transient
 *   failure waits the provider's Retry-After or else the medication delay (4–6 minutes) before the
 *   next attempt, and a permanent one becomes a dead letter.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities/index.ts';
import { WORKER_DRAINING } from '../activities/dose-sends.ts';
import { createApp } from '../api/app.ts';
import { startWorkflow } from '../api/workflow-calls.ts';
import { medicationWorkflowStart } from '../workflows/medication-start.ts';
import { OutboxEmailSender, OutboxPushSender } from '../providers/dev-outbox.ts';
import { DeliveryError, type EmailMessage, type EmailSender } from '../providers/types.ts';
import { projectRoot } from '../shared/config.ts';
import { freePort } from '../shared/free-port.ts';
import { TRANSIENT_DELIVERY_ERROR } from '../shared/retry-policies.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';
import { waitFor } from './helpers/wait.ts';
import { createWorker, workflowBundle } from './helpers/workers.ts';

/** Least time between creating the medications and their dose: room to arm them and stop a worker. */
const MARGIN_MS = 30_000;
/** Longer than any wait for the next whole minute past the margin: every dose is armed at once. */
const LEAD_SECONDS = 95;
/** How late "at the instant" may be on a busy test machine. */
const ON_TIME_MS = 3_000;
const CARER = 'carer';

const { PendingActivityState } = temporal.api.enums.v1;
type Timestamp = { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;
const tsMs = (t: Timestamp) => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let activities: Activities;
const workers: { worker: Worker; run: Promise<void> }[] = [];
const children: ChildProcess[] = [];
let carer: UserClient;
const queue = `armed-${randomUUID()}`;
let killed: WorkerProcess;
let stopped: WorkerProcess;
/** The dose instant every case shares (ms). */
let due: number;

/** Email faults by recipient address: the nth call for a notification → the error to throw, if any. */
const emailFaults = new Map<string, (call: number) => DeliveryError | undefined>();
let faultyEmail: FaultyEmail;
class FaultyEmail implements EmailSender {
  readonly name = 'faulty-outbox';
  /** Provider calls per notification (dedupe key). */
  readonly calls = new Map<string, number>();
  constructor(private readonly inner: EmailSender) {}
  async send(message: EmailMessage, key: string) {
    const call = (this.calls.get(key) ?? 0) + 1;
    this.calls.set(key, call);
    const fault = emailFaults.get(message.to)?.(call);
    if (fault) throw fault;
    return this.inner.send(message, key);
  }
}

interface WorkerProcess {
  child: ChildProcess;
  taskQueue: string;
  logs: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** workers/main.ts serving only the medication queue `taskQueue`, as deployed. */
async function startWorkerProcess(taskQueue: string): Promise<WorkerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers/main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      WORKER_QUEUES: 'medication',
      MEDICATION_TASK_QUEUE: taskQueue,
      SCHEDULES_ENABLED: 'false',
      WORKER_METRICS_PORT: String(port),
      // Longer than the wait for the dose: a prompt exit is the handover, not the grace time running out.
      WORKER_SHUTDOWN_GRACE: '120s',
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
        // not a log line
      }
    }
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL' && stderr) process.stderr.write(`[worker ${taskQueue}] ${stderr}\n`);
      resolve({ code, signal, at: Date.now() });
    }),
  );
  await waitFor(
    `worker process on ${taskQueue} ready`,
    async () => ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200 ? true : undefined),
    90_000,
  );
  return { child, taskQueue, logs, exited };
}

/** An in-process worker on `taskQueue` with the real activities (another host taking over). */
async function startWorker(taskQueue: string): Promise<Worker> {
  const worker = await createWorker(env, {
    taskQueue,
    activities,
    // Armed doses hold their slot while they wait: room for every case at once besides bookkeeping.
    production: { maxConcurrentActivities: 50 },
  });
  workers.push({ worker, run: worker.run() });
  return worker;
}

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

interface Armed {
  medicationId: string;
  workflowId: string;
  patientId: string;
  email: string;
}

/** A circle (a caregiver who uses the API, a patient on push, email and in-app) and its medication. */
async function armMedication(taskQueue: string, email = `patient-${randomUUID().slice(0, 8)}@example.com`) {
  const { prisma } = db;
  const circle = await prisma.careCircle.create({ data: { name: 'Armed dose family' } });
  await prisma.member.create({
    data: { careCircleId: circle.id, name: 'Carer', role: 'caregiver', timezone: 'UTC', userId: CARER },
  });
  const patient = await prisma.member.create({
    data: {
      careCircleId: circle.id,
      name: 'Pat',
      role: 'patient',
      timezone: 'UTC',
      email,
      pushTokens: { create: [{ token: `device-${randomUUID()}` }] },
    },
  });
  const id = randomUUID();
  const medication = await prisma.medication.create({
    data: {
      id,
      careCircleId: circle.id,
      patientId: patient.id,
      name: 'Metformin',
      dosage: '500 mg',
      schedule: {
        type: 'once',
        timezone: 'UTC',
        at: DateTime.fromMillis(due, { zone: 'UTC' }).toFormat("yyyy-LL-dd'T'HH:mm"),
      },
      workflowId: `medication:${id}`,
    },
  });
  await startWorkflow(env.client, medicationWorkflowStart(medication, taskQueue, LEAD_SECONDS));
  const armed: Armed = { medicationId: id, workflowId: medication.workflowId, patientId: patient.id, email };
  await pendingSend(armed, (a) => a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED);
  return armed;
}

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** The armed send as the server sees it, once `ready` holds for it. */
function pendingSend(armed: Armed, ready: (a: PendingActivity) => boolean, timeoutMs = due - Date.now()) {
  return waitFor(
    `the armed send of ${armed.medicationId}`,
    async () => {
      const d = await env.client.workflow.getHandle(armed.workflowId).describe();
      const send = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'remindDoseAtInstant');
      return send && ready(send) ? send : undefined;
    },
    timeoutMs,
  );
}

/** What the providers (the dev outbox) received for a medication's dose. */
async function outbox(armed: Armed) {
  const rows = await db.prisma.devOutboxMessage.findMany({
    where: { dedupeKey: { startsWith: `dose:${armed.medicationId}:` } },
  });
  return rows.map((r) => ({ channel: r.channel, dedupeKey: r.dedupeKey, lateMs: r.createdAt.getTime() - due }));
}

async function notifications(armed: Armed) {
  return db.prisma.notificationLog.findMany({ where: { medicationId: armed.medicationId, kind: 'dose_reminder' } });
}

/** Waits for the dose's push and email at the providers, and its in-app row; then checks nothing more comes. */
async function sentOnce(armed: Armed, timeoutMs: number) {
  const received = await waitFor(
    'the dose at the providers',
    async () => {
      const [rows, logs] = await Promise.all([outbox(armed), notifications(armed)]);
      return rows.length >= 2 && logs.length === 3 && logs.every((l) => l.status === 'sent') ? rows : undefined;
    },
    timeoutMs,
  );
  await new Promise((r) => setTimeout(r, 1_000));
  const again = await outbox(armed);
  expect(again.map((r) => r.channel).sort()).toEqual(['email', 'push']);
  expect(new Set(again.map((r) => r.dedupeKey)).size).toBe(2);
  return received;
}

/** Activity attempts as recorded in the history: which worker started each and how it ended. */
async function sendAttempts(armed: Armed) {
  const history = await env.client.workflow.getHandle(armed.workflowId).fetchHistory();
  const scheduled = new Set<string>();
  const attempts: { identity: string; attempt: number; outcome: string }[] = [];
  const started = new Map<string, { identity: string; attempt: number }>();
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'remindDoseAtInstant') scheduled.add(id);
    const s = e.activityTaskStartedEventAttributes;
    if (s && scheduled.has(String(s.scheduledEventId))) {
      started.set(String(s.scheduledEventId), { identity: s.identity ?? '', attempt: s.attempt ?? 0 });
    }
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    if (done && scheduled.has(String(done.scheduledEventId))) {
      const st = started.get(String(done.scheduledEventId))!;
      attempts.push({ ...st, outcome: e.activityTaskCompletedEventAttributes ? 'completed' : 'failed' });
    }
  }
  return attempts;
}

beforeAll(async () => {
  [env, db] = await Promise.all([createLocalEnv(), createTestDatabase(), workflowBundle()]);
  const { prisma } = db;
  faultyEmail = new FaultyEmail(new OutboxEmailSender(prisma));
  activities = createActivities({
    prisma,
    push: new OutboxPushSender(prisma),
    email: faultyEmail,
    doseSendConcurrency: 20,
  });
  const app = createApp({ prisma, temporal: env.client, taskQueue: queue, devOutbox: true, tokens: testTokens() });
  [carer, killed, stopped] = await Promise.all([
    asUser(app, CARER),
    startWorkerProcess(`armed-killed-${randomUUID()}`),
    startWorkerProcess(`armed-stopped-${randomUUID()}`),
    startWorker(queue),
  ]);
  due = Math.ceil((Date.now() + MARGIN_MS) / 60_000) * 60_000;
  expect(due - Date.now()).toBeLessThan(LEAD_SECONDS * 1000);
  for (const [name, run] of scenarios) {
    const outcome = run();
    outcome.catch(() => {}); // reported by its test
    outcomes.set(name, outcome);
  }
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  await Promise.allSettled(workers.map((w) => w.run));
  await env?.teardown();
  await db?.drop();
});

/** Cases that share the dose minute: all started in beforeAll, each reported by its own test. */
const scenarios = new Map<string, () => Promise<void>>();
const outcomes = new Map<string, Promise<void>>();
function scenario(name: string, run: () => Promise<void>) {
  scenarios.set(name, run);
  it(name, () => outcomes.get(name));
}

describe('a dose armed ahead of its instant', () => {
  for (const [change, act] of [
    ['a pause', (id: string) => carer.post(`/v1/medications/${id}/pause`)],
    [
      'an edit',
      (id: string) =>
        carer.patch(`/v1/medications/${id}`, {
          schedule: {
            type: 'once',
            at: DateTime.fromMillis(due + 3_600_000, { zone: 'UTC' }).toFormat("yyyy-LL-dd'T'HH:mm"),
          },
        }),
    ],
    ['a deletion', (id: string) => carer.delete(`/v1/medications/${id}`)],
  ] as const) {
    scenario(`is not sent after ${change} in the lead window`, async () => {
      const armed = await armMedication(queue);
      expect(Date.now()).toBeLessThan(due - 3_000);
      const res = await act(armed.medicationId);
      expect(res.status, await res.clone().text()).toBe(200);
      // The armed send stops before its instant (a deleted schedule's workflow ends with it).
      await waitFor(
        'the armed send cancelled',
        async () => {
          const d = await env.client.workflow.getHandle(armed.workflowId).describe();
          const send = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'remindDoseAtInstant');
          return !send || d.status.name !== 'RUNNING' ? true : undefined;
        },
        due - Date.now(),
      );
      await sleepUntil(due + ON_TIME_MS + 1_000);
      expect(await outbox(armed)).toEqual([]);
      expect((await notifications(armed)).filter((n) => n.status === 'sent')).toEqual([]);
    });
  }

  for (const [change, act] of [
    [
      'an edit that keeps its time',
      (id: string) =>
        carer.patch(`/v1/medications/${id}`, {
          schedule: {
            type: 'once',
            at: DateTime.fromMillis(due, { zone: 'UTC' }).toFormat("yyyy-LL-dd'T'HH:mm"),
          },
        }),
    ],
    [
      'a pause and a resume',
      async (id: string) => {
        const paused = await carer.post(`/v1/medications/${id}/pause`);
        expect(paused.status).toBe(200);
        return carer.post(`/v1/medications/${id}/resume`);
      },
    ],
  ] as const) {
    // The dose had not happened when the schedule changed: the changed schedule still has it.
    scenario(`is still sent once at the instant after ${change} in the lead window`, async () => {
      const armed = await armMedication(queue);
      expect(Date.now()).toBeLessThan(due - 3_000);
      const res = await act(armed.medicationId);
      expect(res.status, await res.clone().text()).toBe(200);
      const rows = await sentOnce(armed, due - Date.now() + 15_000);
      for (const r of rows) {
        expect(r.lateMs, r.channel).toBeGreaterThanOrEqual(0);
        expect(r.lateMs, r.channel).toBeLessThan(ON_TIME_MS);
      }
      expect((await notifications(armed)).filter((n) => n.status === 'sent')).toHaveLength(3);
    });
  }

  scenario('after pause and resume sent together many times and one last resume, is sent once', async () => {
    const armed = await armMedication(queue);
    const path = `/v1/medications/${armed.medicationId}`;
    for (let round = 0; round < 8; round++) {
      const answers = await Promise.all([carer.post(`${path}/pause`), carer.post(`${path}/resume`)]);
      for (const a of answers) expect(a.status, await a.clone().text()).toBe(200);
    }
    const last = await carer.post(`${path}/resume`);
    expect(last.status).toBe(200);
    // The row says what the workflow says: active, with the dose still to come.
    const shown = (await (await carer.get(path)).json()) as { status: string; nextDoseAt: string | null };
    expect(shown).toMatchObject({ status: 'active', nextDoseAt: new Date(due).toISOString() });
    expect(Date.now()).toBeLessThan(due);
    const rows = await sentOnce(armed, due - Date.now() + 15_000);
    for (const r of rows) expect(r.lateMs, r.channel).toBeLessThan(ON_TIME_MS);
  });

  scenario('untouched, is sent on every channel at the instant and not before', async () => {
    const armed = await armMedication(queue);
    const rows = await sentOnce(armed, due - Date.now() + 15_000);
    for (const r of rows) {
      expect(r.lateMs, r.channel).toBeGreaterThanOrEqual(0);
      expect(r.lateMs, r.channel).toBeLessThan(ON_TIME_MS);
    }
    const logs = await notifications(armed);
    expect(logs.map((l) => l.channel).sort()).toEqual(['email', 'in_app', 'push']);
    for (const l of logs) expect(l.sentAt!.getTime()).toBeGreaterThanOrEqual(due);
  });

  scenario(
    'armed on a worker process that is SIGKILLed, is sent once by another worker seconds after the instant',
    async () => {
      const armed = await armMedication(killed.taskQueue);
      const send = await pendingSend(armed, (a) => a.lastWorkerIdentity?.startsWith(`${killed.child.pid}@`) ?? false);
      expect(send.attempt).toBe(1);
      // The other worker is there all along (as in production); the dose waits in the one killed.
      const other = await startWorker(killed.taskQueue);
      await sleepUntil(due - 3_000);
      killed.child.kill('SIGKILL');
      expect((await killed.exited).signal).toBe('SIGKILL');

      // Noticed by the heartbeat timeout (15 s after the last heartbeat that reached the server,
      // which is at most 5 s before the kill): sent well within the 30-second goal.
      const rows = await sentOnce(armed, 30_000);
      for (const r of rows) {
        expect(r.lateMs, r.channel).toBeGreaterThanOrEqual(0);
        expect(r.lateMs, r.channel).toBeLessThan(20_000);
      }
      const attempts = await sendAttempts(armed);
      expect(attempts.at(-1)).toMatchObject({ outcome: 'completed', identity: other.options.identity });
      expect(attempts.at(-1)!.attempt).toBeGreaterThanOrEqual(2);
    },
  );

  scenario(
    'armed on a worker process that is SIGTERMed, is handed over at once and sent once at the instant',
    async () => {
      const armed = await armMedication(stopped.taskQueue);
      await pendingSend(armed, (a) => a.lastWorkerIdentity?.startsWith(`${stopped.child.pid}@`) ?? false);
      const other = await startWorker(stopped.taskQueue);
      const sigtermAt = Date.now();
      stopped.child.kill('SIGTERM');
      const exit = await stopped.exited;
      expect(exit).toMatchObject({ code: 0, signal: null });
      // At once: not after the lead, nor after the grace time (120 s here).
      expect(exit.at - sigtermAt).toBeLessThan(5_000);
      expect(exit.at).toBeLessThan(due);
      expect(stopped.logs.find((l) => l.msg === 'activity attempt failed')).toMatchObject({
        activityType: 'remindDoseAtInstant',
        errorType: WORKER_DRAINING,
        willRetry: true,
      });

      const rows = await sentOnce(armed, due - Date.now() + 15_000);
      for (const r of rows) {
        expect(r.lateMs, r.channel).toBeGreaterThanOrEqual(0);
        expect(r.lateMs, r.channel).toBeLessThan(ON_TIME_MS);
      }
      // Retried attempts leave no events: the history holds the one that completed. (On a starved
      // machine a heartbeat can miss its timeout before the stop, which adds an attempt.)
      expect(await sendAttempts(armed)).toEqual([
        { identity: other.options.identity, attempt: expect.any(Number), outcome: 'completed' },
      ]);
      expect(
        stopped.logs.filter((l) => l.msg === 'activity attempt completed' && l.activityType === 'remindDoseAtInstant'),
      ).toEqual([]);
    },
  );
});

describe('a provider failing on one channel of an armed dose', () => {
  const email = (label: string) => `${label}-${randomUUID().slice(0, 8)}@example.com`;

  scenario('permanently: that channel becomes a dead letter, the others go out at the instant', async () => {
    const address = email('rejected');
    emailFaults.set(address, () => new DeliveryError('422 validation_error: invalid recipient', true, '422'));
    const armed = await armMedication(queue, address);
    const push = await waitFor(
      'the push at the instant',
      async () => (await outbox(armed)).find((r) => r.channel === 'push'),
      due - Date.now() + 15_000,
    );
    expect(push.lateMs).toBeGreaterThanOrEqual(0);
    expect(push.lateMs).toBeLessThan(ON_TIME_MS);
    const dead = await waitFor(
      'the dead letter',
      async () =>
        (
          await db.prisma.deadLetter.findMany({ where: { dedupeKey: { startsWith: `dose:${armed.medicationId}:` } } })
        )[0],
      10_000,
    );
    expect(dead).toMatchObject({ channel: 'email', errorType: 'PermanentDeliveryError', status: 'open' });
    const logs = await notifications(armed);
    expect(Object.fromEntries(logs.map((l) => [l.channel, l.status]))).toEqual({
      push: 'sent',
      in_app: 'sent',
      email: 'failed',
    });
    expect((await outbox(armed)).map((r) => r.channel)).toEqual(['push']);
    // A permanent failure is not retried: one call to the provider, and the send completed.
    await waitFor('the send completed', async () => ((await sendAttempts(armed)).length ? true : undefined), 10_000);
    expect(await sendAttempts(armed)).toEqual([expect.objectContaining({ outcome: 'completed' })]);
    expect(faultyEmail.calls.get(logs.find((l) => l.channel === 'email')!.dedupeKey)).toBe(1);
  });

  scenario("transiently with a Retry-After: the channel is tried again after the provider's delay, once", async () => {
    const address = email('throttled');
    emailFaults.set(address, (call) =>
      call === 1 ? new DeliveryError('429 rate_limit_exceeded', false, '429', 3_000) : undefined,
    );
    const armed = await armMedication(queue, address);
    const rows = await sentOnce(armed, due - Date.now() + 20_000);
    const late = Object.fromEntries(rows.map((r) => [r.channel, r.lateMs]));
    expect(late.push).toBeGreaterThanOrEqual(0);
    expect(late.push).toBeLessThan(ON_TIME_MS);
    expect(late.email).toBeGreaterThanOrEqual(3_000);
    expect(late.email).toBeLessThan(3_000 + ON_TIME_MS + 2_000);
    const emailLog = (await notifications(armed)).find((l) => l.channel === 'email')!;
    expect(emailLog.attempts).toBe(2);
    expect(faultyEmail.calls.get(emailLog.dedupeKey)).toBe(2);
    expect(await sendAttempts(armed)).toEqual([expect.objectContaining({ outcome: 'completed' })]);
  });

  scenario('transiently without a Retry-After: the next attempt waits the medication delay (4–6 minutes)', async () => {
    const address = email('unavailable');
    emailFaults.set(address, () => new DeliveryError('503 internal_server_error', false, '503'));
    const armed = await armMedication(queue, address);
    const retry = await pendingSend(
      armed,
      (a) =>
        a.state === PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED &&
        a.lastFailure?.applicationFailureInfo?.type === TRANSIENT_DELIVERY_ERROR,
      due - Date.now() + 15_000,
    );
    expect(retry.attempt).toBeGreaterThanOrEqual(2);
    const delayMs = tsMs(retry.nextAttemptScheduleTime) - tsMs(retry.lastAttemptCompleteTime);
    expect(delayMs).toBeGreaterThanOrEqual(4 * 60_000);
    expect(delayMs).toBeLessThanOrEqual(6 * 60_000);
    // Meanwhile the other channels went out at the instant.
    const rows = await outbox(armed);
    expect(rows.map((r) => r.channel)).toEqual(['push']);
    expect(rows[0]!.lateMs).toBeGreaterThanOrEqual(0);
    expect(rows[0]!.lateMs).toBeLessThan(ON_TIME_MS);
    const logs = await notifications(armed);
    expect(Object.fromEntries(logs.map((l) => [l.channel, l.status]))).toEqual({
      push: 'sent',
      in_app: 'sent',
      email: 'pending',
    });
    expect(logs.find((l) => l.channel === 'email')).toMatchObject({ attempts: 1, error: '503 internal_server_error' });
    // Deleting the medication ends the wait for the retry: the email never goes out.
    expect((await carer.delete(`/v1/medications/${armed.medicationId}`)).status).toBe(200);
    await waitFor(
      'the retry cancelled',
      async () => {
        const d = await env.client.workflow.getHandle(armed.workflowId).describe();
        return !d.raw.pendingActivities?.length || d.status.name !== 'RUNNING' ? true : undefined;
      },
      10_000,
    );
    expect((await outbox(armed)).map((r) => r.channel)).toEqual(['push']);
  });
});
