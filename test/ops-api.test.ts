/**
 * The API's operator surface on a real Temporal dev server and PostgreSQL: GET /metrics (task-queue
 * backlog and age from the server, open dead letters from the database) and GET /v1/ops/queues
 * (the same plus deliveries, workers' breakers and memory, and what crosses a threshold), with the
 * numbers moving as work piles up and drains; GET /ready while serving and while draining. The
 * operator routes need a token with the operator role; /metrics, /ready and /health need none.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { authenticate } from '../api/auth.ts';
import type { ApiDeps } from '../api/deps.ts';
import { beginDraining } from '../api/lifecycle.ts';
import { clearSystemSnapshot } from '../api/ops-status.ts';
import { createRouter, type Router } from '../api/openapi.ts';
import { metricsRoutes } from '../api/routes/metrics.ts';
import { opsRoutes } from '../api/routes/ops.ts';
import { circuitStates, setCircuitState } from '../shared/metrics.ts';
import { startWorkerEndpoint, type WorkerEndpoint, type WorkerStatus } from '../workers/endpoint.ts';
import { workerInterceptors } from '../workers/observability.ts';
import { createOpsTestActivities } from './fixtures/ops-activities.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, seedPatientWithMedication, type TestDatabase } from './helpers/database.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';
import { waitFor } from './helpers/wait.ts';
import { createWorker } from './helpers/workers.ts';

const TASK_QUEUE = `ops-api-${randomUUID()}`;
let env: TestWorkflowEnvironment;
let db: TestDatabase;
let deps: ApiDeps;
let ops: Router;
/** An operator, as GET /v1/ops/queues requires. */
let operator: UserClient;
let fakeWorker: WorkerEndpoint;

beforeAll(async () => {
  [env, db] = await Promise.all([createLocalEnv(), createTestDatabase()]);
  deps = { prisma: db.prisma, temporal: env.client, taskQueue: TASK_QUEUE, devOutbox: true, tokens: testTokens() };
  // A worker's status endpoint as workers/endpoint.ts serves it, reporting this process's breakers.
  fakeWorker = await startWorkerEndpoint({
    host: '127.0.0.1',
    port: 0,
    status: () => ({ ...idleWorkerStatus, circuits: circuitStates() }),
  });
  ops = createRouter();
  ops.use('/v1/*', authenticate(deps.tokens));
  ops.route('/metrics', metricsRoutes(deps, { taskQueues: [TASK_QUEUE] }));
  // The second URL has nobody listening: an unreachable worker is reported, not fatal.
  ops.route(
    '/v1/ops',
    opsRoutes(deps, { taskQueues: [TASK_QUEUE], workerStatusUrls: [fakeWorker.url, 'http://127.0.0.1:9'] }),
  );
  operator = await asUser(ops, 'ops-1', { operator: true });
});

afterAll(async () => {
  await fakeWorker?.close();
  await env?.teardown();
  await db?.drop();
});

const idleWorkerStatus: WorkerStatus = {
  status: 'ok',
  ready: true,
  draining: false,
  workers: [{ taskQueue: TASK_QUEUE, state: 'RUNNING' }],
  namespace: 'default',
  inFlightActivities: 0,
  shutdownGraceMs: 30_000,
  memory: { rssBytes: 100 * 2 ** 20, heapUsedBytes: 50 * 2 ** 20, heapTotalBytes: 80 * 2 ** 20 },
  circuits: {},
  pid: 1,
  uptimeSeconds: 1,
};

async function scrape(): Promise<string> {
  clearSystemSnapshot(deps);
  const res = await ops.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  return res.text();
}

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const wf = (type: string) => `carecircle_task_queue_backlog{task_queue="${TASK_QUEUE}",task_type="${type}"}`;

describe('GET /metrics and GET /v1/ops/queues', () => {
  it('report backlog, time in queue and dead letters as they build up and drain', async () => {
    const idle = await scrape();
    expect(sample(idle, wf('workflow'))).toBe(0);
    expect(sample(idle, `carecircle_task_queue_stats_up{task_queue="${TASK_QUEUE}",task_type="activity"}`)).toBe(1);
    expect(sample(idle, 'carecircle_dead_letters_open')).toBe(0);
    expect(sample(idle, 'carecircle_dead_letters_stats_up')).toBe(1);

    // Work arrives while no worker polls the queue: it waits.
    const handles = await Promise.all(
      [1, 2, 3].map((i) =>
        env.client.workflow.start('quickJobWorkflow', {
          taskQueue: TASK_QUEUE,
          workflowId: `quick-${i}-${randomUUID()}`,
        }),
      ),
    );
    const piled = await waitFor(
      'a backlog of 3',
      async () => {
        const text = await scrape();
        return sample(text, wf('workflow')) === 3 ? text : undefined;
      },
      20_000,
    );
    await new Promise((r) => setTimeout(r, 1100));
    const aged = await scrape();
    expect(
      sample(aged, `carecircle_task_queue_backlog_age_seconds{task_queue="${TASK_QUEUE}",task_type="workflow"}`),
    ).toBeGreaterThan(1);
    expect(sample(piled, `carecircle_task_queue_pollers{task_queue="${TASK_QUEUE}",task_type="workflow"}`)).toBe(0);

    // Two deliveries failed for good (one already handled by an operator).
    const { patient } = await seedPatientWithMedication(db.prisma);
    const deadLetter = (status: 'open' | 'discarded', channel: 'email' | 'push') =>
      db.prisma.deadLetter.create({
        data: {
          kind: 'dose_reminder',
          channel,
          recipientId: patient.id,
          payload: {},
          error: 'provider said no',
          attempts: 2,
          workflowId: 'medication:x',
          runId: 'r',
          status,
        },
      });
    await Promise.all([
      deadLetter('open', 'email'),
      deadLetter('open', 'email'),
      deadLetter('open', 'push'),
      deadLetter('discarded', 'push'),
    ]);
    setCircuitState('resend', 'open');

    const withDeadLetters = await scrape();
    expect(sample(withDeadLetters, 'carecircle_dead_letters_open')).toBe(3);
    expect(sample(withDeadLetters, 'carecircle_dead_letters_open_by_kind{kind="dose_reminder",channel="email"}')).toBe(
      2,
    );
    expect(sample(withDeadLetters, 'carecircle_dead_letters_oldest_open_age_seconds')).toBeGreaterThanOrEqual(0);

    clearSystemSnapshot(deps);
    const res = await operator.get('/v1/ops/queues');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      attention: string[];
      taskQueues: { name: string; workflow: { backlog: number; pollers: number } }[];
      deadLetters: { open: number; byKind: { kind: string; channel: string; count: number }[] };
      notifications: { windowMinutes: number; sent: number; deadLettered: number; failureRatio: number };
      circuits: Record<string, string>;
      workers: { url: string; reachable: boolean; status?: WorkerStatus }[];
    };
    expect(body.status).toBe('attention');
    expect(body.taskQueues).toEqual([
      expect.objectContaining({ name: TASK_QUEUE, workflow: expect.objectContaining({ backlog: 3, pollers: 0 }) }),
    ]);
    expect(body.deadLetters).toMatchObject({
      open: 3,
      byKind: [
        { kind: 'dose_reminder', channel: 'email', count: 2 },
        { kind: 'dose_reminder', channel: 'push', count: 1 },
      ],
    });
    // 4 dead letters in the last 15 minutes and nothing sent: every finished delivery failed.
    expect(body.notifications).toMatchObject({ windowMinutes: 15, sent: 0, deadLettered: 4, failureRatio: 1 });
    expect(body.circuits).toEqual({ resend: 'open' });
    expect(body.workers).toEqual([
      expect.objectContaining({ url: fakeWorker.url, reachable: true }),
      expect.objectContaining({ url: 'http://127.0.0.1:9', reachable: false }),
    ]);
    expect(body.attention).toEqual(
      expect.arrayContaining([
        '3 open dead letter(s)',
        '100.0 % of deliveries failed in the last 15 min',
        'circuit resend is open',
        expect.stringMatching(/^worker http:\/\/127\.0\.0\.1:9 unreachable/),
      ]),
    );

    // A worker arrives: the backlog drains and the server sees it polling.
    const worker = await createWorker(env, {
      taskQueue: TASK_QUEUE,
      workflows: fileURLToPath(new URL('./fixtures/ops-workflows.ts', import.meta.url)),
      activities: createOpsTestActivities({ sideEffectFile: '/dev/null' }),
      interceptors: workerInterceptors(),
    });
    await worker.runUntil(async () => {
      await Promise.all(handles.map((h) => h.result()));
      const drained = await waitFor(
        'the backlog to drain',
        async () => {
          const text = await scrape();
          return sample(text, wf('workflow')) === 0 &&
            (sample(text, wf('workflow').replace('backlog', 'pollers')) ?? 0) > 0
            ? text
            : undefined;
        },
        20_000,
      );
      expect(
        sample(drained, `carecircle_task_queue_backlog_age_seconds{task_queue="${TASK_QUEUE}",task_type="workflow"}`),
      ).toBe(0);
    });
  });

  it('is wired into the app: /metrics in the Prometheus format, /ready until draining, no token needed', async () => {
    const app = createApp(deps);
    const metrics = await app.request('/metrics');
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('# TYPE carecircle_task_queue_backlog gauge');
    expect(text).toMatch(/^carecircle_dead_letters_open \d+$/m);

    const health = await app.request('/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', temporal: 'up', database: 'up' });

    const ready = await app.request('/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: 'up', temporal: 'up' });
    beginDraining(deps);
    const draining = await app.request('/ready');
    expect(draining.status).toBe(503);
    expect(await draining.json()).toEqual({ status: 'draining' });
    // Draining turns readiness off only: requests are still answered until the server closes.
    expect((await app.request('/health')).status).toBe(200);
  });

  it('serves GET /v1/ops/queues and GET /v1/dev/outbox to operators only', async () => {
    const app = createApp(deps);
    const noToken = await app.request('/v1/ops/queues');
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('www-authenticate')).toContain('Bearer');
    expect((await app.request('/v1/dev/outbox')).status).toBe(401);

    const user = await asUser(app, 'not-an-operator');
    for (const path of ['/v1/ops/queues', '/v1/dev/outbox']) {
      const res = await user.get(path);
      expect(res.status, path).toBe(403);
      expect(res.headers.get('content-type'), path).toContain('application/problem+json');
      expect(((await res.json()) as { type: string }).type, path).toBe('urn:carecircle:problem:forbidden');
    }

    // The app's own options: whatever the workers answer, the page is served.
    const admin = await asUser(app, 'ops-1', { operator: true });
    const queues = await admin.get('/v1/ops/queues');
    expect(queues.status).toBe(200);
    expect(await queues.json()).toMatchObject({ namespace: env.namespace ?? 'default', taskQueues: expect.any(Array) });
    const outbox = await admin.get('/v1/dev/outbox');
    expect(outbox.status).toBe(200);
    expect(await outbox.json()).toEqual({ items: expect.any(Array), nextCursor: null });
  });
});
