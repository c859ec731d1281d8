/**
 * The API of appointments, shifts, circle notifications, member preferences and documents, against
 * the time-skipping server with the project's workers: each route's happy path reaches the running
 * workflow (reschedule, reassignment and swap by Update, progress by query, upload to the dev
 * store), and bad input gets a precise 4xx that writes nothing and starts no workflow.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../api/app.ts';
import type { AppointmentReminderStatus } from '../workflows/appointment-messages.ts';
import type { ShiftReminderStatus } from '../workflows/shift-messages.ts';
import { createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { waitFor } from './helpers/care-seed.ts';

let care: CareEnv;
let app: ReturnType<typeof createApp>;
let starts: ReturnType<typeof vi.spyOn>;

beforeAll(async () => {
  care = await createCareEnv();
  app = createApp({ prisma: care.db.prisma, temporal: care.env.client, taskQueue: 'unused', devOutbox: true });
  starts = vi.spyOn(care.env.client.workflow, 'start');
}, 120_000);

afterAll(async () => {
  await care?.teardown();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const json = (method: string, path: string, body: unknown) =>
  app.request(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const post = (path: string, body: unknown) => json('POST', path, body);
const patch = (path: string, body: unknown) => json('PATCH', path, body);
const get = async <T>(path: string) => (await (await app.request(path)).json()) as T;
/** Polls instead of awaiting the result: a result wait lets the test server skip time, and the API checks times against the real clock. */
const closedAs = (workflowId: string, status: string) =>
  waitFor(`${workflowId} ${status}`, async () => {
    const d = await care.env.client.workflow.getHandle(workflowId).describe();
    return d.status.name === status ? true : undefined;
  });
const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 60_000) * 60_000).toISOString();

async function family() {
  const circle = (await (await post('/v1/care-circles', { name: 'Curie family' })).json()) as { id: string };
  const add = async (body: Record<string, unknown>) =>
    (
      (await (await post(`/v1/care-circles/${circle.id}/members`, { timezone: 'Europe/Paris', ...body })).json()) as {
        id: string;
      }
    ).id;
  return {
    circle: circle.id,
    patient: await add({
      name: 'Marie',
      role: 'patient',
      email: 'marie@example.com',
      pushTokens: [`m-${randomUUID()}`],
    }),
    irene: await add({ name: 'Irène', role: 'caregiver', email: 'irene@example.com' }),
    eve: await add({ name: 'Ève', role: 'family', channels: ['in_app'] }),
  };
}

describe('appointments API', () => {
  it('creates, reschedules (the running workflow follows), changes attendees and cancels', async () => {
    const f = await family();
    await care.run(async () => {
      const startsAt = at(3 * DAY);
      const res = await post('/v1/appointments', {
        careCircleId: f.circle,
        patientId: f.patient,
        title: 'Cardiology',
        location: 'Hôpital Européen',
        startsAt,
        caregiverIds: [f.irene],
      });
      expect(res.status).toBe(201);
      const created = (await res.json()) as { id: string; workflowId: string; nextReminderAt: string };
      expect(created.workflowId).toBe(`appointment:${created.id}`);
      expect(created.nextReminderAt).toBe(new Date(Date.parse(startsAt) - DAY).toISOString());

      const shown = await waitFor('the workflow status', async () => {
        const body = await get<{ nextReminderAt: string | null; timezone: string; attendeeIds: string[] }>(
          `/v1/appointments/${created.id}`,
        );
        return body.nextReminderAt ? body : undefined;
      });
      expect(shown).toMatchObject({ timezone: 'Europe/Paris', attendeeIds: [f.patient, f.irene] });

      // Reschedule to tomorrow: the answer is the running workflow's own view after the Update.
      const tomorrow = at(DAY + 5 * HOUR);
      const moved = await patch(`/v1/appointments/${created.id}`, {
        startsAt: tomorrow,
        reminderOffsetsMinutes: [120],
      });
      expect(moved.status).toBe(200);
      expect(await moved.json()).toMatchObject({
        startsAt: tomorrow,
        version: 2,
        reminderOffsetsMinutes: [120],
        nextReminderAt: new Date(Date.parse(tomorrow) - 2 * HOUR).toISOString(),
      });
      const status = await care.env.client.workflow
        .getHandle(created.workflowId)
        .query<AppointmentReminderStatus>('status');
      expect(status).toMatchObject({ version: 2, startsAt: tomorrow, reminderOffsetsMinutes: [120] });

      const attendees = await patch(`/v1/appointments/${created.id}`, { caregiverIds: [f.irene, f.eve] });
      expect(attendees.status).toBe(200);
      expect(await attendees.json()).toMatchObject({ attendeeIds: [f.patient, f.irene, f.eve], version: 3 });

      const deleted = await app.request(`/v1/appointments/${created.id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(200);
      expect(await deleted.json()).toMatchObject({ status: 'cancelled' });
      await closedAs(created.workflowId, 'CANCELLED');
      // A cancelled appointment cannot be rescheduled.
      expect((await patch(`/v1/appointments/${created.id}`, { startsAt: at(2 * DAY) })).status).toBe(409);
    });
  });
});

describe('shifts API', () => {
  it('assigns, reassigns and swaps on the running workflows', async () => {
    const f = await family();
    await care.run(async () => {
      const create = async (startsIn: number, assigneeId?: string) => {
        const res = await post('/v1/shifts', {
          careCircleId: f.circle,
          title: 'Night',
          startsAt: at(startsIn),
          endsAt: at(startsIn + 8 * HOUR),
          ...(assigneeId ? { assigneeId } : {}),
        });
        expect(res.status).toBe(201);
        return ((await res.json()) as { id: string }).id;
      };
      const night = await create(3 * DAY);
      const weekend = await create(5 * DAY, f.eve);
      const status = (id: string) =>
        care.env.client.workflow.getHandle(`shift:${id}`).query<ShiftReminderStatus>('status');

      await waitFor('the first timer', async () => ((await status(night)).next ? true : undefined));
      expect((await status(night)).next?.action).toBe('alert_circle');

      const assigned = await patch(`/v1/shifts/${night}`, { assigneeId: f.irene });
      expect(assigned.status).toBe(200);
      expect(await assigned.json()).toMatchObject({
        assigneeId: f.irene,
        version: 2,
        next: { action: 'remind_assignee' },
      });

      const swapped = await patch(`/v1/shifts/${night}`, { swapWithShiftId: weekend });
      expect(swapped.status).toBe(200);
      expect(await swapped.json()).toMatchObject({
        assigneeId: f.eve,
        swappedWith: { id: weekend, assigneeId: f.irene },
      });
      expect(await status(night)).toMatchObject({ assigneeId: f.eve, version: 3 });
      expect(await status(weekend)).toMatchObject({ assigneeId: f.irene, version: 2 });

      const unassigned = await patch(`/v1/shifts/${weekend}`, { assigneeId: null });
      expect(await unassigned.json()).toMatchObject({ assigneeId: null, next: { action: 'alert_circle' } });

      expect((await app.request(`/v1/shifts/${night}`, { method: 'DELETE' })).status).toBe(200);
      expect(await get(`/v1/shifts/${night}`)).toMatchObject({ status: 'cancelled' });
      await closedAs(`shift:${night}`, 'CANCELLED');
      await care.env.client.workflow.getHandle(`shift:${weekend}`).terminate();
    });
  });
});

describe('circle notifications API', () => {
  it('answers 202 at once, then reports progress from the workflow and, once done, the database', async () => {
    const f = await family();
    const quiet = await patch(`/v1/care-circles/${f.circle}/members/${f.eve}`, {
      quietHours: { start: '22:00', end: '07:00' },
    });
    expect(quiet.status).toBe(200);
    expect(await quiet.json()).toMatchObject({ quietHours: { start: '22:00', end: '07:00' } });
    await care.run(async () => {
      const res = await post(`/v1/care-circles/${f.circle}/notifications`, {
        title: 'Good news',
        body: 'Marie is home.',
        urgent: true,
      });
      expect(res.status).toBe(202);
      const { id, workflowId } = (await res.json()) as { id: string; workflowId: string };
      expect(workflowId).toBe(`circle-notification:${id}`);
      const path = `/v1/care-circles/${f.circle}/notifications/${id}`;
      const first = await get<{ source: string; total: number }>(path);
      expect(first.total === 0 || first.source === 'workflow').toBe(true);
      await closedAs(workflowId, 'COMPLETED');
      const done = await get<Record<string, unknown>>(path);
      expect(done).toMatchObject({ source: 'database', state: 'completed', total: 3, delivered: 3, failed: 0 });
      expect((done.recipients as { memberId: string }[]).map((r) => r.memberId).sort()).toEqual(
        [f.patient, f.irene, f.eve].sort(),
      );
      expect((await app.request(`/v1/care-circles/${randomUUID()}/notifications/${id}`)).status).toBe(404);
    });
  });
});

describe('documents API', () => {
  it('stores the bytes, answers 202, and shows the upload progress until the URL', async () => {
    const f = await family();
    await care.run(async () => {
      const jpeg = Buffer.concat([Buffer.from('ffd8ffe000104a46494600', 'hex'), randomBytes(200_000)]);
      const form = new FormData();
      form.set('careCircleId', f.circle);
      // Declared as a PDF: what counts is what the bytes are.
      form.set('file', new Blob([new Uint8Array(jpeg)], { type: 'application/pdf' }), 'x-ray.jpg');
      const res = await app.request('/v1/documents', { method: 'POST', body: form });
      expect(res.status).toBe(202);
      const { id, workflowId } = (await res.json()) as { id: string; workflowId: string };
      expect(workflowId).toBe(`document:${id}`);
      await closedAs(workflowId, 'COMPLETED');
      const doc = await get<Record<string, unknown>>(`/v1/documents/${id}`);
      expect(doc).toMatchObject({ status: 'uploaded', progress: 1, contentType: 'image/jpeg', sizeBytes: jpeg.length });
      expect(doc.url).toMatch(/^file:\/\/.*\/carecircle\/.*\/[0-9a-f-]+$/);
    });
  });
});

describe('bad input', () => {
  it('gets a precise 4xx, writes nothing and starts no workflow', async () => {
    const f = await family();
    const other = await family();
    const prisma = care.db.prisma;
    const counts = async () => ({
      appointments: await prisma.appointment.count(),
      shifts: await prisma.shift.count(),
      notifications: await prisma.circleNotification.count(),
      documents: await prisma.document.count(),
      blobs: await prisma.documentBlob.count(),
      members: await prisma.member.findMany({ orderBy: { id: 'asc' } }),
      workflows: starts.mock.calls.length,
    });
    const before = await counts();
    const appointment = {
      careCircleId: f.circle,
      patientId: f.patient,
      title: 'Dentist',
      startsAt: at(2 * DAY),
    };
    const shift = { careCircleId: f.circle, startsAt: at(2 * DAY), endsAt: at(2 * DAY + 8 * HOUR) };
    const cases: { method?: string; path: string; body: unknown; status: number; field?: string }[] = [
      { path: '/v1/appointments', body: { ...appointment, title: '' }, status: 400, field: 'title' },
      { path: '/v1/appointments', body: { ...appointment, startsAt: at(-HOUR) }, status: 400, field: 'startsAt' },
      {
        path: '/v1/appointments',
        body: { ...appointment, startsAt: '2030-01-01T10:00' },
        status: 400,
        field: 'startsAt',
      },
      { path: '/v1/appointments', body: { ...appointment, patientId: f.irene }, status: 400, field: 'patientId' },
      {
        path: '/v1/appointments',
        body: { ...appointment, caregiverIds: [f.patient] },
        status: 400,
        field: 'caregiverIds.0',
      },
      {
        path: '/v1/appointments',
        body: { ...appointment, caregiverIds: [f.irene, other.irene] },
        status: 400,
        field: 'caregiverIds.1',
      },
      {
        path: '/v1/appointments',
        body: { ...appointment, reminderOffsetsMinutes: [0] },
        status: 400,
        field: 'reminderOffsetsMinutes.0',
      },
      {
        path: '/v1/appointments',
        body: { ...appointment, reminderOffsetsMinutes: [60, 60] },
        status: 400,
        field: 'reminderOffsetsMinutes',
      },
      { path: '/v1/appointments', body: { ...appointment, timezone: 'Mars/Olympus' }, status: 400, field: 'timezone' },
      { path: '/v1/appointments', body: { ...appointment, colour: 'red' }, status: 400 },
      { path: '/v1/appointments', body: { ...appointment, careCircleId: randomUUID() }, status: 404 },
      { method: 'PATCH', path: `/v1/appointments/${randomUUID()}`, body: { title: 'X' }, status: 404 },
      { path: '/v1/shifts', body: { ...shift, endsAt: shift.startsAt }, status: 400, field: 'endsAt' },
      { path: '/v1/shifts', body: { ...shift, endsAt: at(20 * DAY) }, status: 400, field: 'endsAt' },
      { path: '/v1/shifts', body: { ...shift, assigneeId: f.patient }, status: 400, field: 'assigneeId' },
      { path: '/v1/shifts', body: { ...shift, assigneeId: other.irene }, status: 400, field: 'assigneeId' },
      { path: '/v1/shifts', body: { ...shift, startsAt: at(-DAY), endsAt: at(HOUR) }, status: 400, field: 'startsAt' },
      { path: '/v1/shifts', body: { ...shift, careCircleId: randomUUID() }, status: 404 },
      {
        path: `/v1/care-circles/${f.circle}/notifications`,
        body: { title: '', body: 'x' },
        status: 400,
        field: 'title',
      },
      {
        path: `/v1/care-circles/${f.circle}/notifications`,
        body: { title: 'x', body: 'y'.repeat(2001) },
        status: 400,
        field: 'body',
      },
      {
        path: `/v1/care-circles/${f.circle}/notifications`,
        body: { title: 'x', body: 'y', urgent: 'yes' },
        status: 400,
        field: 'urgent',
      },
      { path: `/v1/care-circles/${randomUUID()}/notifications`, body: { title: 'x', body: 'y' }, status: 404 },
      {
        method: 'PATCH',
        path: `/v1/care-circles/${f.circle}/members/${f.eve}`,
        body: { quietHours: { start: '25:00', end: '07:00' } },
        status: 400,
        field: 'quietHours.start',
      },
      {
        method: 'PATCH',
        path: `/v1/care-circles/${f.circle}/members/${f.eve}`,
        body: { quietHours: { start: '07:00', end: '07:00' } },
        status: 400,
        field: 'quietHours.end',
      },
      {
        method: 'PATCH',
        path: `/v1/care-circles/${f.circle}/members/${other.eve}`,
        body: { channels: ['email'] },
        status: 404,
      },
    ];
    for (const c of cases) {
      const res = await json(c.method ?? 'POST', c.path, c.body);
      expect(res.status, `${c.path} ${JSON.stringify(c.body)}`).toBe(c.status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      if (c.field) {
        const problem = (await res.json()) as { errors: { path: string }[] };
        expect(
          problem.errors.map((e) => e.path),
          JSON.stringify(c.body),
        ).toContain(c.field);
      }
    }

    // A shift of this circle, to try bad changes on (its creation is counted below).
    const created = (await (await post('/v1/shifts', shift)).json()) as { id: string };
    const foreign = await prisma.shift.create({
      data: {
        careCircleId: other.circle,
        startsAt: new Date(at(2 * DAY)),
        endsAt: new Date(at(3 * DAY)),
        reminderLeadMinutes: 120,
        unassignedAlertMinutes: 1440,
        workflowId: `shift:${randomUUID()}`,
      },
    });
    for (const [body, field] of [
      [{ assigneeId: f.irene, swapWithShiftId: foreign.id }, '(body)'],
      [{ swapWithShiftId: created.id }, 'swapWithShiftId'],
      [{ swapWithShiftId: foreign.id }, 'swapWithShiftId'],
      [{ assigneeId: f.patient }, 'assigneeId'],
    ] as const) {
      const res = await patch(`/v1/shifts/${created.id}`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(field);
    }
    expect(await prisma.shift.findUniqueOrThrow({ where: { id: created.id } })).toMatchObject({
      version: 1,
      assigneeId: null,
    });
    await prisma.shift.delete({ where: { id: foreign.id } });

    // Documents.
    const upload = async (fields: Record<string, string | Blob>, filename = 'scan.pdf') => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) {
        if (typeof v === 'string') form.set(k, v);
        else form.set(k, v, filename);
      }
      return app.request('/v1/documents', { method: 'POST', body: form });
    };
    const pdf = new Blob([new Uint8Array(Buffer.from('%PDF-1.7\n%%EOF\n'))], { type: 'application/pdf' });
    const zip = new Blob([new Uint8Array(Buffer.from('504b030414000000080000000000', 'hex'))], {
      type: 'application/pdf',
    });
    expect((await json('POST', '/v1/documents', { careCircleId: f.circle })).status).toBe(415);
    const docCases: [Response, number, string?][] = [
      [await upload({ careCircleId: f.circle }), 400, 'file'],
      [await upload({ careCircleId: 'nope', file: pdf }), 400, 'careCircleId'],
      [await upload({ careCircleId: f.circle, file: new Blob([], { type: 'application/pdf' }) }), 400, 'file'],
      [await upload({ careCircleId: f.circle, file: zip }, 'disguised.pdf'), 415],
      [
        await upload({ careCircleId: f.circle, file: new Blob(['MZ\u0000\u0001'], { type: 'text/plain' }) }, 'a.txt'),
        415,
      ],
      [await upload({ careCircleId: randomUUID(), file: pdf }), 404],
      [
        await upload({
          careCircleId: f.circle,
          file: new Blob([new Uint8Array(20 * 1024 * 1024 + 1)], { type: 'application/pdf' }),
        }),
        413,
      ],
    ];
    for (const [res, status, field] of docCases) {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      if (field)
        expect(((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toContain(field);
    }
    expect((await app.request('/v1/documents/not-a-uuid')).status).toBe(404);
    expect((await app.request('/v1/appointments/not-a-uuid')).status).toBe(404);

    const after = await counts();
    expect(after).toEqual({ ...before, shifts: before.shifts + 1, workflows: before.workflows + 1 });
  });
});
