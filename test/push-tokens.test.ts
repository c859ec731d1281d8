/**
 * Devices as people use them: one phone serves a carer in two care circles, one tablet serves two
 * patients. Each member registers the same token (nobody is told who else has it), each member's
 * reminders reach the device, and a provider's "unregistered" answer deactivates the token for
 * every member holding it. The API runs with a stand-in for Temporal; the real activities deliver
 * through a push sender that records what it was asked to send.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createActivities, type DeliveryResult, type DosePlan } from '../activities/index.ts';
import { createApp } from '../api/app.ts';
import { OutboxEmailSender } from '../providers/dev-outbox.ts';
import type { PushSender, PushTokenResult } from '../providers/types.ts';
import { adminQuery, defaultMigrationsDir, migrateDeploy, withDatabase } from '../scripts/migrations.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let carol: UserClient;
let mallory: UserClient;

/** Tokens the push provider reports unregistered. */
const unregistered = new Set<string>();
/** Every push the provider was asked for: the reminder's key and the devices. */
const pushes: { key: string; tokens: string[] }[] = [];
const push: PushSender = {
  name: 'recording',
  async send(tokens, _message, key) {
    pushes.push({ key, tokens });
    return tokens.map((token): PushTokenResult =>
      unregistered.has(token)
        ? { token, ok: false, unregistered: true, error: 'NotRegistered' }
        : { token, ok: true, messageId: `m-${pushes.length}-${token}` },
    );
  },
};

/** Medications need a workflow start; nothing else of Temporal is used here. */
const temporal = {
  workflow: { start: async (_type: string, options: { workflowId: string }) => ({ workflowId: options.workflowId }) },
} as unknown as Client;

const mockEnv = () =>
  new MockActivityEnvironment({ attempt: 1, workflowExecution: { workflowId: 'medication:test', runId: 'run-1' } });

async function json<T>(res: Response | Promise<Response>, status: number): Promise<T> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(status);
  return (await r.json()) as T;
}

/** Carol cares for her mother and her father, each in their own circle. */
async function circleOf(name: string): Promise<{ id: string; carol: string }> {
  const { id, memberId } = await json<{ id: string; memberId: string }>(
    carol.post('/v1/care-circles', { name, creator: { name: 'Carol', timezone: 'UTC' } }),
    201,
  );
  return { id, carol: memberId };
}

const register = (who: UserClient, memberId: string, token: string) =>
  who.post(`/v1/members/${memberId}/push-tokens`, { token });

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({ prisma: db.prisma, temporal, taskQueue: 'unused', devOutbox: false, tokens: testTokens() });
  [carol, mallory] = await Promise.all([asUser(app, 'carol'), asUser(app, 'mallory')]);
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(() => {
  pushes.length = 0;
  unregistered.clear();
});

describe('registering a device', () => {
  it('takes the same token for one carer in two circles, idempotently, and tells nobody who else has it', async () => {
    const mum = await circleOf('Mum');
    const dad = await circleOf('Dad');
    const first = await json<{ id: string; memberId: string; active: boolean }>(
      register(carol, mum.carol, 'carol-phone'),
      201,
    );
    expect(first).toMatchObject({ memberId: mum.carol, active: true });
    await json(register(carol, dad.carol, 'carol-phone'), 201);
    // The same registration again (an app start, a retried request): the same row, 200.
    expect(await json<{ id: string }>(register(carol, mum.carol, 'carol-phone'), 200)).toMatchObject({
      id: first.id,
    });

    // Someone in another family with the same token string learns nothing from the answer.
    const theirs = await json<{ memberId: string }>(mallory.post('/v1/care-circles', { name: 'Moriarty' }), 201);
    const res = await register(mallory, theirs.memberId, 'carol-phone');
    expect(res.status).toBe(201);
    expect(JSON.stringify(await res.json())).not.toMatch(new RegExp(`${mum.carol}|${dad.carol}`));
    // Nor can they register a token for a member of a circle they are not in (as if it did not exist).
    expect((await register(mallory, mum.carol, 'carol-phone')).status).toBe(404);

    const rows = await db.prisma.pushToken.findMany({ where: { token: 'carol-phone' } });
    expect(rows.map((r) => r.memberId).sort()).toEqual([mum.carol, dad.carol, theirs.memberId].sort());
  });

  it('takes one tablet for two patients when members are added', async () => {
    const home = await circleOf('Care home');
    const add = (name: string) =>
      json<{ id: string }>(
        carol.post(`/v1/care-circles/${home.id}/members`, {
          name,
          role: 'patient',
          timezone: 'UTC',
          pushTokens: ['shared-tablet'],
        }),
        201,
      );
    const [edith, frank] = [await add('Edith'), await add('Frank')];
    const rows = await db.prisma.pushToken.findMany({ where: { token: 'shared-tablet' } });
    expect(rows.map((r) => r.memberId).sort()).toEqual([edith.id, frank.id].sort());
  });
});

describe('delivering to a shared device', () => {
  async function patientWithMedication(circleId: string, name: string, token: string) {
    const patient = await json<{ id: string }>(
      carol.post(`/v1/care-circles/${circleId}/members`, {
        name,
        role: 'patient',
        timezone: 'UTC',
        channels: ['push'],
        pushTokens: [token],
      }),
      201,
    );
    const medication = await json<{ id: string }>(
      carol.post('/v1/medications', {
        careCircleId: circleId,
        patientId: patient.id,
        name: `${name}'s pills`,
        schedule: { times: ['08:00'] },
      }),
      201,
    );
    return { patientId: patient.id, medicationId: medication.id };
  }

  const acts = () => createActivities({ prisma: db.prisma, push, email: new OutboxEmailSender(db.prisma) });
  const remind = async (medicationId: string, doseAt: string): Promise<DeliveryResult[]> => {
    const a = acts();
    const plan = (await mockEnv().run(a.planDoseReminder, { medicationId, doseAt })) as DosePlan;
    if (plan.status !== 'planned') throw new Error(`expected a plan, got ${JSON.stringify(plan)}`);
    const results: DeliveryResult[] = [];
    for (const dedupeKey of plan.deliveries) {
      results.push((await mockEnv().run(a.deliverNotification, { dedupeKey })) as DeliveryResult);
    }
    return results;
  };

  it("reaches the device with each member's reminders, in one circle and across circles", async () => {
    const home = await circleOf('Shared tablet');
    const edith = await patientWithMedication(home.id, 'Edith', 'tablet-1');
    const frank = await patientWithMedication(home.id, 'Frank', 'tablet-1');
    expect(await remind(edith.medicationId, '2026-12-01T08:00:00.000Z')).toEqual([
      expect.objectContaining({ status: 'sent' }),
    ]);
    expect(await remind(frank.medicationId, '2026-12-01T08:00:00.000Z')).toEqual([
      expect.objectContaining({ status: 'sent' }),
    ]);
    expect(pushes.map((p) => p.tokens)).toEqual([['tablet-1'], ['tablet-1']]);
    expect(pushes.map((p) => p.key)).toEqual([
      expect.stringContaining(edith.patientId),
      expect.stringContaining(frank.patientId),
    ]);

    // Carol's phone, registered in both of her circles, gets each circle's missed-dose alert.
    const mum = await circleOf('Mum again');
    const dad = await circleOf('Dad again');
    await json(register(carol, mum.carol, 'carol-phone-2'), 201);
    await json(register(carol, dad.carol, 'carol-phone-2'), 201);
    for (const circle of [mum, dad]) {
      await db.prisma.member.update({ where: { id: circle.carol }, data: { channels: ['push'] } });
      const { medicationId } = await patientWithMedication(circle.id, 'Parent', `parent-${circle.id}`);
      const a = acts();
      const doseAt = '2026-12-01T08:00:00.000Z';
      await mockEnv().run(a.planDoseReminder, { medicationId, doseAt });
      const { deliveries } = (await mockEnv().run(a.recordDoseMissed, { medicationId, doseAt })) as {
        deliveries: string[];
      };
      expect(deliveries).toEqual([expect.stringContaining(circle.carol)]);
      expect(await mockEnv().run(a.deliverNotification, { dedupeKey: deliveries[0]! })).toMatchObject({
        status: 'sent',
      });
    }
    expect(pushes.filter((p) => p.tokens.includes('carol-phone-2'))).toHaveLength(2);
  });

  it('deactivates an unregistered token for every member who has it; registering it again revives it', async () => {
    const home = await circleOf('Old tablet');
    const edith = await patientWithMedication(home.id, 'Edith', 'old-tablet');
    const frank = await patientWithMedication(home.id, 'Frank', 'old-tablet');
    unregistered.add('old-tablet');
    const failure = await remind(edith.medicationId, '2026-12-02T08:00:00.000Z').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ nonRetryable: true });

    const rows = await db.prisma.pushToken.findMany({ where: { token: 'old-tablet' } });
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => !r.active && r.deactivatedAt !== null)).toBe(true);
    // Frank's next reminder does not try the dead device (no push channel left to plan).
    const plan = (await mockEnv().run(acts().planDoseReminder, {
      medicationId: frank.medicationId,
      doseAt: '2026-12-02T08:00:00.000Z',
    })) as DosePlan;
    expect(plan).toEqual({ status: 'planned', deliveries: [] });
    expect(pushes).toHaveLength(1);

    // The app registers the device again (it is reachable once more): active for that member only.
    unregistered.clear();
    expect(await json(register(carol, frank.patientId, 'old-tablet'), 200)).toMatchObject({ active: true });
    const after = await db.prisma.pushToken.findMany({ where: { token: 'old-tablet' } });
    expect(after.find((r) => r.memberId === frank.patientId)?.active).toBe(true);
    expect(after.find((r) => r.memberId === edith.patientId)?.active).toBe(false);
  });
});

describe('the migration to per-member tokens', () => {
  it('keeps every existing token, active or not, and then lets a second member register one', async () => {
    const server = inject('adminDatabaseUrl');
    const name = `push_tokens_migration_${randomBytes(6).toString('hex')}`;
    const url = withDatabase(server, name);
    const before = await mkdtemp(path.join(os.tmpdir(), 'migrations-before-'));
    await adminQuery(server, `CREATE DATABASE "${name}"`);
    const client = new pg.Client({ connectionString: url });
    try {
      // The database as it was: every migration before this one.
      for (const entry of await readdir(defaultMigrationsDir, { withFileTypes: true })) {
        if (!entry.isDirectory() || entry.name >= '20261205034633_push_tokens_per_member') {
          if (entry.isFile()) await cp(path.join(defaultMigrationsDir, entry.name), path.join(before, entry.name));
          continue;
        }
        await cp(path.join(defaultMigrationsDir, entry.name), path.join(before, entry.name), { recursive: true });
      }
      await migrateDeploy(url, { migrationsDir: before });
      await client.connect();
      await client.query(`
        INSERT INTO care_circles (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'Old family');
        INSERT INTO members (id, care_circle_id, name, role, timezone) VALUES
          ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 'Ada', 'patient', 'UTC'),
          ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', 'Bo', 'patient', 'UTC');
        INSERT INTO push_tokens (id, member_id, token, active, deactivated_at) VALUES
          ('00000000-0000-4000-8000-000000000004', '00000000-0000-4000-8000-000000000002', 'phone', true, NULL),
          ('00000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-000000000002', 'old', false, now());
      `);

      const { applied } = await migrateDeploy(url);
      expect(applied).toContain('20261205034633_push_tokens_per_member');
      const rows = await client.query('SELECT id, token, active FROM push_tokens ORDER BY id');
      expect(rows.rows).toEqual([
        { id: '00000000-0000-4000-8000-000000000004', token: 'phone', active: true },
        { id: '00000000-0000-4000-8000-000000000005', token: 'old', active: false },
      ]);
      await client.query(
        `INSERT INTO push_tokens (id, member_id, token) VALUES
          ('00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-000000000003', 'phone')`,
      );
      await expect(
        client.query(
          `INSERT INTO push_tokens (id, member_id, token) VALUES
            ('00000000-0000-4000-8000-000000000007', '00000000-0000-4000-8000-000000000003', 'phone')`,
        ),
      ).rejects.toThrow(/push_tokens_member_id_token_key/);
    } finally {
      await client.end().catch(() => undefined);
      await adminQuery(server, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await rm(before, { recursive: true, force: true });
    }
  });
});
