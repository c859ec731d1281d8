/**
 * The whole path on real servers: the Hono API → Temporal CLI dev server → the worker with the real
 * activities → PostgreSQL → the dev outbox. The dose is set for the next wall-clock minute, so this
 * test waits for real time (under a minute); the rest of the suite uses time skipping. Every call
 * goes through the typed client (client/index.ts) that app developers use, signed in as the
 * members who would make it.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import { createApp } from '../api/app.ts';
import { createCareCircleClient, type CareCircleClient } from '../client/index.ts';
import { OutboxEmailSender, OutboxPushSender } from '../providers/dev-outbox.ts';
import { testTokens, tokenFor } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';
import { createWorker } from './helpers/workers.ts';
import { waitFor } from './helpers/wait.ts';

const TASK_QUEUE = 'medication-reminders-it';
let env: TestWorkflowEnvironment;
let db: TestDatabase;
let worker: Worker;
let workerRun: Promise<void>;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  [env, db] = await Promise.all([createLocalEnv(), createTestDatabase()]);
  const prisma = db.prisma;
  worker = await createWorker(env, {
    taskQueue: TASK_QUEUE,
    activities: createActivities({ prisma, push: new OutboxPushSender(prisma), email: new OutboxEmailSender(prisma) }),
    production: {},
  });
  workerRun = worker.run();
  app = createApp({ prisma, temporal: env.client, taskQueue: TASK_QUEUE, devOutbox: true, tokens: testTokens() });
});

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await db?.drop();
});

/** The typed client, in process, signed in as `userId`. */
async function clientFor(userId: string, opts: { operator?: boolean } = {}): Promise<CareCircleClient> {
  return createCareCircleClient({
    baseUrl: 'http://carecircle.test',
    token: await tokenFor(userId, opts),
    fetch: async (request) => app.request(request),
  });
}

describe('API → workflow → dev outbox', () => {
  it('reminds by push, email and in-app at the dose time, then stops when deleted', async () => {
    const [alice, ada, bob, ops] = await Promise.all([
      clientFor('alice'),
      clientFor('ada'),
      clientFor('bob'),
      clientFor('ops', { operator: true }),
    ]);
    expect((await alice.GET('/health')).response.status).toBe(200);

    // Alice creates the circle (she is its caregiver) and adds Ada, the patient, and Bob, family.
    const { data: circle } = await alice.POST('/v1/care-circles', { body: { name: 'Lovelace family' } });
    const patientRes = await alice.POST('/v1/care-circles/{id}/members', {
      params: { path: { id: circle!.id } },
      body: {
        name: 'Ada',
        role: 'patient',
        timezone: 'Asia/Kolkata',
        email: 'ada@example.com',
        userId: 'ada',
        pushTokens: ['device-1'],
      },
    });
    expect(patientRes.response.status).toBe(201);
    const patient = patientRes.data!;
    const bobRes = await alice.POST('/v1/care-circles/{id}/members', {
      params: { path: { id: circle!.id } },
      body: { name: 'Bob', role: 'family', timezone: 'UTC', userId: 'bob' },
    });
    expect(bobRes.response.status).toBe(201);

    // The next whole minute in the patient's zone (Kolkata is UTC+05:30: a half-hour offset).
    const due = DateTime.now().setZone('Asia/Kolkata').plus({ minutes: 1 }).startOf('minute');
    const created = await alice.POST('/v1/medications', {
      body: {
        careCircleId: circle!.id,
        patientId: patient.id,
        name: 'Levothyroxine',
        dosage: '50 mcg',
        schedule: { times: [due.toFormat('HH:mm')] },
      },
    });
    expect(created.response.status).toBe(201);
    const medication = created.data!;
    expect(medication.workflowId).toBe(`medication:${medication.id}`);
    expect(medication.nextDoseAt).toBe(due.toUTC().toISO());

    const byId = { params: { path: { id: medication.id } } };
    const shown = (await bob.GET('/v1/medications/{id}', byId)).data;
    expect(shown).toMatchObject({
      status: 'active',
      nextDoseAt: due.toUTC().toISO(),
      schedule: { timezone: 'Asia/Kolkata' },
    });
    const listed = await bob.GET('/v1/medications', { params: { query: { careCircleId: circle!.id } } });
    expect(listed.data).toEqual({
      items: [
        {
          id: medication.id,
          name: 'Levothyroxine',
          dosage: '50 mcg',
          patientId: patient.id,
          status: 'active',
          createdAt: shown!.createdAt,
        },
      ],
      nextCursor: null,
    });

    const outbox = await waitFor(
      'the dose reminder in the dev outbox',
      async () => {
        const { data } = await ops.GET('/v1/dev/outbox');
        return data && data.items.length >= 2 ? data.items : undefined;
      },
      90_000,
    );
    expect(outbox.map((m) => `${m.channel}:${m.to}`).sort()).toEqual(['email:ada@example.com', 'push:device-1']);
    for (const m of outbox) {
      const lateMs = Date.parse(m.createdAt) - due.toMillis();
      expect(lateMs).toBeGreaterThanOrEqual(0);
      expect(lateMs).toBeLessThan(30_000);
    }

    const notifications = await waitFor(
      'three sent notifications',
      async () => {
        const { data } = await ada.GET('/v1/notifications', { params: { query: { recipientId: patient.id } } });
        return data && data.items.filter((n) => n.status === 'sent').length === 3 ? data.items : undefined;
      },
      10_000,
    );
    expect(notifications.map((n) => n.channel).sort()).toEqual(['email', 'in_app', 'push']);
    expect(new Set(notifications.map((n) => n.doseAt))).toEqual(new Set([due.toUTC().toISO()]));

    // The workflow has moved on to tomorrow's dose and is searchable by care circle in the UI.
    const handle = env.client.workflow.getHandle(medication.workflowId);
    const next = await waitFor(
      'the next dose',
      async () => {
        const status = await handle.query<{ nextDoseAt: string | null }>('status');
        return status.nextDoseAt !== medication.nextDoseAt ? status.nextDoseAt : undefined;
      },
      10_000,
    );
    expect(next).toBe(due.plus({ days: 1 }).toUTC().toISO());
    const found = await waitFor(
      'the workflow in visibility',
      async () => {
        for await (const wf of env.client.workflow.list({
          query: `CareCircleId = "${circle!.id}" AND ExecutionStatus = "Running"`,
        })) {
          return wf.workflowId;
        }
        return undefined;
      },
      10_000,
    );
    expect(found).toBe(medication.workflowId);
    // Operators find it by patient and by medication too.
    for (const query of [
      `PatientId = "${patient.id}"`,
      `MedicationId = "${medication.id}" AND ScheduleStatus = "active"`,
    ]) {
      const ids: string[] = [];
      for await (const wf of env.client.workflow.list({ query })) ids.push(wf.workflowId);
      expect(ids, query).toEqual([medication.workflowId]);
    }

    // The dose is open for acknowledgement.
    const live = (await ada.GET('/v1/medications/{id}', byId)).data!;
    expect(live.upcomingDoses).toHaveLength(5);
    expect(live.upcomingDoses[0]).toBe(due.plus({ days: 1 }).toUTC().toISO());
    expect(live.openDoses.map((d) => d.doseAt)).toEqual([due.toUTC().toISO()]);
    const ack = (as: CareCircleClient, body: { doseAt: string; action: 'taken' | 'skipped' }) =>
      as.POST('/v1/medications/{id}/doses/acknowledge', { ...byId, body });

    // Family may look but not record: 403, and the dose stays open in the workflow.
    const byFamily = await ack(bob, { doseAt: due.toUTC().toISO()!, action: 'taken' });
    expect(byFamily.response.status).toBe(403);
    expect(byFamily.error).toMatchObject({ type: 'urn:carecircle:problem:forbidden' });
    expect((await handle.query<{ openDoses: { doseAt: string }[] }>('status')).openDoses).toHaveLength(1);

    // The patient confirms it as herself: the caller's membership is who acknowledged.
    const taken = await ack(ada, { doseAt: due.toUTC().toISO()!, action: 'taken' });
    expect(taken.response.status).toBe(200);
    expect(taken.data).toMatchObject({ status: 'taken', late: false });
    const again = await ack(ada, { doseAt: due.toUTC().toISO()!, action: 'skipped' });
    expect(again.response.status).toBe(409);
    expect(again.error?.detail).toContain('already closed as taken');
    const unknown = await ack(ada, { doseAt: '2020-01-01T00:00:00Z', action: 'taken' });
    expect(unknown.response.status).toBe(404);
    const history = (await alice.GET('/v1/medications/{id}/doses', byId)).data!;
    expect(history.items[0]).toMatchObject({
      doseAt: due.toUTC().toISO(),
      status: 'taken',
      acknowledgedBy: { id: patient.id, role: 'patient' },
    });
    const today = due.toISODate()!;
    const adherence = await bob.GET('/v1/patients/{id}/adherence', {
      params: { path: { id: patient.id }, query: { from: today, to: today } },
    });
    expect(adherence.data).toMatchObject({ taken: 1, adherence: 1 });

    const deleted = await alice.DELETE('/v1/medications/{id}', byId);
    expect(deleted.response.status).toBe(200);
    expect(deleted.data).toMatchObject({ status: 'cancelled', nextDoseAt: null });
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
  });

  it('rejects bad input with a precise 4xx, writing nothing and starting nothing', async () => {
    const [alice, grace, mallory] = await Promise.all([clientFor('alice'), clientFor('grace'), clientFor('mallory')]);
    const { data: elsewhere } = await mallory.POST('/v1/care-circles', { body: { name: 'Moriarty family' } });
    const before = {
      circles: await db.prisma.careCircle.count(),
      medications: await db.prisma.medication.count(),
      workflows: (await env.client.workflow.count()).count,
    };
    const { data: circle } = await alice.POST('/v1/care-circles', { body: { name: 'Hopper family' } });
    const { data: family } = await alice.POST('/v1/care-circles/{id}/members', {
      params: { path: { id: circle!.id } },
      body: { name: 'Grace', role: 'family', timezone: 'UTC', userId: 'grace' },
    });
    const { data: patient } = await alice.POST('/v1/care-circles/{id}/members', {
      params: { path: { id: circle!.id } },
      body: { name: 'Pat', role: 'patient', timezone: 'UTC' },
    });
    const valid = { careCircleId: circle!.id, patientId: patient!.id, name: 'X', schedule: { times: ['08:00'] } };

    const cases: { body: unknown; status: number; path?: string; as?: CareCircleClient }[] = [
      {
        body: { careCircleId: circle!.id, patientId: family!.id, name: 'X', schedule: { times: ['08:00'] } },
        status: 400,
        path: 'patientId',
      },
      {
        body: { careCircleId: circle!.id, patientId: family!.id, name: 'X', schedule: { times: ['8am'] } },
        status: 400,
        path: 'schedule.times.0',
      },
      {
        body: {
          careCircleId: circle!.id,
          patientId: family!.id,
          name: 'X',
          schedule: { times: ['08:00'], timezone: 'Mars/Olympus' },
        },
        status: 400,
        path: 'schedule.timezone',
      },
      {
        body: {
          careCircleId: circle!.id,
          patientId: family!.id,
          name: 'X',
          schedule: { times: ['08:00'], startDate: '2027-02-01', endDate: '2027-01-01' },
        },
        status: 400,
        path: 'schedule.endDate',
      },
      {
        body: {
          careCircleId: circle!.id,
          patientId: family!.id,
          name: 'X',
          schedule: { times: ['08:00'], endDate: '2020-01-01' },
        },
        status: 400,
      },
      {
        body: {
          careCircleId: '9b2f6b1e-4a5c-4d2e-9f3a-1b2c3d4e5f60',
          patientId: family!.id,
          name: 'X',
          schedule: { times: ['08:00'] },
        },
        status: 404,
      },
      { body: [1, 2, 3], status: 400 },
      // Family may not create medications; another circle's caregiver cannot see this circle at all.
      { body: valid, status: 403, as: grace },
      { body: valid, status: 404, as: mallory },
      // Nor can a caregiver put a medication in a circle she is not in.
      { body: { ...valid, careCircleId: elsewhere!.id }, status: 404 },
    ];
    for (const c of cases) {
      const { response, error } = await (c.as ?? alice).POST('/v1/medications', { body: c.body as never });
      expect(response.status, JSON.stringify(c.body)).toBe(c.status);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      if (c.path) expect(error?.errors?.map((e) => e.path)).toContain(c.path);
    }
    // Another circle's caregiver gets the same 404 as for a circle that does not exist.
    const hidden = await mallory.POST('/v1/medications', { body: valid });
    expect(hidden.error).toEqual({
      type: 'urn:carecircle:problem:not-found',
      title: 'Not found',
      status: 404,
      detail: `Care circle ${circle!.id} does not exist`,
    });
    const malformed = await alice.POST('/v1/medications', {
      body: valid,
      bodySerializer: () => '{"name": ',
    });
    expect(malformed.response.status).toBe(400);
    const notJson = await alice.POST('/v1/medications', {
      body: valid,
      bodySerializer: () => 'hi',
      headers: { 'content-type': 'text/plain' },
    });
    expect(notJson.response.status).toBe(415);
    const huge = await alice.POST('/v1/care-circles', { body: { name: 'x'.repeat(100_000) } });
    expect(huge.response.status).toBe(413);
    expect((await alice.GET('/v1/medications/{id}', { params: { path: { id: 'not-a-uuid' } } })).response.status).toBe(
      404,
    );
    expect((await alice.GET('/v1/notifications', { params: { query: { recipientId: 'nope' } } })).response.status).toBe(
      400,
    );

    expect(await db.prisma.careCircle.count()).toBe(before.circles + 1);
    expect(await db.prisma.medication.count()).toBe(before.medications);
    expect((await env.client.workflow.count()).count).toBe(before.workflows);
  });

  it('edits, pauses, resumes and moves a running schedule through the API', async () => {
    const [alice, marie, pierre, mallory] = await Promise.all([
      clientFor('alice'),
      clientFor('marie'),
      clientFor('pierre'),
      clientFor('mallory'),
    ]);
    const { data: circle } = await alice.POST('/v1/care-circles', { body: { name: 'Curie family' } });
    const { data: patient } = await alice.POST('/v1/care-circles/{id}/members', {
      params: { path: { id: circle!.id } },
      body: { name: 'Marie', role: 'patient', timezone: 'Europe/Paris', userId: 'marie' },
    });
    await alice.POST('/v1/care-circles/{id}/members', {
      params: { path: { id: circle!.id } },
      body: { name: 'Pierre', role: 'family', timezone: 'Europe/Paris', userId: 'pierre' },
    });
    const { data: created } = await alice.POST('/v1/medications', {
      body: {
        careCircleId: circle!.id,
        patientId: patient!.id,
        name: 'Vitamin D',
        schedule: { times: ['08:00'] },
      },
    });
    const byId = { params: { path: { id: created!.id } } };

    const edited = await alice.PATCH('/v1/medications/{id}', {
      ...byId,
      body: { name: 'Vitamin D3', schedule: { times: ['09:30', '21:30'] } },
    });
    expect(edited.response.status).toBe(200);
    const view = edited.data!;
    expect(view.name).toBe('Vitamin D3');
    expect(view.schedule).toMatchObject({ times: ['09:30', '21:30'], timezone: 'Europe/Paris' });
    const local = view.upcomingDoses.map((d) => DateTime.fromISO(d).setZone('Europe/Paris').toFormat('HH:mm'));
    expect(new Set(local)).toEqual(new Set(['09:30', '21:30']));

    const bad = await alice.PATCH('/v1/medications/{id}', {
      ...byId,
      body: { schedule: { type: 'interval', everyHours: 0, firstDoseTime: '25:00' } } as never,
    });
    expect(bad.response.status).toBe(400);
    expect(bad.error?.errors?.map((e) => e.path)).toEqual(
      expect.arrayContaining(['schedule.everyHours', 'schedule.firstDoseTime', 'schedule.startDate']),
    );

    // Outsiders and the wrong roles change nothing: not the row, not the workflow.
    const handle = env.client.workflow.getHandle(created!.workflowId);
    const rowBefore = await db.prisma.medication.findUniqueOrThrow({ where: { id: created!.id } });
    const statusBefore = await handle.query('status');
    const historyBefore = (await handle.describe()).historyLength;
    const doseAt = view.upcomingDoses[0]!;
    const attempts = (as: CareCircleClient) => [
      as.GET('/v1/medications/{id}', byId),
      as.GET('/v1/medications/{id}/doses', byId),
      as.PATCH('/v1/medications/{id}', { ...byId, body: { name: 'Hijacked', schedule: { times: ['03:00'] } } }),
      as.POST('/v1/medications/{id}/pause', byId),
      as.POST('/v1/medications/{id}/resume', byId),
      as.POST('/v1/medications/{id}/doses/acknowledge', { ...byId, body: { doseAt, action: 'skipped' } }),
      as.DELETE('/v1/medications/{id}', byId),
    ];
    const asOutsider = await Promise.all(attempts(mallory));
    for (const [i, { response, error }] of asOutsider.entries()) {
      expect(response.status, `attempt ${i}`).toBe(404);
      expect(error).toEqual({
        type: 'urn:carecircle:problem:not-found',
        title: 'Not found',
        status: 404,
        detail: `Medication ${created!.id} does not exist`,
      });
    }
    const asFamily = await Promise.all(attempts(pierre));
    expect(asFamily.map((r) => r.response.status)).toEqual([200, 200, 403, 403, 403, 403, 403]);
    expect(await db.prisma.medication.findUniqueOrThrow({ where: { id: created!.id } })).toEqual(rowBefore);
    expect(await handle.query('status')).toEqual(statusBefore);
    expect((await handle.describe()).historyLength).toBe(historyBefore);

    const paused = await alice.POST('/v1/medications/{id}/pause', byId);
    expect(paused.data).toMatchObject({ status: 'paused', upcomingDoses: [] });
    const resumed = (await alice.POST('/v1/medications/{id}/resume', byId)).data!;
    expect(resumed.status).toBe('active');
    expect(resumed.upcomingDoses).toHaveLength(5);

    // Only Marie herself or a caregiver changes her profile; an outsider cannot see her.
    const travel = { params: { path: { id: patient!.id } }, body: { timezone: 'America/New_York' as const } };
    expect((await mallory.PATCH('/v1/members/{id}', travel)).response.status).toBe(404);
    expect((await pierre.PATCH('/v1/members/{id}', travel)).response.status).toBe(403);
    expect((await db.prisma.member.findUniqueOrThrow({ where: { id: patient!.id } })).timezone).toBe('Europe/Paris');
    const moved = await marie.PATCH('/v1/members/{id}', travel);
    expect(moved.response.status).toBe(200);
    expect(moved.data?.movedSchedules).toEqual([created!.id]);
    const afterMove = (await alice.GET('/v1/medications/{id}', byId)).data!;
    expect(afterMove.schedule.timezone).toBe('America/New_York');
    expect(
      new Set(afterMove.upcomingDoses.map((d) => DateTime.fromISO(d).setZone('America/New_York').toFormat('HH:mm'))),
    ).toEqual(new Set(['09:30', '21:30']));
  });
});
