/**
 * The replaced design's retry table on Temporal's time-skipping test server: each kind's attempts and the
 * (jittered) delays between them, read from the server's own clock, plus Retry-After, permanent
 * failures and an open circuit breaker. The failures are made by the real decision tree
 * (activities/retry.ts) from the errors the provider adapters throw.
 */
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toActivityFailure } from '../activities/retry.ts';
import { CircuitOpenError } from '../providers/circuit-breaker.ts';
import { DeliveryError } from '../providers/types.ts';
import { backoffDelayMs, JITTER_RATIO, RETRY_POLICIES, type ActivityKind } from '../shared/retry-policies.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { createWorker, mockActivities, testWorkflowsPath, workflowBundle } from './helpers/workers.ts';

const testWorkflows = testWorkflowsPath('delivery');
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  [env] = await Promise.all([createTimeSkippingEnv(), workflowBundle(testWorkflows)]);
}, 120_000);
afterAll(async () => {
  await env?.teardown();
});

let queues = 0;
const MINUTE = 60_000;

/**
 * Runs retryProbeWorkflow with `kind`'s policy; the probe fails with `fail(attempt)` (or succeeds
 * when it returns undefined). Returns the times the attempts ran, on the server's clock.
 */
async function probe(
  kind: ActivityKind,
  fail: (attempt: number) => unknown,
  random: () => number = Math.random,
): Promise<{ times: number[]; result: { ok: boolean; errorType: string | null } }> {
  const taskQueue = `retry-${++queues}`;
  const times: number[] = [];
  const worker = await createWorker(env, {
    taskQueue,
    workflows: testWorkflows,
    activities: {
      async probe() {
        const info = Context.current().info;
        // The test server's (skipped) clock; currentAttemptScheduledTimestampMs there is when the
        // retry was decided, not when it became due.
        times.push(await env.currentTimeMs());
        const err = fail(info.attempt);
        if (err !== undefined) throw toActivityFailure(err, { random, fallbackPolicy: RETRY_POLICIES[kind] });
      },
    },
  });
  const result = await worker.runUntil(
    env.client.workflow.execute('retryProbeWorkflow', {
      taskQueue,
      workflowId: `probe-${queues}`,
      args: [{ kind, taskQueue }],
    }),
  );
  return { times, result };
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);
const serverError = () => new DeliveryError('Resend rejected the email (503)', false, '503');

describe('each kind retries transient failures as the replaced design says, with jitter', () => {
  const table: [ActivityKind, number, number[]][] = [
    ['notification', 3, [1 * MINUTE, 2 * MINUTE]],
    ['medication', 2, [5 * MINUTE]],
    ['appointment', 3, [15 * MINUTE, 15 * MINUTE]],
    ['shift', 3, [15 * MINUTE, 15 * MINUTE]],
    ['document', 5, [1 * MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE]],
  ];
  it.each(table)('%s: %i attempts, delays %j ± 20 %%', async (kind, attempts, delays) => {
    const { times, result } = await probe(kind, serverError);
    expect(result).toEqual({ ok: false, errorType: 'TransientDeliveryError' });
    expect(times).toHaveLength(attempts);
    const measured = gaps(times);
    measured.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(delays[i]! * (1 - JITTER_RATIO) - 1000);
      expect(gap).toBeLessThanOrEqual(delays[i]! * (1 + JITTER_RATIO) + 1000);
    });
    // The policy's own delays are the replaced design's.
    expect(delays.map((_, i) => backoffDelayMs(RETRY_POLICIES[kind], i + 1))).toEqual(delays);
  });

  it('the jitter is applied by the activity: the lowest draw gives 80 % of the delay, the highest 120 %', async () => {
    const low = await probe('medication', serverError, () => 0);
    const high = await probe('medication', serverError, () => 0.999_999);
    expect(gaps(low.times)[0]).toBeGreaterThanOrEqual(4 * MINUTE - 1000);
    expect(gaps(low.times)[0]).toBeLessThanOrEqual(4 * MINUTE + 1000);
    expect(gaps(high.times)[0]).toBeGreaterThanOrEqual(6 * MINUTE - 1000);
    expect(gaps(high.times)[0]).toBeLessThanOrEqual(6 * MINUTE + 1000);
  });
});

describe('the decision tree', () => {
  it("a provider's Retry-After replaces the policy's delay", async () => {
    const { times } = await probe('appointment', () => new DeliveryError('429', false, '429', 90_000));
    expect(gaps(times).map((g) => Math.round(g / 1000))).toEqual([90, 90]);
  });

  it.each([
    ['400 from a provider', new DeliveryError('400 validation_error', true, '400')],
    ['403 from a provider', new DeliveryError('403 invalid_api_key', true, '403')],
    ['404 from a provider', new DeliveryError('404 not_found', true, '404')],
    ['an unregistered push token', new DeliveryError('unregistered', true, 'unregistered')],
  ])('%s is not retried', async (_, error) => {
    const { times, result } = await probe('notification', () => error);
    expect(times).toHaveLength(1);
    expect(result).toEqual({ ok: false, errorType: 'PermanentDeliveryError' });
  });

  it('a validation error is not retried', async () => {
    const err = new Error('Invalid `prisma.notificationLog.update()` invocation');
    err.name = 'PrismaClientValidationError';
    const { times, result } = await probe('notification', () => err);
    expect(times).toHaveLength(1);
    expect(result.errorType).toBe('ValidationError');
  });

  it('network failures and an unreachable database are retried, then succeed', async () => {
    const network = new DeliveryError('Resend unreachable: fetch failed', false, 'network');
    const database = Object.assign(new Error("Can't reach database server"), { code: 'P1001' });
    const { times, result } = await probe('notification', (attempt) =>
      attempt === 1 ? network : attempt === 2 ? database : undefined,
    );
    expect(result.ok).toBe(true);
    expect(times).toHaveLength(3);
  });

  it('an open circuit waits at least until it half-opens, even when the policy is quicker', async () => {
    const { times } = await probe(
      'notification',
      () => new CircuitOpenError('resend', 10 * MINUTE),
      () => 0.5,
    );
    expect(gaps(times).map((g) => Math.round(g / MINUTE))).toEqual([10, 10]);
  });
});

describe('deliverNotifications (workflows/shared/deliver.ts)', () => {
  it('keeps at most `concurrency` deliveries in flight and returns an outcome per key, in order', async () => {
    const taskQueue = `batch-${++queues}`;
    let inFlight = 0;
    let peak = 0;
    const deadLetters: string[] = [];
    const worker = await createWorker(env, {
      taskQueue,
      workflows: testWorkflows,
      activities: mockActivities({
        async deliverNotification({ dedupeKey }: { dedupeKey: string }) {
          peak = Math.max(peak, ++inFlight);
          await new Promise((resolve) => setTimeout(resolve, 20));
          inFlight--;
          if (dedupeKey.startsWith('bad')) throw toActivityFailure(new DeliveryError('404', true, '404'));
          return { status: 'sent', providerMessageId: dedupeKey };
        },
        async recordDeadLetter({ dedupeKey }: { dedupeKey: string }) {
          deadLetters.push(dedupeKey);
        },
      }),
    });
    const keys = Array.from({ length: 12 }, (_, i) => `${i === 5 ? 'bad' : 'ok'}-${i}:push`);
    const outcomes = await worker.runUntil(
      env.client.workflow.execute('deliverBatchWorkflow', {
        taskQueue,
        workflowId: `batch-${queues}`,
        args: [{ keys, opts: { kind: 'notification', taskQueue, concurrency: 3 } }],
      }),
    );
    expect(peak).toBe(3);
    expect((outcomes as { dedupeKey: string; status: string }[]).map((o) => [o.dedupeKey, o.status])).toEqual(
      keys.map((k) => [k, k.startsWith('bad') ? 'dead_lettered' : 'sent']),
    );
    expect(deadLetters).toEqual(['bad-5:push']);
  });

  it('lets a cancellation through: no dead letter for deliveries cut short', async () => {
    const taskQueue = `batch-${++queues}`;
    const deadLetters: string[] = [];
    let started = 0;
    const worker = await createWorker(env, {
      taskQueue,
      workflows: testWorkflows,
      activities: mockActivities({
        async deliverNotification() {
          started++;
          // Waits for the cancellation that the heartbeat delivers.
          for (;;) {
            Context.current().heartbeat();
            await Context.current().sleep(50);
          }
        },
        async recordDeadLetter({ dedupeKey }: { dedupeKey: string }) {
          deadLetters.push(dedupeKey);
        },
      }),
    });
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('deliverBatchWorkflow', {
        taskQueue,
        workflowId: `batch-${queues}`,
        args: [{ keys: ['a:push', 'b:email'], opts: { kind: 'notification', taskQueue } }],
      });
      await expect.poll(() => started, { timeout: 10_000 }).toBe(2);
      await handle.cancel();
      await expect(handle.result()).rejects.toThrow();
    });
    expect(deadLetters).toEqual([]);
  });
});
