/**
 * The real provider SDKs under Temporal's retries, on the time-skipping server with the real
 * activities and PostgreSQL: Resend (its SDK against the fake provider server) is retried through
 * 5xx and 429 (after its Retry-After) and stopped by 4xx; FCM (the stub at the adapter boundary) is
 * retried on server errors and stopped by an unregistered token. And the circuit breaker: after
 * consecutive failures calls fail fast without reaching the provider, then a trial call closes it.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import {
  CircuitBreakingEmailSender,
  CircuitBreakingPushSender,
  CircuitOpenError,
  resetCircuits,
} from '../providers/circuit-breaker.ts';
import { FcmPushSender } from '../providers/fcm-push.ts';
import { ResendEmailSender } from '../providers/resend-email.ts';
import { DeliveryError, type EmailSender } from '../providers/types.ts';
import { circuitStates } from '../shared/metrics.ts';
import { createTestDatabase, seedPatientWithMedication, type TestDatabase } from './helpers/database.ts';
import { createFcmStub, type FcmStub } from './fakes/fcm-stub.ts';
import { startFakeProviders, type FakeProviders } from './fakes/provider-server.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { createWorker, testWorkflowsPath } from './helpers/workers.ts';

const TASK_QUEUE = 'provider-retries';
const API_KEY = 're_test_key';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let fake: FakeProviders;
let fcm: FcmStub;
let worker: Worker;
let running: Promise<void>;
let seeded: Awaited<ReturnType<typeof seedPatientWithMedication>>;
/** Server-clock time of every call to Resend. */
let emailCalls: number[] = [];

beforeAll(async () => {
  [env, db, fake] = await Promise.all([createTimeSkippingEnv(), createTestDatabase(), startFakeProviders()]);
  fcm = createFcmStub();
  const resend = new ResendEmailSender(API_KEY, 'CareCircle <reminders@carecircle.test>', fake.resend.baseUrl);
  const timedEmail: EmailSender = {
    name: resend.name,
    async send(message, key) {
      emailCalls.push(await env.currentTimeMs());
      return resend.send(message, key);
    },
  };
  worker = await createWorker(env, {
    taskQueue: TASK_QUEUE,
    workflows: testWorkflowsPath('delivery'),
    activities: createActivities({ prisma: db.prisma, push: new FcmPushSender(fcm), email: timedEmail }),
  });
  running = worker.run();
  seeded = await seedPatientWithMedication(db.prisma, { pushTokens: ['device-1'] });
}, 180_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await Promise.all([env?.teardown(), db?.drop(), fake?.close()]);
});

beforeEach(() => {
  fake.reset();
  fcm.clear();
  emailCalls = [];
});

let doses = 0;
async function deliver(channel: 'email' | 'push') {
  const dedupeKey = `notice:${++doses}:${seeded.patient.id}:${channel}`;
  await db.prisma.notificationLog.create({
    data: {
      dedupeKey,
      kind: 'notification',
      recipientId: seeded.patient.id,
      channel,
      title: 'Family dinner moved',
      body: 'Sunday 18:00',
    },
  });
  // The replaced design's policy for notifications: 3 attempts, exponential (1 min, 2 min).
  const [outcome] = (await env.client.workflow.execute('deliverBatchWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: `provider-${doses}`,
    args: [{ keys: [dedupeKey], opts: { kind: 'notification', taskQueue: TASK_QUEUE } }],
  })) as { status: string; errorType?: string }[];
  const log = await db.prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey } });
  return { dedupeKey, outcome: outcome!, log };
}

const minutesBetween = (times: number[]) => times.slice(1).map((t, i) => (t - times[i]!) / 60_000);

describe('Resend, through its SDK and the fake provider server', () => {
  it('is retried through 5xx with backoff and sends one email (one idempotency key)', async () => {
    fake.resend.failNext(500);
    fake.resend.failNext({ kind: 'status', status: 503, rawBody: 'upstream unavailable' });
    const { dedupeKey, outcome, log } = await deliver('email');
    expect(outcome.status).toBe('sent');
    expect(log).toMatchObject({ status: 'sent', provider: 'resend', attempts: 3 });
    expect(fake.resend.requests).toHaveLength(3);
    expect(new Set(fake.resend.requests.map((r) => r.headers['idempotency-key']))).toEqual(new Set([dedupeKey]));
    expect(fake.resend.sent).toHaveLength(1);
    const [first, second] = minutesBetween(emailCalls);
    expect(first).toBeGreaterThanOrEqual(0.8 - 0.02);
    expect(first).toBeLessThanOrEqual(1.2 + 0.02);
    expect(second).toBeGreaterThanOrEqual(1.6 - 0.02);
    expect(second).toBeLessThanOrEqual(2.4 + 0.02);
  });

  it("is retried after a 429's Retry-After, not the policy's delay", async () => {
    fake.resend.failNext({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });
    const { outcome } = await deliver('email');
    expect(outcome.status).toBe('sent');
    expect(fake.resend.requests).toHaveLength(2);
    expect(Math.round((emailCalls[1]! - emailCalls[0]!) / 1000)).toBe(7);
  });

  it.each([400, 403, 404, 422])('is stopped by %i: one request, a dead letter', async (status) => {
    fake.resend.failNext(status);
    const { outcome, log } = await deliver('email');
    expect(outcome).toMatchObject({ status: 'dead_lettered', errorType: 'PermanentDeliveryError' });
    expect(fake.resend.requests).toHaveLength(1);
    expect(log.status).toBe('failed');
    expect(await db.prisma.deadLetter.count({ where: { dedupeKey: log.dedupeKey } })).toBe(1);
  });

  it('gives up after 3 attempts of 5xx: a dead letter with the last error', async () => {
    fake.resend.failNext(500, 3);
    const { outcome, log } = await deliver('email');
    expect(outcome).toMatchObject({ status: 'dead_lettered', errorType: 'TransientDeliveryError' });
    expect(fake.resend.requests).toHaveLength(3);
    expect(fake.resend.sent).toHaveLength(0);
    const dead = await db.prisma.deadLetter.findFirstOrThrow({ where: { dedupeKey: log.dedupeKey } });
    expect(dead).toMatchObject({ attempts: 3, errorType: 'TransientDeliveryError' });
  });
});

describe('FCM, through the stub at the adapter boundary', () => {
  it('is retried on server-unavailable and on a network failure', async () => {
    fcm.failNext('messaging/server-unavailable');
    fcm.failNext('network');
    const { outcome } = await deliver('push');
    expect(outcome.status).toBe('sent');
    expect(fcm.calls).toHaveLength(3);
    expect(fcm.delivered).toHaveLength(1);
  });

  it('is stopped by an unregistered token, which is deactivated', async () => {
    fcm.failToken('device-1', 'messaging/registration-token-not-registered');
    const { outcome } = await deliver('push');
    expect(outcome).toMatchObject({ status: 'dead_lettered', errorType: 'PermanentDeliveryError' });
    expect(fcm.calls).toHaveLength(1);
    expect((await db.prisma.pushToken.findFirstOrThrow({ where: { token: 'device-1' } })).active).toBe(false);
    await db.prisma.pushToken.updateMany({ where: { token: 'device-1' }, data: { active: true, deactivatedAt: null } });
  });

  it('is stopped by an invalid payload', async () => {
    fcm.failNext('messaging/invalid-payload');
    const { outcome } = await deliver('push');
    expect(outcome).toMatchObject({ status: 'dead_lettered', errorType: 'PermanentDeliveryError' });
    expect(fcm.calls).toHaveLength(1);
  });
});

describe('the circuit breaker', () => {
  beforeEach(() => resetCircuits());
  const message = { to: 'ada@example.com', subject: 'Hello', text: 'Hi' };

  it('opens after consecutive failures, then fails fast without calling the provider', async () => {
    fake.resend.respondWith(() => 503);
    const email = new CircuitBreakingEmailSender(
      new ResendEmailSender(API_KEY, 'a@carecircle.test', fake.resend.baseUrl),
      { failures: 3, openMs: 60_000 },
      'resend-outage',
    );
    for (let i = 0; i < 3; i++) {
      await expect(email.send(message, `k${i}`)).rejects.toMatchObject({ permanent: false, code: '503' });
    }
    const started = performance.now();
    const err = await email.send(message, 'k4').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CircuitOpenError);
    expect(err).toMatchObject({ permanent: false, code: 'circuit_open' });
    expect((err as DeliveryError).retryAfterMs).toBeGreaterThan(50_000);
    expect(performance.now() - started).toBeLessThan(50);
    expect(fake.resend.requests).toHaveLength(3); // the fourth never reached Resend
    expect(circuitStates()['resend-outage']?.state).toBe('open');
  });

  it('half-opens after its open time; a successful trial call closes it', async () => {
    fake.resend.respondWith(() => 500);
    const email = new CircuitBreakingEmailSender(
      new ResendEmailSender(API_KEY, 'a@carecircle.test', fake.resend.baseUrl),
      { failures: 2, openMs: 200 },
      'resend-recovers',
    );
    await email.send(message, 'a').catch(() => {});
    await email.send(message, 'b').catch(() => {});
    await expect(email.send(message, 'c')).rejects.toBeInstanceOf(CircuitOpenError);
    fake.resend.respondWith(null);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await expect(email.send(message, 'd')).resolves.toMatchObject({ messageId: expect.any(String) });
    expect(circuitStates()['resend-recovers']?.state).toBe('closed');
    expect(fake.resend.sent).toHaveLength(1);
  });

  it('does not count permanent failures (a bad address says nothing about the provider)', async () => {
    fake.resend.respondWith(() => 422);
    const email = new CircuitBreakingEmailSender(
      new ResendEmailSender(API_KEY, 'a@carecircle.test', fake.resend.baseUrl),
      { failures: 2, openMs: 60_000 },
      'resend-bad-addresses',
    );
    for (let i = 0; i < 5; i++) {
      await expect(email.send(message, `p${i}`)).rejects.toMatchObject({ permanent: true });
    }
    expect(fake.resend.requests).toHaveLength(5);
    expect(circuitStates()['resend-bad-addresses']?.state).toBe('closed');
  });

  it('counts a push batch in which every token hit a server error', async () => {
    const push = new CircuitBreakingPushSender(new FcmPushSender(fcm), { failures: 2, openMs: 60_000 }, 'fcm-outage');
    fcm.failNext('messaging/internal-error', 2);
    for (let i = 0; i < 2; i++) {
      const [result] = await push.send(['device-1'], { title: 't', body: 'b' }, `push-${i}`);
      expect(result).toMatchObject({ ok: false, unregistered: false });
    }
    await expect(push.send(['device-1'], { title: 't', body: 'b' }, 'push-3')).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fcm.calls).toHaveLength(2);
  });
});
