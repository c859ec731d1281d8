/**
 * A patient's time-zone change moves every schedule that follows them, and a retry after a failure
 * finishes the move: Temporal here is a stand-in that applies `changeTimezone` as the workflow does
 * (it saves the schedule's new zone) and fails it once, on the second schedule of the first call.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import type { PrismaClient } from '../shared/db.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let alice: UserClient;

/** Workflow ids `changeTimezone` reached, in order, and whether each was applied. */
const moves: { workflowId: string; applied: boolean }[] = [];
/** Fail the n-th changeTimezone call (1-based), once. */
let failCall: number | null = null;

function fakeTemporal(prisma: () => PrismaClient): Client {
  return {
    workflow: {
      start: async (_type: string, options: { workflowId: string }) => ({ workflowId: options.workflowId }),
      getHandle: (workflowId: string) => ({
        executeUpdate: async (def: { name: string }, opts: { args?: [{ timezone: string }] } = {}) => {
          if (def.name !== 'changeTimezone') throw new Error(`unexpected update ${def.name}`);
          if (failCall === moves.length + 1) {
            failCall = null;
            moves.push({ workflowId, applied: false });
            throw new Error('14 UNAVAILABLE: connection refused');
          }
          moves.push({ workflowId, applied: true });
          const medication = await prisma().medication.findUniqueOrThrow({ where: { workflowId } });
          const schedule = { ...(medication.schedule as object), timezone: opts.args![0].timezone };
          await prisma().medication.update({ where: { workflowId }, data: { schedule } });
          return {};
        },
      }),
    },
  } as unknown as Client;
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    prisma: db.prisma,
    temporal: fakeTemporal(() => db.prisma),
    taskQueue: 'unused',
    devOutbox: false,
    tokens: testTokens(),
  });
  alice = await asUser(app, 'alice');
});

afterAll(async () => {
  await db?.drop();
});

async function json<T>(res: Response | Promise<Response>, status: number): Promise<T> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(status);
  return (await r.json()) as T;
}

describe("a patient's time-zone change", () => {
  it('moves the schedules before saving the zone, so a retry after a 503 moves the rest', async () => {
    const circle = await json<{ id: string }>(alice.post('/v1/care-circles', { name: 'Travellers' }), 201);
    const patient = await json<{ id: string }>(
      alice.post(`/v1/care-circles/${circle.id}/members`, { name: 'Ada', role: 'patient', timezone: 'Europe/Paris' }),
      201,
    );
    const medication = (name: string, schedule: object) =>
      json<{ id: string; workflowId: string }>(
        alice.post('/v1/medications', { careCircleId: circle.id, patientId: patient.id, name, schedule }),
        201,
      );
    const created = [
      await medication('Morning', { times: ['08:00'] }),
      await medication('Evening', { times: ['20:00'] }),
      // Pinned to a zone: does not follow the patient.
      await medication('Pinned', { times: ['12:00'], timezone: 'Asia/Tokyo' }),
    ];
    const [first, second] = [...created.slice(0, 2)].sort((a, b) => a.id.localeCompare(b.id));
    const zoneOf = async (id: string) =>
      ((await db.prisma.medication.findUniqueOrThrow({ where: { id } })).schedule as { timezone: string }).timezone;
    const patientZone = async () => (await db.prisma.member.findUniqueOrThrow({ where: { id: patient.id } })).timezone;

    failCall = 2;
    const travel = { timezone: 'America/New_York' };
    const refused = await alice.patch(`/v1/members/${patient.id}`, travel);
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('retry the request');
    expect(moves).toEqual([
      { workflowId: first!.workflowId, applied: true },
      { workflowId: second!.workflowId, applied: false },
    ]);
    // Nothing claims the move is done while a schedule is still in the old zone.
    expect(await patientZone()).toBe('Europe/Paris');
    expect(await zoneOf(second!.id)).toBe('Europe/Paris');

    const retried = await json<{ timezone: string; movedSchedules: string[] }>(
      alice.patch(`/v1/members/${patient.id}`, travel),
      200,
    );
    expect(retried).toMatchObject({ timezone: 'America/New_York', movedSchedules: [second!.id] });
    // Each schedule was moved once; the one already moved was not asked again.
    expect(moves.filter((m) => m.applied).map((m) => m.workflowId)).toEqual([first!.workflowId, second!.workflowId]);
    expect(await patientZone()).toBe('America/New_York');
    expect([await zoneOf(first!.id), await zoneOf(second!.id), await zoneOf(created[2]!.id)]).toEqual([
      'America/New_York',
      'America/New_York',
      'Asia/Tokyo',
    ]);

    // The same request once more: nothing left to move, nothing sent to the schedules.
    const again = await json<{ movedSchedules: string[] }>(alice.patch(`/v1/members/${patient.id}`, travel), 200);
    expect(again.movedSchedules).toEqual([]);
    expect(moves).toHaveLength(3);
  });
});
