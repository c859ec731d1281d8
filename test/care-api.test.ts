/**
 * The API of appointments, shifts, circle notifications, member preferences and documents, against
 * the time-skipping server with the project's workers: each route's happy path reaches the running
 * workflow (reschedule, reassignment and swap by Update, progress by query, upload to the dev
 * store), and bad input gets a precise 4xx that writes nothing and starts no workflow. Every request
 * is signed in: roles decide who may change what (403), and to anyone outside a circle its
 * appointments, shifts, messages and documents do not exist (404).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../api/app.ts';
import type { AppointmentReminderStatus } from '../workflows/appointment-messages.ts';
import type { ShiftReminderStatus } from '../workflows/shift-messages.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { waitFor } from './helpers/wait.ts';

let care: CareEnv;
let app: ReturnType<typeof createApp>;
let starts: ReturnType<typeof vi.spyOn>;
/** Creates every circle below, so is its caregiver. */
let alice: UserClient;

beforeAll(async () => {
  care = await createCareEnv();
  app = createApp({
    prisma: care.db.prisma,
    temporal: care.env.client,
    taskQueue: 'unused',
    devOutbox: true,
    tokens: testTokens(),
    documentStore: care.documents,
    // Rate limits are not under test here; the polling below would soon reach them.
    rateLimits: { perUser: 1_000_000, perAddress: 1_000_000 },
  });
  starts = vi.spyOn(care.env.client.workflow, 'start');
  alice = await asUser(app, 'alice');
}, 120_000);

afterAll(async () => {
  await care?.teardown();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const json = (method: string, path: string, body: unknown, as: UserClient = alice) =>
  as.request(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const post = (path: string, body: unknown) => alice.post(path, body);
const patch = (path: string, body: unknown) => alice.patch(path, body);
const get = async <T>(path: string, as: UserClient = alice) => (await (await as.get(path)).json()) as T;
/** Polls instead of awaiting the result: a result wait lets the test server skip time, and the API checks times against the real clock. */
const closedAs = (workflowId: string, status: string) =>
  waitFor(`${workflowId} ${status}`, async () => {
    const d = await care.env.client.workflow.getHandle(workflowId).describe();
    return d.status.name === status ? true : undefined;
  });
const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 60_000) * 60_000).toISOString();

async function family() {
  const circle = (await (await post('/v1/care-circles', { name: 'Curie family' })).json()) as {
    id: string;
    memberId: string;
  };
  const add = async (body: Record<string, unknown>) =>
    (
      (await (await post(`/v1/care-circles/${circle.id}/members`, { timezone: 'Europe/Paris', ...body })).json()) as {
        id: string;
      }
    ).id;
  return {
    circle: circle.id,
    /** Alice, who created the circle: its first caregiver. */
    alice: circle.memberId,
    patient: await add({
      name: 'Marie',
      role: 'patient',
      email: 'marie@example.com',
      pushTokens: [`m-${randomUUID()}`],
      userId: 'marie',
    }),
    irene: await add({ name: 'Irène', role: 'caregiver', email: 'irene@example.com', userId: 'irene' }),
    eve: await add({ name: 'Ève', role: 'family', channels: ['in_app'], userId: 'eve' }),
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

      const deleted = await alice.delete(`/v1/appointments/${created.id}`);
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

      expect((await alice.delete(`/v1/shifts/${night}`)).status).toBe(200);
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
      expect(done).toMatchObject({ source: 'database', state: 'completed', total: 4, delivered: 4, failed: 0 });
      expect((done.recipients as { memberId: string }[]).map((r) => r.memberId).sort()).toEqual(
        [f.alice, f.patient, f.irene, f.eve].sort(),
      );
      expect((await alice.get(`/v1/care-circles/${randomUUID()}/notifications/${id}`)).status).toBe(404);
    });
  });
});

describe('documents API', () => {
  it('stores the bytes, answers 202, shows the upload progress, then hands the file to members only', async () => {
    const f = await family();
    await care.run(async () => {
      const jpeg = Buffer.concat([Buffer.from('ffd8ffe000104a46494600', 'hex'), randomBytes(200_000)]);
      const form = new FormData();
      form.set('careCircleId', f.circle);
      // Declared as a PDF: what counts is what the bytes are.
      form.set('file', new Blob([new Uint8Array(jpeg)], { type: 'application/pdf' }), 'x-ray.jpg');
      const res = await alice.request('/v1/documents', { method: 'POST', body: form });
      expect(res.status).toBe(202);
      const { id, workflowId } = (await res.json()) as { id: string; workflowId: string };
      expect(workflowId).toBe(`document:${id}`);
      const early = await alice.get(`/v1/documents/${id}/content`);
      if (early.status !== 200) expect(early.status).toBe(409); // unless the upload was quicker
      await closedAs(workflowId, 'COMPLETED');
      const doc = await get<Record<string, unknown>>(`/v1/documents/${id}`);
      expect(doc).toMatchObject({ status: 'uploaded', progress: 1, contentType: 'image/jpeg', sizeBytes: jpeg.length });
      // No address of the file, anywhere in the answer.
      expect(JSON.stringify(doc)).not.toMatch(/url|file:|https?:/i);

      const content = await alice.get(`/v1/documents/${id}/content`);
      expect(content.status).toBe(200);
      expect(Object.fromEntries(content.headers)).toMatchObject({
        'content-type': 'image/jpeg',
        'content-length': String(jpeg.length),
        'content-disposition': `attachment; filename="x-ray.jpg"; filename*=UTF-8''x-ray.jpg`,
        'cache-control': 'private, no-store',
        'x-content-type-options': 'nosniff',
      });
      expect(Buffer.from(await content.arrayBuffer()).equals(jpeg)).toBe(true);
      // Someone outside the circle learns nothing, not even that it exists.
      const mallory = await asUser(app, 'mallory');
      expect((await mallory.get(`/v1/documents/${id}/content`)).status).toBe(404);
      expect((await alice.get(`/v1/documents/${randomUUID()}/content`)).status).toBe(404);
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
      return alice.request('/v1/documents', { method: 'POST', body: form });
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
    expect((await alice.get('/v1/documents/not-a-uuid')).status).toBe(404);
    expect((await alice.get('/v1/appointments/not-a-uuid')).status).toBe(404);

    const after = await counts();
    expect(after).toEqual({ ...before, shifts: before.shifts + 1, workflows: before.workflows + 1 });
  });
});

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}
async function expectProblem(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  return (await res.json()) as Problem;
}

describe('roles', () => {
  it('a family member may not create appointments or shifts (403, nothing written) but may notify the circle', async () => {
    const f = await family();
    const [eve, marie] = [await asUser(app, 'eve'), await asUser(app, 'marie')];
    const prisma = care.db.prisma;
    const counts = async () => ({
      appointments: await prisma.appointment.count(),
      shifts: await prisma.shift.count(),
      notifications: await prisma.circleNotification.count(),
      documents: await prisma.document.count(),
      workflows: starts.mock.calls.length,
    });
    const before = await counts();

    const appointment = { careCircleId: f.circle, patientId: f.patient, title: 'Dentist', startsAt: at(2 * DAY) };
    const refused = await expectProblem(await eve.post('/v1/appointments', appointment), 403);
    expect(refused).toMatchObject({
      type: 'urn:carecircle:problem:forbidden',
      detail: expect.stringContaining('family'),
    });
    const shift = { careCircleId: f.circle, startsAt: at(2 * DAY), endsAt: at(2 * DAY + 8 * HOUR) };
    await expectProblem(await eve.post('/v1/shifts', shift), 403);
    // The patient sees the circle but does not message all of it, nor upload documents.
    await expectProblem(await marie.post(`/v1/care-circles/${f.circle}/notifications`, { title: 'x', body: 'y' }), 403);
    const form = new FormData();
    form.set('careCircleId', f.circle);
    form.set('file', new Blob(['%PDF-1.7\n%%EOF\n'], { type: 'application/pdf' }), 'scan.pdf');
    await expectProblem(await marie.request('/v1/documents', { method: 'POST', body: form }), 403);
    expect(await counts()).toEqual(before);

    await care.run(async () => {
      const res = await eve.post(`/v1/care-circles/${f.circle}/notifications`, {
        title: 'Visit',
        body: 'I will come on Sunday.',
      });
      expect(res.status).toBe(202);
      const { id, workflowId } = (await res.json()) as { id: string; workflowId: string };
      await closedAs(workflowId, 'COMPLETED');
      expect(await get(`/v1/care-circles/${f.circle}/notifications/${id}`, marie)).toMatchObject({
        state: 'completed',
        total: 4,
        delivered: 4,
      });
    });
  });

  it("members set their own notification preferences; only caregivers set someone else's", async () => {
    const f = await family();
    const eve = await asUser(app, 'eve');
    const prisma = care.db.prisma;
    const own = await eve.patch(`/v1/care-circles/${f.circle}/members/${f.eve}`, { channels: ['email', 'in_app'] });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ id: f.eve, channels: ['email', 'in_app'] });

    const irene = await prisma.member.findUniqueOrThrow({ where: { id: f.irene } });
    await expectProblem(
      await eve.patch(`/v1/care-circles/${f.circle}/members/${f.irene}`, { channels: ['email'] }),
      403,
    );
    expect(await prisma.member.findUniqueOrThrow({ where: { id: f.irene } })).toEqual(irene);

    const byCaregiver = await alice.patch(`/v1/care-circles/${f.circle}/members/${f.irene}`, { channels: ['push'] });
    expect(byCaregiver.status).toBe(200);
    expect(await byCaregiver.json()).toMatchObject({ id: f.irene, channels: ['push'] });
  });
});

describe('outside a circle', () => {
  it('a user of another circle gets the same 404 as for a nonexistent id, and no row or workflow changes', async () => {
    const f = await family();
    const mallory = await asUser(app, 'mallory');
    expect((await mallory.post('/v1/care-circles', { name: 'Borgia family' })).status).toBe(201);
    const prisma = care.db.prisma;
    await care.run(async () => {
      const a = await post('/v1/appointments', {
        careCircleId: f.circle,
        patientId: f.patient,
        title: 'Cardiology',
        startsAt: at(3 * DAY),
      });
      expect(a.status).toBe(201);
      const appointment = (await a.json()) as { id: string; workflowId: string };
      const s = await post('/v1/shifts', {
        careCircleId: f.circle,
        startsAt: at(3 * DAY),
        endsAt: at(3 * DAY + 8 * HOUR),
        assigneeId: f.irene,
      });
      expect(s.status).toBe(201);
      const shift = (await s.json()) as { id: string; workflowId: string };
      const appointmentWorkflow = () =>
        care.env.client.workflow.getHandle(appointment.workflowId).query<AppointmentReminderStatus>('status');
      const shiftWorkflow = () =>
        care.env.client.workflow.getHandle(shift.workflowId).query<ShiftReminderStatus>('status');
      await waitFor('both workflows', async () =>
        (await appointmentWorkflow()).nextReminderAt && (await shiftWorkflow()).next ? true : undefined,
      );
      const snapshot = async () => ({
        appointment: await prisma.appointment.findUniqueOrThrow({ where: { id: appointment.id } }),
        shift: await prisma.shift.findUniqueOrThrow({ where: { id: shift.id } }),
        appointmentWorkflow: await appointmentWorkflow(),
        shiftWorkflow: await shiftWorkflow(),
        notifications: await prisma.circleNotification.count(),
        workflows: starts.mock.calls.length,
      });
      const before = await snapshot();

      const targets = [
        { kind: 'Appointment', base: '/v1/appointments', id: appointment.id, change: { title: 'Hijacked' } },
        { kind: 'Shift', base: '/v1/shifts', id: shift.id, change: { assigneeId: null } },
      ];
      for (const { kind, base, id, change } of targets) {
        const unknown = randomUUID();
        const requests: [string, (path: string) => Promise<Response>][] = [
          ['GET', (path) => mallory.get(path)],
          ['PATCH', (path) => mallory.patch(path, change)],
          ['DELETE', (path) => mallory.delete(path)],
        ];
        for (const [method, send] of requests) {
          const hidden = await expectProblem(await send(`${base}/${id}`), 404);
          const missing = await expectProblem(await send(`${base}/${unknown}`), 404);
          expect(missing.detail, `${method} ${base}`).toBe(`${kind} ${unknown} does not exist`);
          expect(hidden, `${method} ${base}`).toEqual({ ...missing, detail: `${kind} ${id} does not exist` });
        }
      }
      // The circle's lists, and creating things in it, are just as closed to her.
      await expectProblem(await mallory.get(`/v1/appointments?careCircleId=${f.circle}`), 404);
      await expectProblem(await mallory.get(`/v1/shifts?careCircleId=${f.circle}`), 404);
      await expectProblem(await mallory.get(`/v1/care-circles/${f.circle}/notifications`), 404);
      await expectProblem(
        await mallory.post('/v1/appointments', {
          careCircleId: f.circle,
          patientId: f.patient,
          title: 'Dentist',
          startsAt: at(2 * DAY),
        }),
        404,
      );
      await expectProblem(
        await mallory.post(`/v1/care-circles/${f.circle}/notifications`, { title: 'x', body: 'y' }),
        404,
      );
      await expectProblem(
        await mallory.patch(`/v1/care-circles/${f.circle}/members/${f.eve}`, { channels: ['email'] }),
        404,
      );

      expect(await snapshot()).toEqual(before);
      for (const workflowId of [appointment.workflowId, shift.workflowId]) {
        expect((await care.env.client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
      }

      // The circle's own caregiver still can.
      expect((await alice.delete(`/v1/appointments/${appointment.id}`)).status).toBe(200);
      expect((await alice.delete(`/v1/shifts/${shift.id}`)).status).toBe(200);
      await closedAs(appointment.workflowId, 'CANCELLED');
      await closedAs(shift.workflowId, 'CANCELLED');
    });

    // Documents and messages of the circle, seeded directly: hers to see only as a member.
    const document = await prisma.document.create({
      data: {
        careCircleId: f.circle,
        filename: 'scan.pdf',
        contentType: 'application/pdf',
        sizeBytes: 1,
        sha256: '0'.repeat(64),
        workflowId: `document:${randomUUID()}`,
      },
    });
    const notification = await prisma.circleNotification.create({
      data: { careCircleId: f.circle, title: 'x', body: 'y', workflowId: `circle-notification:${randomUUID()}` },
    });
    const documentPath = `/v1/documents/${document.id}`;
    const notificationPath = `/v1/care-circles/${f.circle}/notifications/${notification.id}`;
    expect((await expectProblem(await mallory.get(documentPath), 404)).detail).toBe(
      `Document ${document.id} does not exist`,
    );
    expect((await expectProblem(await mallory.get(notificationPath), 404)).detail).toBe(
      `Notification ${notification.id} does not exist`,
    );
    expect((await alice.get(documentPath)).status).toBe(200);
    expect((await alice.get(notificationPath)).status).toBe(200);
  });
});

describe('lists', () => {
  type Page = { items: { id: string; careCircleId: string }[]; nextCursor: string | null };
  /** Every page of `path`, `limit` at a time. */
  async function pages(path: string, limit: number, as: UserClient): Promise<Page[]> {
    const all: Page[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await as.get(`${path}${path.includes('?') ? '&' : '?'}${query}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as Page;
      all.push(page);
      cursor = page.nextCursor;
    } while (cursor && all.length < 10);
    return all;
  }
  const byKeyThenId =
    <T extends { id: string }>(key: (row: T) => Date, direction: 1 | -1) =>
    (a: T, b: T) =>
      direction * (key(a).getTime() - key(b).getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  it('pages appointments by start time with cursors: 3 items, limit 2 → 2 + 1, no repeats', async () => {
    const f = await family();
    const other = await family();
    const prisma = care.db.prisma;
    const seed = (careCircleId: string, patientId: string, startsAt: Date) =>
      prisma.appointment.create({
        data: {
          careCircleId,
          patientId,
          title: 'Check-up',
          startsAt,
          timezone: 'Europe/Paris',
          attendeeIds: [patientId],
          reminderOffsetsMinutes: [60],
          workflowId: `appointment:${randomUUID()}`,
        },
      });
    // Two at the same time: the id decides their order.
    const later = new Date(at(5 * DAY));
    const rows = [
      await seed(f.circle, f.patient, later),
      await seed(f.circle, f.patient, new Date(at(2 * DAY))),
      await seed(f.circle, f.patient, later),
    ];
    await seed(other.circle, other.patient, new Date(at(DAY)));
    const expected = rows.sort(byKeyThenId((r) => r.startsAt, 1)).map((r) => r.id);

    // A family member may see them.
    const eve = await asUser(app, 'eve');
    const [first, second, ...rest] = await pages(`/v1/appointments?careCircleId=${f.circle}`, 2, eve);
    expect(rest).toEqual([]);
    expect(first?.items).toHaveLength(2);
    expect(first?.nextCursor).toEqual(expect.any(String));
    expect(second?.items).toHaveLength(1);
    expect(second?.nextCursor).toBeNull();
    expect([...first!.items, ...second!.items].map((i) => i.id)).toEqual(expected);
    expect(second?.items[0]).toMatchObject({ careCircleId: f.circle, status: 'scheduled', title: 'Check-up' });
    // One page holds them all when it is large enough.
    expect((await get<Page>(`/v1/appointments?careCircleId=${f.circle}`)).items.map((i) => i.id)).toEqual(expected);

    const bad = async (query: string, field: string) => {
      const problem = await expectProblem(await alice.get(`/v1/appointments?${query}`), 400);
      expect(problem.detail ?? '', query).toContain(field);
    };
    await bad('limit=2', 'query.careCircleId');
    await bad(`careCircleId=nope`, 'query.careCircleId');
    await bad(`careCircleId=${f.circle}&limit=0`, 'query.limit');
    await bad(`careCircleId=${f.circle}&cursor=nope`, 'cursor');
  });

  it('pages shifts by start time, and circle messages newest first', async () => {
    const f = await family();
    const prisma = care.db.prisma;
    const later = new Date(at(4 * DAY));
    const shifts = [];
    for (const startsAt of [later, new Date(at(2 * DAY)), later]) {
      shifts.push(
        await prisma.shift.create({
          data: {
            careCircleId: f.circle,
            startsAt,
            endsAt: new Date(startsAt.getTime() + 8 * HOUR),
            reminderLeadMinutes: 120,
            unassignedAlertMinutes: 1440,
            workflowId: `shift:${randomUUID()}`,
          },
        }),
      );
    }
    const sent = new Date(Date.now() - HOUR);
    const notifications = [];
    for (const createdAt of [sent, new Date(sent.getTime() - HOUR), sent]) {
      notifications.push(
        await prisma.circleNotification.create({
          data: {
            careCircleId: f.circle,
            title: 'News',
            body: 'Marie is home.',
            createdAt,
            workflowId: `circle-notification:${randomUUID()}`,
          },
        }),
      );
    }
    const eve = await asUser(app, 'eve');
    const ids = (all: Page[]) => all.flatMap((p) => p.items.map((i) => i.id));

    const shiftPages = await pages(`/v1/shifts?careCircleId=${f.circle}`, 2, eve);
    expect(shiftPages.map((p) => p.items.length)).toEqual([2, 1]);
    expect(ids(shiftPages)).toEqual(shifts.sort(byKeyThenId((s) => s.startsAt, 1)).map((s) => s.id));

    const messagePages = await pages(`/v1/care-circles/${f.circle}/notifications`, 2, eve);
    expect(messagePages.map((p) => p.items.length)).toEqual([2, 1]);
    expect(ids(messagePages)).toEqual(notifications.sort(byKeyThenId((n) => n.createdAt, -1)).map((n) => n.id));
    expect(messagePages[0]?.items[0]).toMatchObject({ title: 'News', state: 'sending', urgent: false });
  });
});
