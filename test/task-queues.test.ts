/**
 * Task queues on the real dev server (Temporal CLI): urgent deliveries overtake a backlog by task
 * priority; email goes to its own rate-limited queue, push and in-app to the notifications queue;
 * the server hands each activity its retry policy (which the jitter uses); workers get the replaced design's
 * concurrency and the email rate limit from configuration.
 */
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../shared/config.ts';
import { PRIORITY, TASK_QUEUES, taskQueueSettings, WORKLOADS, type Workload } from '../shared/task-queues.ts';
import {
  buildWorker,
  buildWorkers,
  cachedWorkflowsPerWorker,
  CACHED_WORKFLOW_MB,
  PROCESS_BASE_MB,
  selectedWorkloads,
} from '../workers/build.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';
import { createWorker, testWorkflowsPath, workflowBundle } from './helpers/workers.ts';

const testWorkflows = testWorkflowsPath('delivery');
let env: TestWorkflowEnvironment;

beforeAll(async () => {
  // One partition per task queue, so that the order of one queue is observable: with the default
  // four, priority orders each partition and a poll may reach a partition holding only bulk work.
  env = await createLocalEnv({
    server: {
      extraArgs: [
        '--dynamic-config-value',
        'matching.numTaskqueueReadPartitions=1',
        '--dynamic-config-value',
        'matching.numTaskqueueWritePartitions=1',
      ],
    },
  });
});
afterAll(async () => {
  await env?.teardown();
});

async function pending(workflowId: string): Promise<number> {
  const d = await env.client.workflow.getHandle(workflowId).describe();
  return d.raw.pendingActivities?.length ?? 0;
}

it('urgent deliveries overtake a backlog of bulk deliveries on the same queue', async () => {
  const order: string[] = [];
  const wfWorker = await createWorker(env, {
    taskQueue: 'prio-workflows',
    workflows: testWorkflows,
    activities: {},
  });
  await wfWorker.runUntil(async () => {
    const bulkKeys = Array.from({ length: 12 }, (_, i) => `bulk-${i}:push`);
    const urgentKeys = ['urgent-0:push', 'urgent-1:push'];
    const bulk = await env.client.workflow.start('deliverBatchWorkflow', {
      taskQueue: 'prio-workflows',
      workflowId: 'prio-bulk',
      args: [{ keys: bulkKeys, opts: { kind: 'notification', priority: 5, taskQueue: 'prio-deliveries' } }],
    });
    await expect.poll(() => pending('prio-bulk'), { timeout: 10_000 }).toBe(12);
    const urgent = await env.client.workflow.start('deliverBatchWorkflow', {
      taskQueue: 'prio-workflows',
      workflowId: 'prio-urgent',
      args: [{ keys: urgentKeys, opts: { kind: 'notification', urgent: true, taskQueue: 'prio-deliveries' } }],
    });
    await expect.poll(() => pending('prio-urgent'), { timeout: 10_000 }).toBe(2);

    const activityWorker = await createWorker(env, {
      taskQueue: 'prio-deliveries',
      workflows: null,
      maxConcurrentActivityTaskExecutions: 1,
      activities: {
        async deliverNotification({ dedupeKey }: { dedupeKey: string }) {
          order.push(dedupeKey);
          await new Promise((r) => setTimeout(r, 20));
          return { status: 'sent', providerMessageId: dedupeKey };
        },
        async recordDeadLetter() {},
      },
    });
    await activityWorker.runUntil(Promise.all([bulk.result(), urgent.result()]));
  });
  expect(order).toHaveLength(14);
  // The first poll may already hold one bulk task; the urgent ones come right after at the latest.
  expect(order.slice(0, 3)).toEqual(expect.arrayContaining(['urgent-0:push', 'urgent-1:push']));
});

describe('routing, priority and policies as the activity sees them', () => {
  it('email runs on the email queue, push and in-app on the notifications queue, with kind and urgency', async () => {
    const seen: Record<string, { taskQueue: string; priority?: number; maxAttempts?: number }> = {};
    const record = async ({ dedupeKey }: { dedupeKey: string }) => {
      const info = Context.current().info;
      seen[dedupeKey] = {
        taskQueue: info.taskQueue,
        ...(info.priority?.priorityKey ? { priority: info.priority.priorityKey } : {}),
        ...(info.retryPolicy?.maximumAttempts ? { maxAttempts: info.retryPolicy.maximumAttempts } : {}),
      };
      return { status: 'sent', providerMessageId: dedupeKey };
    };
    const activities = { deliverNotification: record, async recordDeadLetter() {} };
    const workers = await Promise.all([
      createWorker(env, {
        taskQueue: 'route-workflows',
        workflows: testWorkflows,
        activities,
      }),
      createWorker(env, { taskQueue: TASK_QUEUES.notifications, workflows: null, activities }),
      createWorker(env, { taskQueue: TASK_QUEUES.email, workflows: null, activities }),
    ]);
    const run = (workflowId: string, keys: string[], opts: object) =>
      env.client.workflow.execute('deliverBatchWorkflow', {
        taskQueue: 'route-workflows',
        workflowId,
        args: [{ keys, opts }],
      });
    await Promise.all(
      workers
        .map((w) => w.run())
        .concat([
          (async () => {
            await run('route-med', ['dose:m:t:r:push', 'dose:m:t:r:email', 'dose:m:t:r:in_app'], {
              kind: 'medication',
            });
            await run('route-urgent', ['circle:c:r:push', 'circle:c:r:email'], { kind: 'notification', urgent: true });
            await run('route-shift', ['shift:s:r:email'], { kind: 'shift' });
            workers.forEach((w) => w.shutdown());
          })() as Promise<void>,
        ]),
    );
    expect(seen).toEqual({
      'dose:m:t:r:push': { taskQueue: TASK_QUEUES.notifications, priority: PRIORITY.high, maxAttempts: 2 },
      'dose:m:t:r:email': { taskQueue: TASK_QUEUES.email, priority: PRIORITY.high, maxAttempts: 2 },
      'dose:m:t:r:in_app': { taskQueue: TASK_QUEUES.notifications, priority: PRIORITY.high, maxAttempts: 2 },
      'circle:c:r:push': { taskQueue: TASK_QUEUES.notifications, priority: PRIORITY.urgent, maxAttempts: 3 },
      'circle:c:r:email': { taskQueue: TASK_QUEUES.email, priority: PRIORITY.urgent, maxAttempts: 3 },
      'shift:s:r:email': { taskQueue: TASK_QUEUES.email, priority: PRIORITY.medium, maxAttempts: 3 },
    });
  });

  it("the email queue's rate limit holds across workers (Temporal's task-queue limit)", async () => {
    const settings = taskQueueSettings(loadConfig({ EMAIL_RATE_LIMIT_PER_MINUTE: '300' })); // 5 per second
    const started: number[] = [];
    const activities = {
      async deliverNotification({ dedupeKey }: { dedupeKey: string }) {
        started.push(performance.now());
        return { status: 'sent', providerMessageId: dedupeKey };
      },
      async recordDeadLetter() {},
    };
    const queue = { ...settings.email, name: 'rate-limited-email' };
    // Two workers on connections of their own, as two processes would be: the limit is the queue's.
    const second = await NativeConnection.connect({ address: env.address });
    const workers = await Promise.all([
      buildWorker({ connection: env.nativeConnection, namespace: 'default', settings: queue, activities }),
      buildWorker({ connection: second, namespace: 'default', settings: queue, activities }),
      createWorker(env, {
        taskQueue: 'rate-workflows',
        workflows: testWorkflows,
        activities,
      }),
    ]);
    const keys = Array.from({ length: 20 }, (_, i) => `rate:${i}:r:email`);
    await Promise.all(
      workers
        .map((w) => w.run())
        .concat([
          (async () => {
            await env.client.workflow.execute('deliverBatchWorkflow', {
              taskQueue: 'rate-workflows',
              workflowId: 'rate-limit',
              args: [{ keys, opts: { kind: 'notification', taskQueue: 'rate-limited-email', concurrency: 20 } }],
            });
            workers.forEach((w) => w.shutdown());
          })() as Promise<void>,
        ]),
    );
    await second.close();
    const seconds = (Math.max(...started) - Math.min(...started)) / 1000;
    // 20 at 5 per second: about 4 s (the limiter may let a first burst through).
    expect(started).toHaveLength(20);
    expect(seconds).toBeGreaterThan(2.5);
  });
});

describe('worker settings from configuration', () => {
  it("are the replaced design's by default, and configurable", () => {
    const defaults = taskQueueSettings(loadConfig({}));
    expect(defaults.notifications.maxConcurrentActivities).toBe(10);
    // The medication queue's own work (5), plus slots for armed doses waiting for their instant.
    expect(defaults.medication.maxConcurrentActivities).toBe(5 + 2000);
    expect(defaults.medication.maxConcurrentWorkflowTasks).toBe(5);
    expect(defaults.documents.maxConcurrentActivities).toBe(2);
    expect(defaults.deadLetters.maxConcurrentActivities).toBe(1);
    expect(defaults.email.maxTaskQueueActivitiesPerSecond).toBeCloseTo(100 / 60);
    // Circle fan-out workflows run on the notifications queue, next to their deliveries.
    expect(defaults.notifications.runsWorkflows).toBe(true);
    const custom = taskQueueSettings(
      loadConfig({ NOTIFICATIONS_CONCURRENCY: '25', EMAIL_RATE_LIMIT_PER_MINUTE: '600' }),
    );
    expect(custom.notifications.maxConcurrentActivities).toBe(25);
    expect(custom.email.maxTaskQueueActivitiesPerSecond).toBe(10);
  });

  it('WORKER_WORKFLOW_TASK_SLOTS sets the workflow-task slots of every queue; unset, min(10, concurrency)', () => {
    const defaults = taskQueueSettings(loadConfig({}));
    expect(defaults.medication.maxConcurrentWorkflowTasks).toBe(5);
    expect(defaults.notifications.maxConcurrentWorkflowTasks).toBe(10);
    const tuned = taskQueueSettings(loadConfig({ WORKER_WORKFLOW_TASK_SLOTS: '40' }));
    expect(tuned.medication.maxConcurrentWorkflowTasks).toBe(40);
    expect(tuned.notifications.maxConcurrentWorkflowTasks).toBe(40);
    expect(() => loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '-1' })).toThrow(/WORKER_MAX_CACHED_WORKFLOWS/);
  });

  it('WORKER_QUEUES picks the workloads a process serves', () => {
    expect(selectedWorkloads('all')).toEqual(WORKLOADS);
    expect(selectedWorkloads('notifications, email')).toEqual(['notifications', 'email']);
    expect(() => selectedWorkloads('notifications,emails')).toThrow(/unknown workload\(s\) emails/);
  });
});

describe('memory: one workflow sandbox per process, caches from the memory budget', () => {
  it('the workflow-running workers of a process share one sandbox, and each serves its own queue', async () => {
    const createSandbox = vi.spyOn(
      Worker as unknown as { createWorkflowCreator: () => unknown },
      'createWorkflowCreator',
    );
    const settings = taskQueueSettings(loadConfig({}));
    const renamed = Object.fromEntries(
      Object.entries(settings).map(([w, q]) => [w, { ...q, name: `sandbox-${w}` }]),
    ) as typeof settings;
    const workloads: Workload[] = ['medication', 'appointment', 'notifications', 'email'];
    const workers = await buildWorkers({
      connection: env.nativeConnection,
      namespace: 'default',
      settings: renamed,
      workloads,
      activities: { async recordDeadLetter() {} },
      workflowBundle: await workflowBundle(testWorkflows),
      memoryBudgetMb: 448,
    });
    try {
      expect(workers.map((w) => w.options.taskQueue)).toEqual(workloads.map((w) => `sandbox-${w}`));
      // Three run workflows (email does not): one sandbox for the three.
      expect(createSandbox).toHaveBeenCalledTimes(1);
      const caches = cachedWorkflowsPerWorker(448, ['medication', 'appointment', 'notifications']);
      expect(workers.map((w) => w.options.maxCachedWorkflows)).toEqual([
        caches.medication,
        caches.appointment,
        caches.notifications,
        // The SDK's own value for a worker that runs no workflows; it caches nothing.
        workers[3]!.options.maxCachedWorkflows,
      ]);
      await Promise.all(
        workers
          .map((w) => w.run())
          .concat([
            (async () => {
              for (const queue of ['sandbox-medication', 'sandbox-appointment', 'sandbox-notifications']) {
                const result = await env.client.workflow.execute('deliverBatchWorkflow', {
                  taskQueue: queue,
                  workflowId: `sandbox-${queue}`,
                  args: [{ keys: [], opts: { kind: 'notification' } }],
                });
                expect(result).toEqual([]);
              }
              workers.forEach((w) => w.shutdown());
            })() as Promise<void>,
          ]),
      );
    } finally {
      createSandbox.mockRestore();
    }
  });

  it('sizes the caches from WORKER_MEMORY_BUDGET_MB: half to medication, the rest shared', () => {
    expect(loadConfig({}).WORKER_MEMORY_BUDGET_MB).toBe(448);
    const all: Workload[] = ['medication', 'appointment', 'shift', 'notifications', 'documents', 'deadLetters'];
    const caches = cachedWorkflowsPerWorker(448, all);
    const total = Math.floor((448 - PROCESS_BASE_MB) / CACHED_WORKFLOW_MB);
    expect(caches.medication).toBe(Math.floor(total / 2));
    expect(caches.appointment).toBe(Math.floor(total / 2 / 5));
    const sum = Object.values(caches).reduce((a, b) => a + b, 0);
    expect(sum).toBeLessThanOrEqual(total);
    expect(sum * CACHED_WORKFLOW_MB + PROCESS_BASE_MB).toBeLessThanOrEqual(448);
    // Medication alone gets it all; a budget below the base cost still leaves a working minimum.
    expect(cachedWorkflowsPerWorker(448, ['medication'])).toEqual({ medication: total });
    expect(cachedWorkflowsPerWorker(256, all).appointment).toBe(10);
    expect(() => loadConfig({ WORKER_MEMORY_BUDGET_MB: '100' })).toThrow(/WORKER_MEMORY_BUDGET_MB/);
  });
});
