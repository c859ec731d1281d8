/**
 * Who may do what with medications, doses, members and adherence: caregivers manage medications,
 * the patient and caregivers record doses (as themselves), every member reads, and to anyone outside
 * the circle none of it exists (404, exactly as for an unknown id). A refused request writes nothing
 * and never reaches Temporal, which is a stand-in here that records every call made to it.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let app: ReturnType<typeof createApp>;

/** Every call the API made to Temporal, e.g. "update medication:… acknowledgeDose". */
const calls: string[] = [];
/** The arguments of each Update, in order. */
const updates: { name: string; args: unknown[] }[] = [];

function fakeTemporal(): Client {
  const status = {
    state: 'active',
    schedule: { type: 'times', times: ['08:00'], timezone: 'UTC' },
    nextDoseAt: '2030-01-01T08:00:00.000Z',
    lastDoseAt: null,
    remindersSent: 0,
    escalationWindowMinutes: 30,
    openDoses: [],
  };
  return {
    workflow: {
      start: async (_type: string, options: { workflowId: string }) => {
        calls.push(`start ${options.workflowId}`);
        return { workflowId: options.workflowId };
      },
      getHandle: (workflowId: string) => ({
        query: async (def: { name: string }) => {
          calls.push(`query ${workflowId} ${def.name}`);
          return def.name === 'status' ? status : ['2030-01-01T08:00:00.000Z'];
        },
        executeUpdate: async (def: { name: string }, opts: { args?: unknown[] } = {}) => {
          calls.push(`update ${workflowId} ${def.name}`);
          updates.push({ name: def.name, args: opts.args ?? [] });
          const input = (opts.args?.[0] ?? {}) as { doseAt?: string; action?: string };
          if (def.name === 'acknowledgeDose') {
            return { doseAt: input.doseAt, status: input.action, snoozedUntil: null, late: false };
          }
          if (def.name === 'logAsNeededDose') return { takenAt: '2030-01-01T09:00:00.000Z' };
          return status;
        },
        cancel: async () => {
          calls.push(`cancel ${workflowId}`);
        },
        signal: async (def: { name: string }) => {
          calls.push(`signal ${workflowId} ${def.name}`);
        },
      }),
    },
  } as unknown as Client;
}

/** The Lovelace circle: Alice (caregiver), Ada and Byron (patients), Fay (family), Nell (no login). */
interface Circle {
  id: string;
  ada: string;
  byron: string;
  fay: string;
  nell: string;
  aliceMember: string;
}
let circle: Circle;
let alice: UserClient;
let ada: UserClient;
let byron: UserClient;
let fay: UserClient;
let mallory: UserClient;

async function created(res: Response | Promise<Response>): Promise<string> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(201);
  return ((await r.json()) as { id: string }).id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    prisma: db.prisma,
    temporal: fakeTemporal(),
    taskQueue: 'access-test',
    devOutbox: false,
    tokens: testTokens(),
  });
  [alice, ada, byron, fay, mallory] = await Promise.all([
    asUser(app, 'alice'),
    asUser(app, 'ada'),
    asUser(app, 'byron'),
    asUser(app, 'fay'),
    asUser(app, 'mallory'),
  ]);
  const res = await alice.post('/v1/care-circles', { name: 'Lovelace family' });
  const { id, memberId } = (await res.json()) as { id: string; memberId: string };
  const add = (body: object) => created(alice.post(`/v1/care-circles/${id}/members`, { timezone: 'UTC', ...body }));
  circle = {
    id,
    aliceMember: memberId,
    ada: await add({ name: 'Ada', role: 'patient', userId: 'ada' }),
    byron: await add({ name: 'Byron', role: 'patient', userId: 'byron' }),
    fay: await add({ name: 'Fay', role: 'family', userId: 'fay' }),
    nell: await add({ name: 'Nell', role: 'patient' }),
  };
  // Mallory is a caregiver too, of another circle.
  await created(mallory.post('/v1/care-circles', { name: 'Moriarty family' }));
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(() => {
  calls.length = 0;
  updates.length = 0;
});

const medicationBody = (name = 'Levothyroxine', schedule: object = { times: ['08:00'] }) => ({
  careCircleId: circle.id,
  patientId: circle.ada,
  name,
  schedule,
});

/** A medication of Ada's, created by Alice; the Temporal calls it took are forgotten. */
async function adaMedication(schedule?: object): Promise<string> {
  const id = await created(alice.post('/v1/medications', medicationBody('Levothyroxine', schedule)));
  calls.length = 0;
  return id;
}

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}
const problem = async (res: Response) => ({ status: res.status, body: (await res.json()) as ProblemBody });

describe('creating medications', () => {
  it('is for caregivers: family and patients get 403, outsiders 404, and nothing is written or started', async () => {
    const before = await db.prisma.medication.count();
    for (const as of [fay, ada]) {
      const res = await as.post('/v1/medications', medicationBody());
      expect(await problem(res)).toMatchObject({
        status: 403,
        body: { type: 'urn:carecircle:problem:forbidden', detail: expect.stringContaining('caregiver') },
      });
    }
    // To an outsider the circle does not exist: the very answer an unknown circle id gets.
    const hidden = await problem(await mallory.post('/v1/medications', medicationBody()));
    const unknownId = randomUUID();
    const unknown = await problem(
      await alice.post('/v1/medications', { ...medicationBody(), careCircleId: unknownId }),
    );
    expect(hidden).toEqual({
      status: 404,
      body: { ...unknown.body, detail: `Care circle ${circle.id} does not exist` },
    });
    expect(unknown.body.detail).toBe(`Care circle ${unknownId} does not exist`);
    expect(await db.prisma.medication.count()).toBe(before);
    expect(calls).toEqual([]);

    expect((await alice.post('/v1/medications', medicationBody())).status).toBe(201);
    expect(calls).toEqual([expect.stringMatching(/^start medication:/)]);
  });

  it("refuses a patient from another circle, even the caller's own", async () => {
    const mine = (await (await mallory.get('/v1/care-circles')).json()) as { items: { id: string }[] };
    const theirs = mine.items[0]!.id;
    const moriartyPatient = await created(
      mallory.post(`/v1/care-circles/${theirs}/members`, { name: 'James', role: 'patient', timezone: 'UTC' }),
    );
    const res = await alice.post('/v1/medications', { ...medicationBody(), patientId: moriartyPatient });
    expect(res.status).toBe(400);
    expect(((await res.json()) as ProblemBody).errors).toEqual([
      { path: 'patientId', message: 'must be a member of the care circle' },
    ]);
    expect(calls).toEqual([]);
  });
});

describe('recording doses', () => {
  const doseAt = '2030-01-01T08:00:00.000Z';

  it("acknowledges as the caller's membership, never a member id from the body", async () => {
    const id = await adaMedication();
    const byAda = await ada.post(`/v1/medications/${id}/doses/acknowledge`, { doseAt, action: 'taken' });
    expect(byAda.status).toBe(200);
    expect(await byAda.json()).toEqual({ doseAt, status: 'taken', snoozedUntil: null, late: false });
    const byAlice = await alice.post(`/v1/medications/${id}/doses/acknowledge`, {
      doseAt,
      action: 'snoozed',
      snoozeMinutes: 10,
    });
    expect(byAlice.status).toBe(200);
    // The Update's input keeps its shape (recorded histories replay), with the caller as memberId.
    expect(updates).toEqual([
      { name: 'acknowledgeDose', args: [{ doseAt, action: 'taken', memberId: circle.ada }] },
      {
        name: 'acknowledgeDose',
        args: [{ doseAt, action: 'snoozed', snoozeMinutes: 10, memberId: circle.aliceMember }],
      },
    ]);

    // Naming someone else is not a thing the API takes any more.
    const spoofed = await ada.post(`/v1/medications/${id}/doses/acknowledge`, {
      doseAt,
      action: 'taken',
      memberId: circle.aliceMember,
    });
    expect(spoofed.status).toBe(400);
    expect(((await spoofed.json()) as ProblemBody).errors).toEqual([
      { path: '(body)', message: 'unknown field: memberId' },
    ]);
    expect(updates).toHaveLength(2);
  });

  it('refuses family (403), another patient (403) and outsiders (404), reaching no workflow', async () => {
    const id = await adaMedication();
    const ack = (as: UserClient) => as.post(`/v1/medications/${id}/doses/acknowledge`, { doseAt, action: 'taken' });
    const log = (as: UserClient) => as.post(`/v1/medications/${id}/doses`, {});
    for (const attempt of [ack, log]) {
      const family = await problem(await attempt(fay));
      expect(family).toMatchObject({ status: 403, body: { type: 'urn:carecircle:problem:forbidden' } });
      expect(family.body.detail).toBe(
        'A family may not acknowledge, skip, snooze and log doses (allowed: patient, caregiver)',
      );
      expect(await problem(await attempt(byron))).toMatchObject({
        status: 403,
        body: { detail: "Only this medication's patient or a caregiver may record its doses" },
      });
      expect(await problem(await attempt(mallory))).toMatchObject({
        status: 404,
        body: { detail: `Medication ${id} does not exist` },
      });
    }
    expect(calls).toEqual([]);
    expect(await db.prisma.doseEvent.count({ where: { medicationId: id } })).toBe(0);
  });

  it('logs an as-needed dose as the caller', async () => {
    const id = await adaMedication({ type: 'as_needed' });
    const res = await ada.post(`/v1/medications/${id}/doses`, { takenAt: '2030-01-01T09:00:00Z' });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ takenAt: '2030-01-01T09:00:00.000Z' });
    expect((await alice.post(`/v1/medications/${id}/doses`, {})).status).toBe(201);
    // "Taken now" needs no body at all.
    expect((await ada.request(`/v1/medications/${id}/doses`, { method: 'POST' })).status).toBe(201);
    expect(updates).toEqual([
      { name: 'logAsNeededDose', args: [{ memberId: circle.ada, takenAt: '2030-01-01T09:00:00Z' }] },
      { name: 'logAsNeededDose', args: [{ memberId: circle.aliceMember }] },
      { name: 'logAsNeededDose', args: [{ memberId: circle.ada }] },
    ]);
  });
});

describe('outsiders', () => {
  it('get the 404 of a nonexistent medication on every route, and nothing changes', async () => {
    const id = await adaMedication();
    const row = await db.prisma.medication.findUniqueOrThrow({ where: { id } });
    const requests = (as: UserClient, medicationId: string) => [
      as.get(`/v1/medications/${medicationId}`),
      as.get(`/v1/medications/${medicationId}/doses`),
      as.patch(`/v1/medications/${medicationId}`, { name: 'Hijacked', schedule: { times: ['03:00'] } }),
      as.post(`/v1/medications/${medicationId}/pause`),
      as.post(`/v1/medications/${medicationId}/resume`),
      as.post(`/v1/medications/${medicationId}/doses/acknowledge`, {
        doseAt: '2030-01-01T08:00:00Z',
        action: 'skipped',
      }),
      as.post(`/v1/medications/${medicationId}/doses`, {}),
      as.delete(`/v1/medications/${medicationId}`),
    ];
    const unknownId = randomUUID();
    const theirs = await Promise.all(requests(mallory, id).map(async (r) => problem(await r)));
    const unknown = await Promise.all(requests(alice, unknownId).map(async (r) => problem(await r)));
    expect(theirs).toEqual(
      unknown.map((u) => {
        expect(u).toMatchObject({ status: 404, body: { detail: `Medication ${unknownId} does not exist` } });
        return { ...u, body: { ...u.body, detail: `Medication ${id} does not exist` } };
      }),
    );
    expect(await db.prisma.medication.findUniqueOrThrow({ where: { id } })).toEqual(row);
    expect(calls).toEqual([]);
  });
});

describe('managing medications', () => {
  it('is for caregivers: the patient and family get 403 and change nothing', async () => {
    const id = await adaMedication();
    const row = await db.prisma.medication.findUniqueOrThrow({ where: { id } });
    for (const as of [ada, fay]) {
      const statuses = await Promise.all([
        as.patch(`/v1/medications/${id}`, { name: 'Renamed', escalationWindowMinutes: 60 }),
        as.post(`/v1/medications/${id}/pause`),
        as.post(`/v1/medications/${id}/resume`),
        as.delete(`/v1/medications/${id}`),
      ]);
      expect(statuses.map((r) => r.status)).toEqual([403, 403, 403, 403]);
    }
    expect(await db.prisma.medication.findUniqueOrThrow({ where: { id } })).toEqual(row);
    expect(calls).toEqual([]);

    // While everyone in the circle may read it.
    for (const as of [ada, byron, fay]) expect((await as.get(`/v1/medications/${id}`)).status).toBe(200);

    const paused = await alice.post(`/v1/medications/${id}/pause`);
    expect(paused.status).toBe(200);
    const renamed = await alice.patch(`/v1/medications/${id}`, { name: 'Renamed' });
    expect(await renamed.json()).toMatchObject({ name: 'Renamed', careCircleId: circle.id });
    const cancelled = await alice.delete(`/v1/medications/${id}`);
    expect(await cancelled.json()).toMatchObject({ status: 'cancelled' });
    expect(calls.filter((c) => !c.startsWith('query'))).toEqual([
      `update medication:${id} pause`,
      `cancel medication:${id}`,
    ]);
  });
});

describe('GET /v1/medications', () => {
  it("pages through a circle's medications newest first with cursors, ties broken by id", async () => {
    const { id: careCircleId } = await db.prisma.careCircle.create({ data: { name: 'Paged family' } });
    const [, patient] = await Promise.all([
      db.prisma.member.create({
        data: { careCircleId, name: 'Fay', role: 'family', timezone: 'UTC', userId: 'fay' },
      }),
      db.prisma.member.create({ data: { careCircleId, name: 'Pat', role: 'patient', timezone: 'UTC' } }),
    ]);
    // Two created in the same millisecond: only the id orders them.
    const at = [new Date('2026-01-01T08:00:00Z'), new Date('2026-01-02T08:00:00Z'), new Date('2026-01-02T08:00:00Z')];
    const ids = await Promise.all(
      at.map(async (createdAt, i) => {
        const id = randomUUID();
        await db.prisma.medication.create({
          data: {
            id,
            careCircleId,
            patientId: patient.id,
            name: `Medication ${i}`,
            dosage: i === 0 ? '5 mg' : null,
            schedule: { type: 'times', times: ['08:00'], timezone: 'UTC' },
            workflowId: `medication:${id}`,
            createdAt,
          },
        });
        return id;
      }),
    );
    const expected = [ids[1]!, ids[2]!].sort().reverse().concat(ids[0]!);

    const first = await fay.get(`/v1/medications?careCircleId=${careCircleId}&limit=2`);
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as { items: { id: string }[]; nextCursor: string | null };
    expect(page1.items).toHaveLength(2);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const second = await fay.get(
      `/v1/medications?careCircleId=${careCircleId}&limit=2&cursor=${encodeURIComponent(page1.nextCursor!)}`,
    );
    const page2 = (await second.json()) as typeof page1;
    expect(page2.items).toHaveLength(1);
    expect(page2.nextCursor).toBeNull();
    expect([...page1.items, ...page2.items].map((m) => m.id)).toEqual(expected);
    expect(page2.items[0]).toEqual({
      id: ids[0],
      name: 'Medication 0',
      dosage: '5 mg',
      patientId: patient.id,
      status: 'active',
      createdAt: '2026-01-01T08:00:00.000Z',
    });

    // Whole list in one page; a circle's medications only.
    const all = (await (await fay.get(`/v1/medications?careCircleId=${careCircleId}`)).json()) as typeof page1;
    expect(all.items.map((m) => m.id)).toEqual(expected);
    expect(calls).toEqual([]);
  });

  it('answers 404 outside the circle, 400 for a bad query, 401 without a token', async () => {
    expect(await problem(await mallory.get(`/v1/medications?careCircleId=${circle.id}`))).toMatchObject({
      status: 404,
      body: { detail: `Care circle ${circle.id} does not exist` },
    });
    const bad = async (query: string) => (await alice.get(`/v1/medications${query}`)).status;
    expect(await bad('')).toBe(400);
    expect(await bad('?careCircleId=nope')).toBe(400);
    expect(await bad(`?careCircleId=${circle.id}&limit=0`)).toBe(400);
    expect(await bad(`?careCircleId=${circle.id}&cursor=not-a-cursor`)).toBe(400);
    expect((await app.request(`/v1/medications?careCircleId=${circle.id}`)).status).toBe(401);
  });
});

describe('GET /v1/medications/:id/doses', () => {
  it('pages through the history newest first and keeps the date range', async () => {
    const id = await adaMedication();
    const days = ['2030-01-01', '2030-01-02', '2030-01-03', '2030-01-04', '2030-01-05'];
    await db.prisma.doseEvent.createMany({
      data: days.map((d, i) => ({
        medicationId: id,
        scheduledAt: new Date(`${d}T08:00:00Z`),
        status: i % 2 ? 'taken' : 'missed',
        ...(i % 2 ? { acknowledgedById: circle.ada, acknowledgedAt: new Date(`${d}T08:05:00Z`) } : {}),
      })),
    });
    type Page = { items: { doseAt: string; acknowledgedBy: unknown }[]; nextCursor: string | null };
    const read = async (query: string) => {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await fay.get(
          `/v1/medications/${id}/doses?limit=2${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(res.status).toBe(200);
        const page = (await res.json()) as Page;
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((d) => d.doseAt.slice(0, 10)));
        cursor = page.nextCursor;
      } while (cursor);
      return seen;
    };
    expect(await read('')).toEqual([...days].reverse());
    expect(await read('&from=2030-01-02&to=2030-01-04')).toEqual(['2030-01-04', '2030-01-03', '2030-01-02']);
    const first = (await (await ada.get(`/v1/medications/${id}/doses?limit=1&to=2030-01-02`)).json()) as Page;
    expect(first.items).toEqual([
      expect.objectContaining({
        doseAt: '2030-01-02T08:00:00.000Z',
        status: 'taken',
        acknowledgedBy: { id: circle.ada, name: 'Ada', role: 'patient' },
      }),
    ]);
    expect((await fay.get(`/v1/medications/${id}/doses?from=2030-01-03&to=2030-01-02`)).status).toBe(400);
  });
});

describe('PATCH /v1/members/:id', () => {
  it('lets members change themselves and caregivers change anyone in their circle', async () => {
    const self = await ada.patch(`/v1/members/${circle.ada}`, { name: 'Augusta Ada' });
    expect(self.status).toBe(200);
    expect(await self.json()).toMatchObject({ id: circle.ada, name: 'Augusta Ada', movedSchedules: [] });
    const byCaregiver = await alice.patch(`/v1/members/${circle.fay}`, { email: 'fay@example.com' });
    expect(await byCaregiver.json()).toMatchObject({ id: circle.fay, email: 'fay@example.com' });
    expect((await alice.patch(`/v1/members/${circle.nell}`, { name: 'Eleanor' })).status).toBe(200);
  });

  it('refuses other members (403) and outsiders (404), moving no schedule', async () => {
    await adaMedication();
    const before = await db.prisma.member.findUniqueOrThrow({ where: { id: circle.ada } });
    const travel = { timezone: 'America/New_York' };
    for (const as of [fay, byron]) {
      expect(await problem(await as.patch(`/v1/members/${circle.ada}`, travel))).toMatchObject({
        status: 403,
        body: { detail: expect.stringContaining('may not add members and change other members') },
      });
    }
    // A member without a login can only be changed by a caregiver.
    expect((await fay.patch(`/v1/members/${circle.nell}`, { name: 'Nelly' })).status).toBe(403);
    expect(await problem(await mallory.patch(`/v1/members/${circle.ada}`, travel))).toMatchObject({
      status: 404,
      body: { detail: `Member ${circle.ada} does not exist` },
    });
    expect(await db.prisma.member.findUniqueOrThrow({ where: { id: circle.ada } })).toEqual(before);
    expect(calls).toEqual([]);
  });
});

describe('GET /v1/patients/:id/adherence', () => {
  it('is for every member of the circle; outsiders get 404', async () => {
    const query = '?from=2030-01-01&to=2030-01-07';
    for (const as of [fay, byron, alice, ada]) {
      const res = await as.get(`/v1/patients/${circle.ada}/adherence${query}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ patientId: circle.ada, from: '2030-01-01', to: '2030-01-07' });
    }
    expect(await problem(await mallory.get(`/v1/patients/${circle.ada}/adherence${query}`))).toMatchObject({
      status: 404,
      body: { detail: `Patient ${circle.ada} does not exist` },
    });
    expect((await alice.get(`/v1/patients/${circle.fay}/adherence${query}`)).status).toBe(404);
    expect((await alice.get(`/v1/patients/${circle.ada}/adherence?from=2030-01-07&to=2030-01-01`)).status).toBe(400);
  });
});
