/**
 * The real activities against a real PostgreSQL, run through MockActivityEnvironment (so that
 * Context.current() works as on a worker). Providers are the dev outbox, or stubs where a test
 * needs a provider to fail.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities, type Activities, type DeliveryResult, type DosePlan } from '../activities/index.ts';
import { OutboxEmailSender, OutboxPushSender } from '../providers/dev-outbox.ts';
import { DeliveryError, type EmailSender, type PushSender } from '../providers/types.ts';
import type { PrismaClient } from '../shared/db.ts';
import { createTestDatabase, seedPatientWithMedication, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  prisma = db.prisma;
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  // Every table hangs off care circles (cascade) except the outbox and dead letters.
  await prisma.careCircle.deleteMany();
  await prisma.devOutboxMessage.deleteMany();
  await prisma.deadLetter.deleteMany();
});

const mockEnv = (attempt = 1) =>
  new MockActivityEnvironment({ attempt, workflowExecution: { workflowId: 'medication:test', runId: 'run-1' } });

function activitiesWith(overrides: { push?: PushSender; email?: EmailSender } = {}): Activities {
  return createActivities({
    prisma,
    push: overrides.push ?? new OutboxPushSender(prisma),
    email: overrides.email ?? new OutboxEmailSender(prisma),
  });
}

const DOSE_AT = '2026-12-01T13:00:00.000Z';

// MockActivityEnvironment.run cannot infer results through our activity types; name them here.
const plan = (acts: Activities, medicationId: string, doseAt = DOSE_AT): Promise<DosePlan> =>
  mockEnv().run(acts.planDoseReminder, { medicationId, doseAt }) as Promise<DosePlan>;
const deliver = (acts: Activities, dedupeKey: string, attempt = 1): Promise<DeliveryResult> =>
  mockEnv(attempt).run(acts.deliverNotification, { dedupeKey }) as Promise<DeliveryResult>;

async function planAndDeliver(acts: Activities, medicationId: string) {
  const planned = await plan(acts, medicationId);
  const results: DeliveryResult[] = [];
  if (planned.status === 'planned') {
    for (const dedupeKey of planned.deliveries) results.push(await deliver(acts, dedupeKey));
  }
  return { plan: planned, results };
}

describe('dose reminder activities', () => {
  it('reminds a patient whose channel list is empty on the default channels, as every other message does', async () => {
    const { medication, patient } = await seedPatientWithMedication(prisma);
    // Not possible through the API (at least one channel); a row written another way.
    await prisma.member.update({ where: { id: patient.id }, data: { channels: [] } });
    const planned = await plan(activitiesWith(), medication.id);
    expect(planned.status === 'planned' && planned.deliveries.map((k) => k.split(':').pop()).sort()).toEqual([
      'email',
      'in_app',
      'push',
    ]);
  });

  it('deliver one push, one email and one in-app notification per dose, even when run twice', async () => {
    const { medication, patient } = await seedPatientWithMedication(prisma);
    const acts = activitiesWith();

    const first = await planAndDeliver(acts, medication.id);
    expect(first.plan).toMatchObject({ status: 'planned' });
    expect(first.results.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);

    // The same dose again (a retried workflow task, a replayed activity): nothing new goes out.
    const second = await planAndDeliver(acts, medication.id);
    expect(second.plan).toEqual({ status: 'skipped', reason: 'already_sent' });
    // Delivering an already-sent key directly is a no-op too.
    const key = (await prisma.notificationLog.findFirstOrThrow({ where: { channel: 'email' } })).dedupeKey;
    expect(await deliver(acts, key, 2)).toEqual({ status: 'already_sent' });

    const outbox = await prisma.devOutboxMessage.findMany();
    expect(outbox.map((m) => m.channel).sort()).toEqual(['email', 'push']);
    expect(outbox.find((m) => m.channel === 'email')?.to).toBe('ada@example.com');
    expect(await prisma.inAppNotification.count({ where: { recipientId: patient.id } })).toBe(1);
    const logs = await prisma.notificationLog.findMany({ where: { recipientId: patient.id } });
    expect(logs).toHaveLength(3);
    expect(logs.every((l) => l.status === 'sent' && l.sentAt && l.doseAt?.toISOString() === DOSE_AT)).toBe(true);
    const dose = await prisma.doseEvent.findFirstOrThrow({ where: { medicationId: medication.id } });
    expect(dose.scheduledAt.toISOString()).toBe(DOSE_AT);
  });

  it('send nothing for a deleted medication', async () => {
    const { medication } = await seedPatientWithMedication(prisma);
    await prisma.medication.delete({ where: { id: medication.id } });
    const { plan: skipped, results } = await planAndDeliver(activitiesWith(), medication.id);
    expect(skipped).toEqual({ status: 'skipped', reason: 'medication_deleted' });
    expect(results).toEqual([]);
    expect(await prisma.devOutboxMessage.count()).toBe(0);
    expect(await prisma.notificationLog.count()).toBe(0);
  });

  it('drop reminders planned before the medication was cancelled (no ghosts)', async () => {
    const { medication } = await seedPatientWithMedication(prisma);
    const acts = activitiesWith();
    const planned = await plan(acts, medication.id);
    await prisma.medication.update({ where: { id: medication.id }, data: { status: 'cancelled' } });
    if (planned.status !== 'planned') throw new Error('expected a plan');
    for (const dedupeKey of planned.deliveries) {
      expect(await deliver(acts, dedupeKey)).toEqual({
        status: 'skipped',
        reason: 'medication_inactive',
      });
    }
    expect(await prisma.devOutboxMessage.count()).toBe(0);
    expect(await prisma.notificationLog.count({ where: { status: 'skipped' } })).toBe(3);
  });

  it('deactivate an unregistered push token and fail the push without retry', async () => {
    const { medication } = await seedPatientWithMedication(prisma, { pushTokens: ['gone-token'] });
    const push: PushSender = {
      name: 'stub',
      send: async (tokens) => tokens.map((token) => ({ token, ok: false, unregistered: true, error: 'NotRegistered' })),
    };
    const acts = activitiesWith({ push });
    const planned = await plan(acts, medication.id);
    if (planned.status !== 'planned') throw new Error('expected a plan');
    const pushKey = planned.deliveries.find((k) => k.endsWith(':push'))!;
    const failure = await deliver(acts, pushKey).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'PermanentDeliveryError', nonRetryable: true });
    const token = await prisma.pushToken.findFirstOrThrow({ where: { token: 'gone-token' } });
    expect(token.active).toBe(false);
    expect(token.deactivatedAt).not.toBeNull();
    // The next dose does not plan a push at all: the member has no active token left.
    const next = await plan(acts, medication.id, '2026-12-02T13:00:00.000Z');
    expect(next.status === 'planned' && next.deliveries.some((k) => k.endsWith(':push'))).toBe(false);
  });

  it('turn a provider rate limit into a retryable failure that waits for Retry-After', async () => {
    const { medication } = await seedPatientWithMedication(prisma);
    const email: EmailSender = {
      name: 'stub',
      send: async () => {
        throw new DeliveryError('429 rate_limit_exceeded', false, '429', 7_000);
      },
    };
    const acts = activitiesWith({ email });
    const planned = await plan(acts, medication.id);
    if (planned.status !== 'planned') throw new Error('expected a plan');
    const emailKey = planned.deliveries.find((k) => k.endsWith(':email'))!;
    const failure = await deliver(acts, emailKey).catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'TransientDeliveryError', nonRetryable: false, nextRetryDelay: 7_000 });
    const log = await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: emailKey } });
    expect(log.status).toBe('pending');
    expect(log.error).toContain('429');
  });

  it('record one dead letter per failed delivery, with the workflow that owned it', async () => {
    const { medication } = await seedPatientWithMedication(prisma);
    const acts = activitiesWith();
    const planned = await plan(acts, medication.id);
    if (planned.status !== 'planned') throw new Error('expected a plan');
    const key = planned.deliveries[0]!;
    const input = { dedupeKey: key, error: 'boom', errorType: 'TransientDeliveryError' };
    await mockEnv().run(acts.recordDeadLetter, input);
    await mockEnv().run(acts.recordDeadLetter, input); // retried activity: still one open letter
    const letters = await prisma.deadLetter.findMany();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({
      dedupeKey: key,
      workflowId: 'medication:test',
      runId: 'run-1',
      status: 'open',
      error: 'boom',
    });
    expect((await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: key } })).status).toBe('failed');
  });

  it('armed doses reaching their instant together each get their own fence answer', async () => {
    const seeded = await Promise.all(
      ['kept', 'edited', 'paused', 'taken', 'deleted'].map((name) =>
        seedPatientWithMedication(prisma, { pushTokens: [`token-${name}`] }).then((s) => ({ name, ...s })),
      ),
    );
    const acts = activitiesWith();
    // Room for five plans before the instant on a busy machine.
    const doseAt = new Date(Date.now() + 8_000).toISOString();
    const outcomes = Promise.all(
      seeded.map(({ medication }) =>
        mockEnv().run(acts.remindDoseAtInstant, { medicationId: medication.id, doseAt, generation: 0 }),
      ),
    );
    // Every dose planned and waiting; then what the user did before the instant.
    const byName = Object.fromEntries(seeded.map((s) => [s.name, s.medication.id]));
    for (;;) {
      const rows = await prisma.notificationLog.count({ where: { doseAt: new Date(doseAt) } });
      if (rows === seeded.length * 3) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await prisma.medication.update({ where: { id: byName.edited! }, data: { scheduleGeneration: 1 } });
    await prisma.medication.update({ where: { id: byName.paused! }, data: { status: 'paused' } });
    await prisma.doseEvent.update({
      where: { medicationId_scheduledAt: { medicationId: byName.taken!, scheduledAt: new Date(doseAt) } },
      data: { status: 'taken', acknowledgedAt: new Date() },
    });
    await prisma.medication.delete({ where: { id: byName.deleted! } });
    expect(Date.now(), 'changes made before the instant').toBeLessThan(Date.parse(doseAt));

    expect(await outcomes).toEqual([
      { status: 'sent', sentAt: expect.any(String), deadLettered: 0 },
      { status: 'skipped', reason: 'superseded' },
      { status: 'skipped', reason: 'medication_inactive' },
      { status: 'skipped', reason: 'dose_closed' },
      { status: 'skipped', reason: 'medication_deleted' },
    ]);
    const sent = await prisma.notificationLog.findMany({ where: { status: 'sent' } });
    expect(sent.map((r) => r.medicationId)).toEqual([byName.kept, byName.kept, byName.kept]);
    expect(await prisma.devOutboxMessage.count()).toBe(2);
  }, 30_000);
});

describe('a push whose earlier call left no outcome (the worker died after FCM answered)', () => {
  function recordingPush() {
    const messages: { quiet?: boolean; key: string }[] = [];
    const push: PushSender = {
      name: 'recording',
      send: async (tokens, message, key) => {
        messages.push({ key, ...(message.quiet ? { quiet: true } : {}) });
        return tokens.map((token) => ({ token, ok: true as const, messageId: `m-${messages.length}` }));
      },
    };
    return { push, messages };
  }

  it('goes again quietly while the row is marked as called (a refusal since does not clear it), loudly after a known failure', async () => {
    const { medication } = await seedPatientWithMedication(prisma, { pushTokens: ['phone'] });
    const { push, messages } = recordingPush();
    let fail = 1;
    const acts = activitiesWith({
      push: {
        name: 'recording',
        send: async (tokens, message, key) => {
          if (fail-- > 0) throw new DeliveryError('FCM 503', false, '503');
          return push.send(tokens, message, key);
        },
      },
    });
    const planned = await plan(acts, medication.id);
    if (planned.status !== 'planned') throw new Error('expected a plan');
    const pushKey = planned.deliveries.find((k) => k.endsWith(':push'))!;
    // A failure is an outcome: the mark is cleared and the next call alerts as usual.
    await deliver(acts, pushKey).catch(() => {});
    expect(
      (await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: pushKey } })).callStartedAt,
    ).toBeNull();
    // The state a worker leaves when it dies between the call and its outcome.
    await prisma.notificationLog.update({ where: { dedupeKey: pushKey }, data: { callStartedAt: new Date() } });
    // A refusal of the next call says nothing of that one: the mark stays.
    fail = 1;
    await deliver(acts, pushKey, 2).catch(() => {});
    expect(
      (await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: pushKey } })).callStartedAt,
    ).not.toBeNull();
    expect(await deliver(acts, pushKey, 3)).toMatchObject({ status: 'sent' });
    expect(messages).toEqual([{ key: pushKey, quiet: true }]);
    const row = await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: pushKey } });
    expect(row).toMatchObject({ status: 'sent', callStartedAt: null });
  });

  it('armed: the fence marks the rows it lets through, and a retry of a marked row sends it quietly', async () => {
    const { medication } = await seedPatientWithMedication(prisma, { pushTokens: ['phone'] });
    const { push, messages } = recordingPush();
    let calls = 0;
    const acts = activitiesWith({
      push: {
        name: 'recording',
        send: async (tokens, message, key) => {
          // The first attempt "dies" in the call: it never returns, as if the process were killed.
          if (++calls === 1) return new Promise<never>(() => {});
          return push.send(tokens, message, key);
        },
      },
    });
    const doseAt = new Date(Date.now() + 3_000).toISOString();
    const input = { medicationId: medication.id, doseAt, generation: 0 };
    void mockEnv().run(acts.remindDoseAtInstant, input);
    const pushRow = () =>
      prisma.notificationLog.findFirstOrThrow({ where: { medicationId: medication.id, channel: 'push' } });
    await expect.poll(async () => (await pushRow()).callStartedAt, { timeout: 15_000 }).not.toBeNull();
    expect((await pushRow()).status).toBe('pending');
    // The retry on another worker: the row is still marked, so the push goes out quietly.
    await expect(mockEnv(2).run(acts.remindDoseAtInstant, input)).resolves.toMatchObject({ status: 'sent' });
    expect(messages).toEqual([{ key: (await pushRow()).dedupeKey, quiet: true }]);
  }, 30_000);
});

describe('two armed sends of one dose (the schedule changed in the lead window)', () => {
  it('the older send, cancelled, withdraws none of the rows the newer one claimed: every channel goes out once', async () => {
    const { medication } = await seedPatientWithMedication(prisma, { pushTokens: ['phone'] });
    const acts = activitiesWith();
    const doseAt = new Date(Date.now() + 6_000).toISOString();
    const rows = () =>
      prisma.notificationLog.findMany({ where: { medicationId: medication.id }, orderBy: { channel: 'asc' } });
    const older = mockEnv();
    const olderSend = older.run(acts.remindDoseAtInstant, { medicationId: medication.id, doseAt, generation: 0 });
    await expect.poll(async () => (await rows()).map((r) => r.armedGeneration), { timeout: 5_000 }).toEqual([0, 0, 0]);
    // The edit's send, under the next generation, takes the rows over while the older one waits.
    await prisma.medication.update({ where: { id: medication.id }, data: { scheduleGeneration: 1 } });
    const newerSend = mockEnv().run(acts.remindDoseAtInstant, { medicationId: medication.id, doseAt, generation: 1 });
    await expect.poll(async () => (await rows()).map((r) => r.armedGeneration), { timeout: 5_000 }).toEqual([1, 1, 1]);
    // The older send's cancellation lands now, after the newer one read its rows.
    older.cancel();
    await expect(olderSend).rejects.toThrow();
    expect((await rows()).map((r) => r.status)).toEqual(['pending', 'pending', 'pending']);
    expect(Date.now(), 'cancelled before the instant').toBeLessThan(Date.parse(doseAt));
    await expect(newerSend).resolves.toMatchObject({ status: 'sent' });
    expect((await rows()).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
  }, 30_000);

  it('the newer send takes back rows an older one withdrew while it was planning', async () => {
    const { medication } = await seedPatientWithMedication(prisma, { pushTokens: ['phone'] });
    const acts = activitiesWith();
    const doseAt = new Date(Date.now() + 3_000).toISOString();
    await plan(acts, medication.id, doseAt);
    // What an older send's withdrawal leaves when it lands between the newer one's plan and read.
    await prisma.notificationLog.updateMany({
      where: { medicationId: medication.id, channel: 'push' },
      data: { status: 'skipped', error: 'cancelled', armedGeneration: 0 },
    });
    await prisma.medication.update({ where: { id: medication.id }, data: { scheduleGeneration: 1 } });
    await expect(
      mockEnv().run(acts.remindDoseAtInstant, { medicationId: medication.id, doseAt, generation: 1 }),
    ).resolves.toMatchObject({ status: 'sent' });
    const statuses = await prisma.notificationLog.findMany({ where: { medicationId: medication.id } });
    expect(statuses.map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
  }, 30_000);
});

describe('escalation and refill activities', () => {
  async function addCaregiver(careCircleId: string, channels: ('push' | 'email' | 'in_app')[]) {
    return prisma.member.create({
      data: {
        careCircleId,
        name: 'Cara',
        role: 'caregiver',
        timezone: 'Europe/London',
        email: 'cara@example.com',
        channels,
      },
    });
  }

  it('a missed dose is recorded once and alerts caregivers on their preferred channels', async () => {
    const { medication, circle, patient } = await seedPatientWithMedication(prisma);
    const caregiver = await addCaregiver(circle.id, ['email', 'in_app']);
    await prisma.member.create({ data: { careCircleId: circle.id, name: 'Fay', role: 'family', timezone: 'UTC' } });
    const acts = activitiesWith();
    await plan(acts, medication.id);

    const first = (await mockEnv().run(acts.recordDoseMissed, { medicationId: medication.id, doseAt: DOSE_AT })) as {
      deliveries: string[];
    };
    // Only caregivers, only on the channels they chose (no push: none chosen).
    expect(first.deliveries.sort()).toEqual([
      `dose-missed:${medication.id}:${DOSE_AT}:${caregiver.id}:email`,
      `dose-missed:${medication.id}:${DOSE_AT}:${caregiver.id}:in_app`,
    ]);
    const log = await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: first.deliveries[0]! } });
    expect(log.body).toBe(`${patient.name} has not confirmed the 08:00 ${medication.name}.`);
    for (const key of first.deliveries) await deliver(acts, key);
    // Retried: same keys, nothing new to send.
    const again = (await mockEnv().run(acts.recordDoseMissed, { medicationId: medication.id, doseAt: DOSE_AT })) as {
      deliveries: string[];
    };
    expect(again.deliveries).toEqual([]);
    expect((await prisma.doseEvent.findFirstOrThrow({ where: { medicationId: medication.id } })).status).toBe('missed');
  });

  it('an acknowledgement that won the race keeps its status and alerts nobody', async () => {
    const { medication, circle, patient } = await seedPatientWithMedication(prisma);
    await addCaregiver(circle.id, ['email']);
    const acts = activitiesWith();
    await plan(acts, medication.id);
    await mockEnv().run(acts.recordDoseAcknowledgement, {
      medicationId: medication.id,
      doseAt: DOSE_AT,
      action: 'taken' as const,
      memberId: patient.id,
      snoozedUntil: null,
      late: false,
    });
    const missed = (await mockEnv().run(acts.recordDoseMissed, { medicationId: medication.id, doseAt: DOSE_AT })) as {
      deliveries: string[];
    };
    expect(missed.deliveries).toEqual([]);
    const dose = await prisma.doseEvent.findFirstOrThrow({ where: { medicationId: medication.id } });
    expect(dose).toMatchObject({ status: 'taken', acknowledgedById: patient.id, late: false });
  });

  it('taken doses use up pills; one refill reminder per supply when it runs low', async () => {
    const { medication, circle, patient } = await seedPatientWithMedication(prisma);
    const caregiver = await addCaregiver(circle.id, ['email']);
    // 08:00 daily, 2 pills a dose, 20 pills: 10 days; remind under 7 days.
    await prisma.medication.update({ where: { id: medication.id }, data: { pillCount: 20, pillsPerDose: 2 } });
    const acts = activitiesWith();
    const take = async (doseAt: string) =>
      (await mockEnv().run(acts.recordDoseAcknowledgement, {
        medicationId: medication.id,
        doseAt,
        action: 'taken' as const,
        memberId: patient.id,
        snoozedUntil: null,
        late: false,
      })) as { refillDeliveries: string[] };

    const refills: string[][] = [];
    for (let day = 1; day <= 6; day++) {
      const { refillDeliveries } = await take(`2026-12-0${day}T13:00:00.000Z`);
      refills.push(refillDeliveries);
      for (const key of refillDeliveries) await deliver(acts, key);
    }
    // 18, 16, 14 pills (7 days) → nothing; 12 pills (6 days) → the reminder; then never again.
    expect(refills.map((r) => r.length)).toEqual([0, 0, 0, 1, 0, 0]);
    expect(refills[3]![0]).toMatch(new RegExp(`^refill:${medication.id}:.*:${caregiver.id}:email$`));
    // Acknowledging the same dose again (a retried activity) does not take pills twice.
    await take('2026-12-06T13:00:00.000Z');
    expect((await prisma.medication.findUniqueOrThrow({ where: { id: medication.id } })).pillCount).toBe(8);
    const log = await prisma.notificationLog.findUniqueOrThrow({ where: { dedupeKey: refills[3]![0]! } });
    expect(log.body).toBe(`${patient.name} has about 6 days of ${medication.name} left.`);
  });

  it('doses taken at the same moment each use up their pills (none lost to a read-then-write)', async () => {
    const { medication, patient } = await seedPatientWithMedication(prisma);
    await prisma.medication.update({ where: { id: medication.id }, data: { pillCount: 100, pillsPerDose: 1 } });
    const acts = activitiesWith();
    // Ten acknowledgements of different doses and ten as-needed logs, all at once.
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) =>
        mockEnv().run(acts.recordDoseAcknowledgement, {
          medicationId: medication.id,
          doseAt: new Date(Date.parse(DOSE_AT) + i * 86_400_000).toISOString(),
          action: 'taken' as const,
          memberId: patient.id,
          snoozedUntil: null,
          late: false,
        }),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        mockEnv().run(acts.logAsNeededDose, {
          medicationId: medication.id,
          memberId: patient.id,
          takenAt: new Date(Date.parse(DOSE_AT) + i * 60_000 + 1_000).toISOString(),
        }),
      ),
    ]);
    expect((await prisma.medication.findUniqueOrThrow({ where: { id: medication.id } })).pillCount).toBe(80);
  });
});
