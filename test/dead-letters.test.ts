/**
 * Dead letters end to end on the time-skipping server with the real activities, PostgreSQL and the
 * real Resend SDK against the fake provider server: a delivery that fails for good becomes a dead
 * letter and the batch carries on; the operator API lists, counts, inspects, retries (a workflow on
 * the dead-letters queue re-runs the delivery, once) and discards, for operators only.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import { createApp } from '../api/app.ts';
import { OutboxPushSender } from '../providers/dev-outbox.ts';
import { ResendEmailSender } from '../providers/resend-email.ts';
import { loadConfig } from '../shared/config.ts';
import { doseDedupeKey } from '../shared/ids.ts';
import { taskQueueSettings, TASK_QUEUES, type Workload } from '../shared/task-queues.ts';
import { buildWorkers } from '../workers/build.ts';
import { createTestDatabase, seedPatientWithMedication, type TestDatabase } from './helpers/database.ts';
import { startFakeProviders, type FakeProviders } from './fakes/provider-server.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { testWorkflowsPath, workflowBundle } from './helpers/workers.ts';

const testWorkflows = testWorkflowsPath('delivery');
const API_KEY = 're_test_key';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let fake: FakeProviders;
let workers: Worker[];
let app: ReturnType<typeof createApp>;
/** An operator (the operator role), who may use the dead-letter API. */
let ops: UserClient;
let running: Promise<unknown>;
let seeded: Awaited<ReturnType<typeof seedPatientWithMedication>>;

beforeAll(async () => {
  [env, db, fake] = await Promise.all([createTimeSkippingEnv(), createTestDatabase(), startFakeProviders()]);
  const activities = createActivities({
    prisma: db.prisma,
    push: new OutboxPushSender(db.prisma),
    email: new ResendEmailSender(API_KEY, 'CareCircle <reminders@carecircle.test>', fake.resend.baseUrl),
  });
  // The application's workflows plus the test's batch workflow, on the real task queues.
  const [appBundle, testBundle] = await Promise.all([workflowBundle(), workflowBundle(testWorkflows)]);
  const settings = taskQueueSettings(loadConfig({}));
  const workloads: Workload[] = ['notifications', 'email', 'deadLetters'];
  workers = [
    ...(await buildWorkers({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      settings,
      workloads,
      activities,
      workflowBundle: appBundle,
    })),
    ...(await buildWorkers({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      settings: { ...settings, medication: { ...settings.medication, name: 'dl-test-workflows' } },
      workloads: ['medication'],
      activities,
      workflowBundle: testBundle,
    })),
  ];
  running = Promise.all(workers.map((w) => w.run()));
  app = createApp({
    prisma: db.prisma,
    temporal: env.client,
    taskQueue: 'unused',
    devOutbox: false,
    tokens: testTokens(),
  });
  ops = await asUser(app, 'ops-1', { operator: true });
}, 180_000);

afterAll(async () => {
  for (const w of workers ?? []) w.shutdown();
  await running;
  await Promise.all([env?.teardown(), db?.drop(), fake?.close()]);
});

beforeEach(async () => {
  fake.reset();
  await db.prisma.deadLetter.deleteMany();
  await db.prisma.notificationLog.deleteMany();
  seeded ??= await seedPatientWithMedication(db.prisma);
});

let doses = 0;
/**
 * A pending notification for the seeded patient on `channel`, as planDoseReminder writes it, for a
 * dose a few seconds ago (a reminder past its dose's window is not retried: dead-letter-stale-doses).
 */
async function pendingNotification(channel: 'email' | 'push' | 'in_app'): Promise<string> {
  const doseAt = new Date(Math.floor(Date.now() / 1000) * 1000 - ++doses * 1000);
  const dedupeKey = doseDedupeKey(seeded.medication.id, doseAt, seeded.patient.id, channel);
  await db.prisma.notificationLog.create({
    data: {
      dedupeKey,
      kind: 'dose_reminder',
      recipientId: seeded.patient.id,
      channel,
      medicationId: seeded.medication.id,
      doseAt,
      title: 'Time for Lisinopril',
      body: '10 mg',
    },
  });
  return dedupeKey;
}

let runs = 0;
async function deliverBatch(keys: string[]) {
  const handle = await env.client.workflow.start('deliverBatchWorkflow', {
    taskQueue: 'dl-test-workflows',
    workflowId: `dl-batch-${++runs}`,
    args: [{ keys, opts: { kind: 'medication' } }],
  });
  return { handle, outcomes: (await handle.result()) as { dedupeKey: string; status: string }[] };
}

const post = (path: string) => ops.request(path, { method: 'POST' });
const json = async <T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> =>
  (await (await res).json()) as T;
type Page = { items: { id: string }[]; nextCursor: string | null };

describe('a delivery that fails for good', () => {
  it('becomes a dead letter with what, whom, error, attempts, workflow and run; the batch carries on', async () => {
    const email = await pendingNotification('email');
    const inApp = await pendingNotification('in_app');
    fake.resend.failNext({ kind: 'status', status: 422, name: 'validation_error', message: 'Invalid `to` field.' });

    const { handle, outcomes } = await deliverBatch([email, inApp]);

    expect(outcomes.map((o) => o.status)).toEqual(['dead_lettered', 'sent']);
    const [dead] = await db.prisma.deadLetter.findMany();
    expect(dead).toMatchObject({
      kind: 'dose_reminder',
      dedupeKey: email,
      recipientId: seeded.patient.id,
      channel: 'email',
      errorType: 'PermanentDeliveryError',
      attempts: 1,
      workflowId: handle.workflowId,
      status: 'open',
    });
    expect(dead!.error).toContain('422');
    expect(dead!.runId).toBe((await handle.describe()).runId);
    expect(fake.resend.requests).toHaveLength(1); // 4xx: not retried
    expect((await db.prisma.notificationLog.findUnique({ where: { dedupeKey: email } }))!.status).toBe('failed');
  });
});

describe('the operator API', () => {
  async function deadLetterFor(channel: 'email' = 'email'): Promise<string> {
    const key = await pendingNotification(channel);
    fake.resend.failNext(400);
    await deliverBatch([key]);
    return (await db.prisma.deadLetter.findFirstOrThrow({ where: { dedupeKey: key } })).id;
  }

  it('lists, counts and inspects open dead letters', async () => {
    const id = await deadLetterFor();
    const list = await json<Page>(ops.get('/v1/dead-letters?status=open'));
    expect(list.items.map((d: { id: string }) => d.id)).toEqual([id]);
    expect(list.nextCursor).toBeNull();
    expect(await json(ops.get('/v1/dead-letters/count'))).toEqual({
      open: 1,
      retrying: 0,
      openByKind: { dose_reminder: 1 },
    });
    expect(await json(ops.get(`/v1/dead-letters/${id}`))).toMatchObject({
      id,
      status: 'open',
      channel: 'email',
      errorType: 'PermanentDeliveryError',
      notification: { channel: 'email', status: 'failed', title: 'Time for Lisinopril' },
    });
  });

  it('retry re-runs the delivery once, on the dead-letters queue, and resolves the dead letter', async () => {
    const id = await deadLetterFor();
    const res = await post(`/v1/dead-letters/${id}/retry`);
    expect(res.status).toBe(202);
    const { workflowId } = await json<{ workflowId: string }>(res);
    expect(workflowId).toBe(`dead-letter-retry:${id}:1`);
    const handle = env.client.workflow.getHandle(workflowId);
    expect(await handle.result()).toEqual({ status: 'delivered', detail: 'sent' });
    expect((await handle.describe()).taskQueue).toBe(TASK_QUEUES.deadLetters);

    const dead = await db.prisma.deadLetter.findUniqueOrThrow({ where: { id } });
    expect(dead).toMatchObject({ status: 'retried', retryCount: 1, retryWorkflowId: workflowId });
    expect(dead.resolvedAt).not.toBeNull();
    expect(fake.resend.sent).toHaveLength(1);
    const log = await db.prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: dead.dedupeKey! } });
    expect(log.status).toBe('sent');

    // Resolved: a second retry or a discard is refused, and nothing is sent again.
    expect((await post(`/v1/dead-letters/${id}/retry`)).status).toBe(409);
    expect((await post(`/v1/dead-letters/${id}/discard`)).status).toBe(409);
    expect(fake.resend.sent).toHaveLength(1);
  });

  it('a retry that fails again leaves the dead letter open with the new error', async () => {
    const id = await deadLetterFor();
    fake.resend.failNext({ kind: 'status', status: 403, name: 'invalid_api_key', message: 'API key is invalid.' });
    const { workflowId } = await json<{ workflowId: string }>(post(`/v1/dead-letters/${id}/retry`));
    expect(await env.client.workflow.getHandle(workflowId).result()).toMatchObject({
      status: 'failed',
      errorType: 'PermanentDeliveryError',
    });
    const dead = await db.prisma.deadLetter.findUniqueOrThrow({ where: { id } });
    expect(dead).toMatchObject({ status: 'open', retryCount: 1 });
    expect(dead.error).toContain('403');
    expect(await db.prisma.deadLetter.count()).toBe(1); // the same dead letter, not a new one
  });

  it('a retry of a notification sent meanwhile sends nothing', async () => {
    const id = await deadLetterFor();
    const dead = await db.prisma.deadLetter.findUniqueOrThrow({ where: { id } });
    await db.prisma.notificationLog.update({ where: { dedupeKey: dead.dedupeKey! }, data: { status: 'sent' } });
    const { workflowId } = await json<{ workflowId: string }>(post(`/v1/dead-letters/${id}/retry`));
    expect(await env.client.workflow.getHandle(workflowId).result()).toEqual({
      status: 'nothing_to_deliver',
      reason: 'already_sent',
    });
    expect(fake.resend.sent).toHaveLength(0);
    expect((await db.prisma.deadLetter.findUniqueOrThrow({ where: { id } })).status).toBe('retried');
  });

  it('discard closes an open dead letter and the open count drops', async () => {
    const id = await deadLetterFor();
    const res = await post(`/v1/dead-letters/${id}/discard`);
    expect(res.status).toBe(200);
    expect((await json(res)).status).toBe('discarded');
    expect((await json(ops.get('/v1/dead-letters/count'))).open).toBe(0);
    expect((await post(`/v1/dead-letters/${id}/retry`)).status).toBe(409);
  });

  it('pages with an opaque cursor, newest first, each item once', async () => {
    const base = Date.UTC(2026, 5, 1);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const row = await db.prisma.deadLetter.create({
        data: {
          kind: 'dose_reminder',
          payload: {},
          error: `e${i}`,
          attempts: 2,
          workflowId: 'w',
          runId: 'r',
          // Two share a timestamp: the id breaks the tie.
          createdAt: new Date(base + Math.min(i, 3) * 1000),
        },
      });
      ids.push(row.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const page: Page = await json<Page>(ops.get(`/v1/dead-letters?limit=2${query}`));
      seen.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(5);
    expect(seen.slice(2)).toEqual(expect.arrayContaining([ids[0], ids[1]]));
  });

  it('refuses to retry a dead letter that names no notification or document (422), leaving it open', async () => {
    const row = await db.prisma.deadLetter.create({
      data: {
        kind: 'document_upload',
        dedupeKey: 'document:00000000-0000-4000-8000-000000000001',
        payload: {},
        error: 'Cloudinary 500',
        attempts: 5,
        workflowId: 'document:1',
        runId: 'r',
      },
    });
    const res = await post(`/v1/dead-letters/${row.id}/retry`);
    expect(res.status).toBe(422);
    expect((await json(res)).type).toBe('urn:carecircle:problem:not-retryable');
    expect((await db.prisma.deadLetter.findUniqueOrThrow({ where: { id: row.id } })).status).toBe('open');
  });

  it('starts a retry of a failed document upload (the upload itself: document-upload.test.ts)', async () => {
    const circle = await db.prisma.careCircle.create({ data: { name: 'Docs family' } });
    const doc = await db.prisma.document.create({
      data: {
        careCircleId: circle.id,
        filename: 'scan.pdf',
        contentType: 'application/pdf',
        sizeBytes: 4,
        sha256: 'x',
        status: 'failed',
        workflowId: 'document:x',
        blob: { create: { data: new Uint8Array([1, 2, 3, 4]) } },
      },
    });
    const row = await db.prisma.deadLetter.create({
      data: {
        kind: 'document_upload',
        dedupeKey: `document:${doc.id}`,
        payload: { documentId: doc.id },
        error: 'Cloudinary 503',
        attempts: 5,
        workflowId: `document:${doc.id}`,
        runId: 'r',
      },
    });
    const res = await post(`/v1/dead-letters/${row.id}/retry`);
    expect(res.status).toBe(202);
    const workflowId = `dead-letter-retry:${row.id}:1`;
    expect(await json(res)).toEqual({ id: row.id, status: 'retrying', workflowId });
    expect(await db.prisma.deadLetter.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      status: 'retrying',
      retryCount: 1,
      retryWorkflowId: workflowId,
    });
    // No document worker runs in this file: stop the retry so it does not outlive the test.
    await env.client.workflow.getHandle(workflowId).terminate('test done');
  });

  it('answers 400 for a bad cursor, status or limit and 404 for an unknown id', async () => {
    const badCursor = await ops.get('/v1/dead-letters?cursor=nonsense');
    expect(badCursor.status).toBe(400);
    expect((await json(badCursor)).type).toBe('urn:carecircle:problem:invalid-cursor');
    expect((await ops.get('/v1/dead-letters?status=lost')).status).toBe(400);
    expect((await ops.get('/v1/dead-letters?limit=101')).status).toBe(400);
    expect((await ops.get('/v1/dead-letters/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await post('/v1/dead-letters/not-a-uuid/retry')).status).toBe(404);
  });
});

describe('who may use it', () => {
  it('refuses a signed-in user without the operator role (403), and changes nothing', async () => {
    const key = await pendingNotification('email');
    fake.resend.failNext(400);
    await deliverBatch([key]);
    const before = await db.prisma.deadLetter.findFirstOrThrow({ where: { dedupeKey: key } });
    // A caregiver of a real circle is still not an operator.
    const carol = await asUser(app, 'carol');
    expect((await carol.post('/v1/care-circles', { name: 'Carol family' })).status).toBe(201);

    for (const res of [
      await carol.get('/v1/dead-letters'),
      await carol.get('/v1/dead-letters?status=open'),
      await carol.get('/v1/dead-letters/count'),
      await carol.get(`/v1/dead-letters/${before.id}`),
      await carol.request(`/v1/dead-letters/${before.id}/retry`, { method: 'POST' }),
      await carol.request(`/v1/dead-letters/${before.id}/discard`, { method: 'POST' }),
    ]) {
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const problem = await json(res);
      expect(problem.type).toBe('urn:carecircle:problem:forbidden');
      expect(JSON.stringify(problem)).not.toContain(before.id);
    }
    // Checked before anything else: even an invalid query is refused, not validated.
    expect((await carol.get('/v1/dead-letters?status=lost')).status).toBe(403);

    const after = await db.prisma.deadLetter.findUniqueOrThrow({ where: { id: before.id } });
    expect(after).toEqual(before);
    expect(after).toMatchObject({ status: 'open', retryCount: 0, retryWorkflowId: null });
    expect(fake.resend.sent).toHaveLength(0);
  });

  it('refuses a request without a token (401)', async () => {
    const res = await app.request('/v1/dead-letters');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    expect((await app.request('/v1/dead-letters/count')).status).toBe(401);
  });
});
