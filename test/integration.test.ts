/**
 * The whole path on real servers: the Hono API → Temporal CLI dev server → the worker with the real
 * activities → PostgreSQL → the dev outbox. The dose is set for the next wall-clock minute, so this
 * test waits for real time (under a minute); the rest of the suite uses time skipping.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import { createApp } from '../api/app.ts';
import { OutboxEmailSender, OutboxPushSender } from '../providers/dev-outbox.ts';
import { createMedicationWorker, workflowsPath } from '../workers/medication-worker.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';

const TASK_QUEUE = 'medication-reminders-it';
let env: TestWorkflowEnvironment;
let db: TestDatabase;
let worker: Worker;
let workerRun: Promise<void>;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  [env, db] = await Promise.all([createLocalEnv(), createTestDatabase()]);
  const prisma = db.prisma;
  worker = await createMedicationWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: TASK_QUEUE,
    activities: createActivities({ prisma, push: new OutboxPushSender(prisma), email: new OutboxEmailSender(prisma) }),
    workflowBundle: await bundleWorkflowCode({ workflowsPath }),
  });
  workerRun = worker.run();
  app = createApp({ prisma, temporal: env.client, taskQueue: TASK_QUEUE, devOutbox: true });
});

afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await env?.teardown();
  await db?.drop();
});

const post = (path: string, body: unknown) =>
  app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('API → workflow → dev outbox', () => {
  it('reminds by push, email and in-app at the dose time, then stops when deleted', async () => {
    expect((await app.request('/health')).status).toBe(200);

    const circle = (await (await post('/v1/care-circles', { name: 'Lovelace family' })).json()) as { id: string };
    const patientRes = await post(`/v1/care-circles/${circle.id}/members`, {
      name: 'Ada',
      role: 'patient',
      timezone: 'Asia/Kolkata',
      email: 'ada@example.com',
      pushTokens: ['device-1'],
    });
    expect(patientRes.status).toBe(201);
    const patient = (await patientRes.json()) as { id: string };

    // The next whole minute in the patient's zone (Kolkata is UTC+05:30: a half-hour offset).
    const due = DateTime.now().setZone('Asia/Kolkata').plus({ minutes: 1 }).startOf('minute');
    const created = await post('/v1/medications', {
      careCircleId: circle.id,
      patientId: patient.id,
      name: 'Levothyroxine',
      dosage: '50 mcg',
      schedule: { times: [due.toFormat('HH:mm')] },
    });
    expect(created.status).toBe(201);
    const medication = (await created.json()) as { id: string; workflowId: string; nextDoseAt: string };
    expect(medication.workflowId).toBe(`medication:${medication.id}`);
    expect(medication.nextDoseAt).toBe(due.toUTC().toISO());

    const shown = (await (await app.request(`/v1/medications/${medication.id}`)).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({
      status: 'active',
      nextDoseAt: due.toUTC().toISO(),
      schedule: { timezone: 'Asia/Kolkata' },
    });

    const outbox = await waitFor(
      'the dose reminder in the dev outbox',
      async () => {
        const body = (await (await app.request('/v1/dev/outbox')).json()) as {
          items: { channel: string; to: string; createdAt: string }[];
        };
        return body.items.length >= 2 ? body.items : undefined;
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
        const body = (await (await app.request(`/v1/notifications?recipientId=${patient.id}`)).json()) as {
          items: { channel: string; status: string; doseAt: string }[];
        };
        return body.items.filter((n) => n.status === 'sent').length === 3 ? body.items : undefined;
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
    const listed = await waitFor(
      'the workflow in visibility',
      async () => {
        for await (const wf of env.client.workflow.list({
          query: `CareCircleId = "${circle.id}" AND ExecutionStatus = "Running"`,
        })) {
          return wf.workflowId;
        }
        return undefined;
      },
      10_000,
    );
    expect(listed).toBe(medication.workflowId);
    // Operators find it by patient and by medication too.
    for (const query of [
      `PatientId = "${patient.id}"`,
      `MedicationId = "${medication.id}" AND ScheduleStatus = "active"`,
    ]) {
      const ids: string[] = [];
      for await (const wf of env.client.workflow.list({ query })) ids.push(wf.workflowId);
      expect(ids, query).toEqual([medication.workflowId]);
    }

    // The dose is open for acknowledgement; the patient confirms it through the API.
    const live = (await (await app.request(`/v1/medications/${medication.id}`)).json()) as {
      upcomingDoses: string[];
      openDoses: { doseAt: string }[];
    };
    expect(live.upcomingDoses).toHaveLength(5);
    expect(live.upcomingDoses[0]).toBe(due.plus({ days: 1 }).toUTC().toISO());
    expect(live.openDoses.map((d) => d.doseAt)).toEqual([due.toUTC().toISO()]);
    const ack = (body: object) =>
      app.request(`/v1/medications/${medication.id}/doses/acknowledge`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const taken = await ack({ doseAt: due.toUTC().toISO(), action: 'taken', memberId: patient.id });
    expect(taken.status).toBe(200);
    expect(await taken.json()).toMatchObject({ status: 'taken', late: false });
    const again = await ack({ doseAt: due.toUTC().toISO(), action: 'skipped', memberId: patient.id });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { detail: string }).detail).toContain('already closed as taken');
    const unknown = await ack({ doseAt: '2020-01-01T00:00:00Z', action: 'taken', memberId: patient.id });
    expect(unknown.status).toBe(404);
    const history = (await (await app.request(`/v1/medications/${medication.id}/doses`)).json()) as {
      items: { doseAt: string; status: string; acknowledgedBy: { id: string } | null }[];
    };
    expect(history.items[0]).toMatchObject({
      doseAt: due.toUTC().toISO(),
      status: 'taken',
      acknowledgedBy: { id: patient.id },
    });
    const today = due.toISODate();
    const adherence = (await (
      await app.request(`/v1/patients/${patient.id}/adherence?from=${today}&to=${today}`)
    ).json()) as {
      taken: number;
      adherence: number;
    };
    expect(adherence).toMatchObject({ taken: 1, adherence: 1 });

    const deleted = await app.request(`/v1/medications/${medication.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ status: 'cancelled', nextDoseAt: null });
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
  });

  it('rejects bad input with a precise 4xx, writing nothing and starting nothing', async () => {
    const before = {
      circles: await db.prisma.careCircle.count(),
      medications: await db.prisma.medication.count(),
      workflows: (await env.client.workflow.count()).count,
    };
    const circle = (await (await post('/v1/care-circles', { name: 'Hopper family' })).json()) as { id: string };
    const family = (await (
      await post(`/v1/care-circles/${circle.id}/members`, { name: 'Grace', role: 'family', timezone: 'UTC' })
    ).json()) as { id: string };

    const cases: { body: unknown; status: number; path?: string }[] = [
      {
        body: { careCircleId: circle.id, patientId: family.id, name: 'X', schedule: { times: ['08:00'] } },
        status: 400,
        path: 'patientId',
      },
      {
        body: { careCircleId: circle.id, patientId: family.id, name: 'X', schedule: { times: ['8am'] } },
        status: 400,
        path: 'schedule.times.0',
      },
      {
        body: {
          careCircleId: circle.id,
          patientId: family.id,
          name: 'X',
          schedule: { times: ['08:00'], timezone: 'Mars/Olympus' },
        },
        status: 400,
        path: 'schedule.timezone',
      },
      {
        body: {
          careCircleId: circle.id,
          patientId: family.id,
          name: 'X',
          schedule: { times: ['08:00'], startDate: '2027-02-01', endDate: '2027-01-01' },
        },
        status: 400,
        path: 'schedule.endDate',
      },
      {
        body: {
          careCircleId: circle.id,
          patientId: family.id,
          name: 'X',
          schedule: { times: ['08:00'], endDate: '2020-01-01' },
        },
        status: 400,
      },
      {
        body: {
          careCircleId: '9b2f6b1e-4a5c-4d2e-9f3a-1b2c3d4e5f60',
          patientId: family.id,
          name: 'X',
          schedule: { times: ['08:00'] },
        },
        status: 404,
      },
      { body: [1, 2, 3], status: 400 },
    ];
    for (const c of cases) {
      const res = await post('/v1/medications', c.body);
      expect(res.status, JSON.stringify(c.body)).toBe(c.status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      if (c.path) {
        const problem = (await res.json()) as { errors: { path: string }[] };
        expect(problem.errors.map((e) => e.path)).toContain(c.path);
      }
    }
    const malformed = await app.request('/v1/medications', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(malformed.status).toBe(400);
    const notJson = await app.request('/v1/medications', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(notJson.status).toBe(415);
    const huge = await post('/v1/care-circles', { name: 'x'.repeat(100_000) });
    expect(huge.status).toBe(413);
    expect((await app.request('/v1/medications/not-a-uuid')).status).toBe(404);
    expect((await app.request('/v1/notifications?recipientId=nope')).status).toBe(400);

    expect(await db.prisma.careCircle.count()).toBe(before.circles + 1);
    expect(await db.prisma.medication.count()).toBe(before.medications);
    expect((await env.client.workflow.count()).count).toBe(before.workflows);
  });

  it('edits, pauses, resumes and moves a running schedule through the API', async () => {
    const circle = (await (await post('/v1/care-circles', { name: 'Curie family' })).json()) as { id: string };
    const patient = (await (
      await post(`/v1/care-circles/${circle.id}/members`, { name: 'Marie', role: 'patient', timezone: 'Europe/Paris' })
    ).json()) as { id: string };
    const created = (await (
      await post('/v1/medications', {
        careCircleId: circle.id,
        patientId: patient.id,
        name: 'Vitamin D',
        schedule: { times: ['08:00'] },
      })
    ).json()) as { id: string };
    const call = (method: string, path: string, body?: unknown) =>
      app.request(`/v1/medications/${created.id}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
    type View = {
      status: string;
      schedule: { times: string[]; timezone: string };
      upcomingDoses: string[];
      name: string;
    };

    const edited = await call('PATCH', '', { name: 'Vitamin D3', schedule: { times: ['09:30', '21:30'] } });
    expect(edited.status).toBe(200);
    const view = (await edited.json()) as View;
    expect(view.name).toBe('Vitamin D3');
    expect(view.schedule).toMatchObject({ times: ['09:30', '21:30'], timezone: 'Europe/Paris' });
    const local = view.upcomingDoses.map((d) => DateTime.fromISO(d).setZone('Europe/Paris').toFormat('HH:mm'));
    expect(new Set(local)).toEqual(new Set(['09:30', '21:30']));

    const bad = await call('PATCH', '', { schedule: { type: 'interval', everyHours: 0, firstDoseTime: '25:00' } });
    expect(bad.status).toBe(400);
    const paths = ((await bad.json()) as { errors: { path: string }[] }).errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(['schedule.everyHours', 'schedule.firstDoseTime', 'schedule.startDate']),
    );

    const paused = (await (await call('POST', '/pause')).json()) as View;
    expect(paused).toMatchObject({ status: 'paused', upcomingDoses: [] });
    const resumed = (await (await call('POST', '/resume')).json()) as View;
    expect(resumed.status).toBe('active');
    expect(resumed.upcomingDoses).toHaveLength(5);

    const moved = await app.request(`/v1/members/${patient.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ timezone: 'America/New_York' }),
    });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as { movedSchedules: string[] }).movedSchedules).toEqual([created.id]);
    const afterMove = (await (await call('GET', '')).json()) as View;
    expect(afterMove.schedule.timezone).toBe('America/New_York');
    expect(
      new Set(afterMove.upcomingDoses.map((d) => DateTime.fromISO(d).setZone('America/New_York').toFormat('HH:mm'))),
    ).toEqual(new Set(['09:30', '21:30']));
  });
});
