/**
 * An operator's retry never sends "take your 08:00 dose" days later: a dead-lettered dose reminder
 * or follow-up whose dose is closed (taken, skipped, missed) or whose window is over is refused
 * with a 409 that says why, and stays open to be discarded; one still within its window is retried.
 * The retry activity checks again, for a dose that closed after the operator asked. Temporal is a
 * stand-in that records the retry workflows started.
 */
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeadLetterActivities, type DeadLetterRetryPlan } from '../activities/dead-letters.ts';
import { createApp } from '../api/app.ts';
import type { DoseStatus } from '../shared/db.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, seedPatientWithMedication, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let ops: UserClient;
const started: string[] = [];

const temporal = {
  workflow: {
    start: async (_type: string, options: { workflowId: string }) => {
      started.push(options.workflowId);
      return { workflowId: options.workflowId };
    },
  },
} as unknown as Client;

beforeAll(async () => {
  db = await createTestDatabase();
  const app = createApp({ prisma: db.prisma, temporal, taskQueue: 'unused', devOutbox: false, tokens: testTokens() });
  ops = await asUser(app, 'ops-1', { operator: true });
});

afterAll(async () => {
  await db?.drop();
});

beforeEach(() => {
  started.length = 0;
});

const MINUTE = 60_000;

/**
 * A dead letter of a push that failed for the dose `minutesAgo` ago (window 30 minutes), with the
 * dose in `status` (none: no dose record).
 */
async function deadLetter(opts: {
  kind?: 'dose_reminder' | 'dose_follow_up' | 'dose_missed';
  minutesAgo: number;
  status?: DoseStatus;
  remindedMinutesAgo?: number;
  medicationStatus?: 'active' | 'paused' | 'cancelled';
}) {
  const { medication, patient } = await seedPatientWithMedication(db.prisma, { pushTokens: [] });
  const kind = opts.kind ?? 'dose_reminder';
  const doseAt = new Date(Math.floor((Date.now() - opts.minutesAgo * MINUTE) / 1000) * 1000);
  if (opts.medicationStatus) {
    await db.prisma.medication.update({ where: { id: medication.id }, data: { status: opts.medicationStatus } });
  }
  if (opts.status) {
    await db.prisma.doseEvent.create({
      data: {
        medicationId: medication.id,
        scheduledAt: doseAt,
        status: opts.status,
        ...(opts.remindedMinutesAgo !== undefined
          ? { remindedAt: new Date(Date.now() - opts.remindedMinutesAgo * MINUTE) }
          : {}),
      },
    });
  }
  const dedupeKey = `${kind}:${medication.id}:${doseAt.toISOString()}:${patient.id}:push`;
  await db.prisma.notificationLog.create({
    data: {
      dedupeKey,
      kind,
      recipientId: patient.id,
      channel: 'push',
      status: 'failed',
      medicationId: medication.id,
      doseAt,
      title: 'Time for Lisinopril',
      body: 'Take 10 mg',
    },
  });
  return db.prisma.deadLetter.create({
    data: {
      kind,
      dedupeKey,
      recipientId: patient.id,
      channel: 'push',
      payload: { dedupeKey },
      error: 'FCM unavailable',
      attempts: 2,
      workflowId: medication.workflowId,
      runId: 'run-1',
    },
  });
}

async function retry(id: string) {
  const res = await ops.post(`/v1/dead-letters/${id}/retry`);
  return { status: res.status, body: (await res.json()) as { detail?: string; type?: string } };
}

describe('retrying a dead-lettered dose reminder', () => {
  it.each([
    ['taken', { minutesAgo: 10, status: 'taken' as const }, 'is already taken'],
    ['skipped', { minutesAgo: 10, status: 'skipped' as const }, 'is already skipped'],
    ['missed', { minutesAgo: 40, status: 'missed' as const }, 'is already missed'],
    ['three days old, never closed', { minutesAgo: 3 * 24 * 60, status: 'reminded' as const }, 'window'],
    ['past its window with no dose record', { minutesAgo: 31 }, 'window'],
    [
      'of a paused medication',
      { minutesAgo: 5, status: 'reminded' as const, medicationStatus: 'paused' as const },
      'paused',
    ],
    [
      'a follow-up of a taken dose',
      { kind: 'dose_follow_up' as const, minutesAgo: 20, status: 'taken' as const },
      'taken',
    ],
  ])('is refused when the dose is %s (409), and the dead letter stays open', async (_name, opts, why) => {
    const letter = await deadLetter(opts);
    const { status, body } = await retry(letter.id);
    expect(status).toBe(409);
    expect(body.type).toBe('urn:carecircle:problem:dose-reminder-stale');
    expect(body.detail).toContain(why);
    expect(body.detail).toContain('Discard it');
    expect(started).toEqual([]);
    expect(await db.prisma.deadLetter.findUniqueOrThrow({ where: { id: letter.id } })).toMatchObject({
      status: 'open',
      retryCount: 0,
    });
  });

  it('is retried while the dose is open and within its window, counted from a late reminder', async () => {
    const fresh = await deadLetter({ minutesAgo: 10, status: 'reminded' });
    expect((await retry(fresh.id)).status).toBe(202);
    // The dose was due 40 minutes ago but reminded only 15 minutes ago: its window runs until +15.
    const late = await deadLetter({ minutesAgo: 40, status: 'reminded', remindedMinutesAgo: 15 });
    expect((await retry(late.id)).status).toBe(202);
    expect(started).toHaveLength(2);
  });

  it("is retried for a caregiver's missed-dose alert, which stays true after the window", async () => {
    const alert = await deadLetter({ kind: 'dose_missed', minutesAgo: 3 * 24 * 60, status: 'missed' });
    expect((await retry(alert.id)).status).toBe(202);
  });

  it('sends nothing when the dose closed after the operator asked: the retry activity checks again', async () => {
    const letter = await deadLetter({ minutesAgo: 10, status: 'reminded' });
    expect((await retry(letter.id)).status).toBe(202);
    const log = await db.prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: letter.dedupeKey! } });
    await db.prisma.doseEvent.updateMany({ where: { medicationId: log.medicationId! }, data: { status: 'taken' } });

    const activities = createDeadLetterActivities(db.prisma);
    const plan = (await new MockActivityEnvironment().run(activities.beginDeadLetterRetry, {
      deadLetterId: letter.id,
    })) as DeadLetterRetryPlan;
    expect(plan).toEqual({ action: 'none', reason: 'dose_reminder_stale' });
    // The notification was not made pending again, so nothing can deliver it.
    expect((await db.prisma.notificationLog.findUniqueOrThrow({ where: { id: log.id } })).status).toBe('failed');
  });
});
