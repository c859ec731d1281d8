/**
 * No schedule without its medication, none left behind: a DELETE whose cancel fails, a create whose
 * start timed out after it reached Temporal, and a reconciliation that restarts a workflow while
 * the medication is being deleted each end with the workflow told to stop, and the reconciliation
 * finishes what the API could not. On the time-skipping server with no worker on the schedules'
 * queue, so a started workflow stays Running and a cancel shows as a request in its history;
 * Temporal faults are injected into the API's client.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMaintenanceActivities, type Reconciler } from '../activities/maintenance.ts';
import { createApp } from '../api/app.ts';
import { config } from '../shared/config.ts';
import type { PrismaClient } from '../shared/db.ts';
import { medicationReconcilerOf } from '../workers/reconcilers.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';

/** No worker polls it: workflows started here stay Running and untouched. */
const PARKED = 'parked-medications';
const parked = () => ({ ...config(), MEDICATION_TASK_QUEUE: PARKED });

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let alice: UserClient;
let circleId: string;
let patientId: string;

/** Faults for the API's next calls to Temporal. */
const faults = {
  startTimesOutAfterStarting: false,
  cancelFails: 0,
  databaseGoesAfterStart: false,
  medicationWriteFails: 0,
};
/** The workflow id of the API's last start. */
let lastStarted = '';

function faultyClient(real: Client): Client {
  return {
    workflow: {
      start: async (...args: Parameters<Client['workflow']['start']>) => {
        const handle = await real.workflow.start(...args);
        lastStarted = handle.workflowId;
        if (faults.databaseGoesAfterStart) {
          faults.databaseGoesAfterStart = false;
          faults.medicationWriteFails = 1;
        }
        if (faults.startTimesOutAfterStarting) {
          faults.startTimesOutAfterStarting = false;
          throw new Error('4 DEADLINE_EXCEEDED: the start reached the server, its answer did not');
        }
        return handle;
      },
      getHandle: (workflowId: string) => {
        const handle = real.workflow.getHandle(workflowId);
        return {
          query: handle.query.bind(handle),
          describe: handle.describe.bind(handle),
          cancel: async () => {
            if (faults.cancelFails > 0) {
              faults.cancelFails--;
              throw new Error('14 UNAVAILABLE: connection refused');
            }
            return handle.cancel();
          },
        };
      },
    },
  } as unknown as Client;
}

/** The API's database, where the next medication write may fail as if PostgreSQL went away. */
function faultyPrisma(real: PrismaClient): PrismaClient {
  const bind = (owner: object, value: unknown) => (typeof value === 'function' ? value.bind(owner) : value);
  return new Proxy(real, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (prop !== 'medication') return bind(target, value);
      const medication = value as object;
      return new Proxy(medication, {
        get(m, p) {
          if (p === 'updateMany' && faults.medicationWriteFails > 0) {
            faults.medicationWriteFails--;
            return () => Promise.reject(new Error("Can't reach database server at 127.0.0.1:5432"));
          }
          return bind(m, Reflect.get(m, p));
        },
      });
    },
  });
}

beforeAll(async () => {
  [env, db] = await Promise.all([createTimeSkippingEnv(), createTestDatabase()]);
  app = createApp({
    prisma: faultyPrisma(db.prisma),
    temporal: faultyClient(env.client),
    taskQueue: PARKED,
    devOutbox: false,
    tokens: testTokens(),
  });
  alice = await asUser(app, 'alice');
  circleId = ((await (await alice.post('/v1/care-circles', { name: 'Orphans' })).json()) as { id: string }).id;
  const patient = await alice.post(`/v1/care-circles/${circleId}/members`, {
    name: 'Ada',
    role: 'patient',
    timezone: 'UTC',
  });
  patientId = ((await patient.json()) as { id: string }).id;
}, 120_000);

afterAll(async () => {
  await Promise.all([env?.teardown(), db?.drop()]);
});

beforeEach(() => {
  faults.startTimesOutAfterStarting = false;
  faults.cancelFails = 0;
  faults.databaseGoesAfterStart = false;
  faults.medicationWriteFails = 0;
});

const createBody = (name: string) => ({ careCircleId: circleId, patientId, name, schedule: { times: ['08:00'] } });

async function createMedication(name: string): Promise<{ id: string; workflowId: string }> {
  const res = await alice.post('/v1/medications', createBody(name));
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; workflowId: string };
}

/** Whether the workflow was asked to stop (no worker runs it, so the request stays in its history). */
async function cancelRequested(workflowId: string): Promise<boolean> {
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).some((e) => e.workflowExecutionCancelRequestedEventAttributes);
}

async function workflowExists(workflowId: string): Promise<boolean> {
  try {
    await env.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch {
    return false;
  }
}

/** One reconciliation of medications, as the maintenance worker runs it. */
async function reconcile(reconciler: Reconciler = medicationReconcilerOf(db.prisma, parked(), { startingGraceMs: 0 })) {
  const activities = createMaintenanceActivities({
    prisma: db.prisma,
    temporal: env.client,
    reconcilers: { medication: reconciler },
  });
  return (await new MockActivityEnvironment().run(activities.reconcilePage, {
    reconciler: 'medication',
    cursor: null,
    pageSize: 100,
  })) as { checked: number; restarted: string[]; settled: string[] };
}

describe('DELETE', () => {
  it('whose cancel fails leaves the row cancelling; the reconciliation stops the workflow', async () => {
    const { id, workflowId } = await createMedication('Cancel fails');
    faults.cancelFails = 1;
    const res = await alice.delete(`/v1/medications/${id}`);
    expect(res.status).toBe(503);
    expect(await db.prisma.medication.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'cancelled',
      workflowSync: 'cancelling',
    });
    expect(await cancelRequested(workflowId)).toBe(false);

    const result = await reconcile();
    expect(result.settled).toContain(workflowId);
    expect(result.restarted).not.toContain(workflowId);
    expect(await cancelRequested(workflowId)).toBe(true);
    expect((await db.prisma.medication.findUniqueOrThrow({ where: { id } })).workflowSync).toBeNull();
  });

  it("keeps lastDoseAt (the workflow's projection) in its answer and afterwards", async () => {
    const { id } = await createMedication('Last dose');
    // What the workflow wrote after its last reminder.
    await db.prisma.medication.update({ where: { id }, data: { lastDoseAt: new Date('2026-12-02T08:00:00Z') } });
    const deleted = await alice.delete(`/v1/medications/${id}`);
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ status: 'cancelled', lastDoseAt: '2026-12-02T08:00:00.000Z' });
    const read = await alice.get(`/v1/medications/${id}`);
    expect(await read.json()).toMatchObject({ status: 'cancelled', lastDoseAt: '2026-12-02T08:00:00.000Z' });
  });

  it('of a medication still being created is refused (409) and changes nothing', async () => {
    const row = await db.prisma.medication.create({
      data: {
        careCircleId: circleId,
        patientId,
        name: 'Starting',
        schedule: { times: ['08:00'], timezone: 'UTC' },
        workflowId: `medication:starting-${randomUUID()}`,
        workflowSync: 'starting',
      },
    });
    const res = await alice.delete(`/v1/medications/${row.id}`);
    expect(res.status).toBe(409);
    expect(await db.prisma.medication.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
      status: 'active',
      workflowSync: 'starting',
    });
    await db.prisma.medication.delete({ where: { id: row.id } });
  });
});

describe('a create whose start timed out', () => {
  it('stops the workflow that did start, hides the row, and the reconciliation removes it', async () => {
    faults.startTimesOutAfterStarting = true;
    const res = await alice.post('/v1/medications', createBody('Timed out'));
    expect(res.status).toBe(503);
    expect(await workflowExists(lastStarted)).toBe(true);
    expect(await cancelRequested(lastStarted)).toBe(true);
    const row = await db.prisma.medication.findUniqueOrThrow({ where: { workflowId: lastStarted } });
    expect(row).toMatchObject({ status: 'cancelled', workflowSync: 'starting' });
    expect((await alice.get(`/v1/medications/${row.id}`)).status).toBe(404);

    // A start still in flight could land after the API gave up: the row waits out the grace.
    expect((await reconcile(medicationReconcilerOf(db.prisma, parked()))).settled).not.toContain(lastStarted);
    expect((await reconcile()).settled).toContain(lastStarted);
    expect(await db.prisma.medication.findUnique({ where: { id: row.id } })).toBeNull();
  });

  it('when the cancel fails too, keeps the row cancelled and starting until the reconciliation stops it', async () => {
    faults.startTimesOutAfterStarting = true;
    faults.cancelFails = 1;
    const res = await alice.post('/v1/medications', createBody('Timed out twice'));
    expect(res.status).toBe(503);
    const row = await db.prisma.medication.findFirstOrThrow({ where: { name: 'Timed out twice' } });
    expect(row).toMatchObject({ status: 'cancelled', workflowSync: 'starting' });
    expect(await cancelRequested(row.workflowId)).toBe(false);
    // The caller was told nothing was created: nothing shows.
    expect((await alice.get(`/v1/medications/${row.id}`)).status).toBe(404);
    const list = (await (await alice.get(`/v1/medications?careCircleId=${circleId}`)).json()) as {
      items: { id: string }[];
    };
    expect(list.items.map((m) => m.id)).not.toContain(row.id);
    expect(list.items.length).toBeGreaterThan(0);

    // Within the grace a create may take, the reconciliation leaves it to the API.
    const early = await reconcile(medicationReconcilerOf(db.prisma, parked()));
    expect(early.settled).not.toContain(row.workflowId);

    const result = await reconcile();
    expect(result.settled).toContain(row.workflowId);
    expect(result.restarted).not.toContain(row.workflowId);
    expect(await cancelRequested(row.workflowId)).toBe(true);
    expect(await db.prisma.medication.findUnique({ where: { id: row.id } })).toBeNull();
  });

  it('after the API stopped mid-create: a row without a workflow is removed, one with a workflow is kept', async () => {
    const base = {
      careCircleId: circleId,
      patientId,
      schedule: { times: ['08:00'], timezone: 'UTC' },
      workflowSync: 'starting' as const,
    };
    const never = await db.prisma.medication.create({
      data: { ...base, name: 'Never started', workflowId: `medication:never-${randomUUID()}` },
    });
    const { id, workflowId } = await createMedication('Started, unconfirmed');
    await db.prisma.medication.update({ where: { id }, data: { workflowSync: 'starting' } });

    // Not restarted while it may still be starting.
    const early = await reconcile(medicationReconcilerOf(db.prisma, parked()));
    expect(early.restarted).not.toContain(never.workflowId);
    expect(await workflowExists(never.workflowId)).toBe(false);

    const result = await reconcile();
    expect(result.settled).toEqual(expect.arrayContaining([never.workflowId, workflowId]));
    expect(await db.prisma.medication.findUnique({ where: { id: never.id } })).toBeNull();
    expect(await workflowExists(never.workflowId)).toBe(false);
    expect((await db.prisma.medication.findUniqueOrThrow({ where: { id } })).workflowSync).toBeNull();
    expect(await cancelRequested(workflowId)).toBe(false);
  });
});

describe('a create whose confirmation meets a database outage', () => {
  it('answers 201 once the workflow started, and the reconciliation confirms the row', async () => {
    faults.databaseGoesAfterStart = true;
    const res = await alice.post('/v1/medications', createBody('Confirmed later'));
    expect(res.status).toBe(201);
    const { id, workflowId } = (await res.json()) as { id: string; workflowId: string };
    expect(faults.medicationWriteFails).toBe(0); // the write did meet the outage
    expect(await workflowExists(workflowId)).toBe(true);
    expect(await db.prisma.medication.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'active',
      workflowSync: 'starting',
    });
    expect((await alice.get(`/v1/medications/${id}`)).status).toBe(200);

    expect((await reconcile()).settled).toContain(workflowId);
    expect((await db.prisma.medication.findUniqueOrThrow({ where: { id } })).workflowSync).toBeNull();
    expect(await cancelRequested(workflowId)).toBe(false);
  });
});

describe('the reconciliation racing a DELETE', () => {
  it('cancels the workflow it restarted for a medication deleted meanwhile', async () => {
    // Active in the database, its workflow gone: the reconciliation will restart it.
    const row = await db.prisma.medication.create({
      data: {
        careCircleId: circleId,
        patientId,
        name: 'Deleted during reconciliation',
        schedule: { times: ['08:00'], timezone: 'UTC' },
        workflowId: `medication:race-${randomUUID()}`,
      },
    });
    const base = medicationReconcilerOf(db.prisma, parked(), { startingGraceMs: 0 });
    // The DELETE lands after the reconciliation listed the row and before it starts the workflow;
    // its cancel finds nothing to stop yet.
    const racing: Reconciler = {
      ...base,
      listActive: async (cursor, take) => {
        const targets = await base.listActive(cursor, take);
        const res = await alice.delete(`/v1/medications/${row.id}`);
        expect(res.status).toBe(200);
        return targets;
      },
    };
    const result = await reconcile(racing);
    expect(result.restarted).not.toContain(row.workflowId);
    expect(await workflowExists(row.workflowId)).toBe(true);
    expect(await cancelRequested(row.workflowId)).toBe(true);
  });
});
