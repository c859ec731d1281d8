/**
 * Activities of the medication reminder workflow that touch only our database. Each one loads
 * fresh state by id and is idempotent: Temporal may run it more than once.
 */
import { Context } from '@temporalio/activity';
import type { Member, Prisma, PrismaClient, PushToken } from '../shared/db.ts';
import { doseFollowUpText, doseReminderText, missedDoseAlertText, refillText } from '../shared/messages.ts';
import { dosesPerDay, type MedicationSchedule } from '../shared/schedule.ts';
import { recordDeadLetterRow } from './dead-letters.ts';
import { reachableChannels } from './recipients.ts';

export interface DoseRef {
  medicationId: string;
  /** ISO instant of the scheduled dose. */
  doseAt: string;
}

export type DosePlan =
  | {
      status: 'skipped';
      reason: 'medication_deleted' | 'medication_inactive' | 'superseded' | 'already_sent' | 'dose_closed';
    }
  /** Dedupe keys of the notifications still to deliver (one per recipient × channel). */
  | { status: 'planned'; deliveries: string[] };

type Recipient = Member & { pushTokens: PushToken[] };

/**
 * Writes one pending notification per recipient × channel (idempotent on the dedupe key) and
 * returns the keys not yet sent.
 */
async function planNotifications(
  prisma: PrismaClient,
  recipients: Recipient[],
  data: {
    kind: string;
    keyPrefix: string;
    medicationId: string;
    doseAt: Date | null;
    title: string;
    body: string;
    reopenWithdrawn?: boolean;
  },
): Promise<{ pending: string[]; channels: number }> {
  const pending: string[] = [];
  let channels = 0;
  for (const recipient of recipients) {
    for (const channel of reachableChannels(recipient)) {
      channels++;
      const dedupeKey = `${data.keyPrefix}:${recipient.id}:${channel}`;
      const row = await prisma.notificationLog.upsert({
        where: { dedupeKey },
        create: {
          dedupeKey,
          kind: data.kind,
          recipientId: recipient.id,
          channel,
          medicationId: data.medicationId,
          doseAt: data.doseAt,
          title: data.title,
          body: data.body,
        },
        update: {},
      });
      if (row.status === 'pending') pending.push(dedupeKey);
      else if (data.reopenWithdrawn && row.status === 'skipped' && WITHDRAWN.includes(row.error ?? '')) {
        // Withdrawn when an earlier arming of this dose became obsolete; armed again, it is wanted.
        await prisma.notificationLog.updateMany({
          where: { dedupeKey, status: 'skipped' },
          data: { status: 'pending', error: null },
        });
        pending.push(dedupeKey);
      }
    }
  }
  return { pending, channels };
}

const withTokens = { pushTokens: { where: { active: true } } } as const;

/** Why an armed dose's notifications were withdrawn unsent (activities/dose-sends.ts). */
export const WITHDRAWN = ['cancelled', 'superseded', 'medication_inactive', 'medication_deleted'];

/**
 * The medication a reminder is for, if one may still go out for it. `generation` is the schedule
 * generation the workflow decided under (see workflows/medication/schedule-state.ts): a newer one
 * in the database means the user changed the schedule since, and decides; an older one means the
 * workflow's own write has not landed yet, and the workflow's decision stands.
 */
async function loadRemindable(prisma: PrismaClient, medicationId: string, generation?: number) {
  const medication = await prisma.medication.findUnique({
    where: { id: medicationId },
    include: { patient: { include: withTokens } },
  });
  if (!medication) return { ok: false as const, skip: 'medication_deleted' as const };
  if (generation !== undefined && medication.scheduleGeneration > generation) {
    return { ok: false as const, skip: 'superseded' as const };
  }
  const statusDecides = generation === undefined || medication.scheduleGeneration === generation;
  if (statusDecides && medication.status !== 'active')
    return { ok: false as const, skip: 'medication_inactive' as const };
  const schedule = medication.schedule as unknown as MedicationSchedule;
  return { ok: true as const, medication, schedule, timezone: schedule.timezone ?? medication.patient.timezone };
}

/** Plans a dose's reminder or repeat reminder (see planDoseReminder). */
export async function planDoseNotifications(
  prisma: PrismaClient,
  {
    medicationId,
    doseAt,
    stage = 'reminder',
    generation,
  }: DoseRef & { stage?: 'reminder' | 'follow_up'; generation?: number },
): Promise<DosePlan> {
  const loaded = await loadRemindable(prisma, medicationId, generation);
  if (!loaded.ok) return { status: 'skipped', reason: loaded.skip };
  const { medication, timezone } = loaded;
  const at = new Date(doseAt);

  const dose = await prisma.doseEvent.upsert({
    where: { medicationId_scheduledAt: { medicationId, scheduledAt: at } },
    create: { medicationId, scheduledAt: at },
    update: {},
  });
  if (['taken', 'skipped', 'missed'].includes(dose.status) && (stage === 'follow_up' || dose.acknowledgedAt)) {
    return { status: 'skipped', reason: 'dose_closed' };
  }

  const text =
    stage === 'reminder'
      ? doseReminderText({ medicationName: medication.name, dosage: medication.dosage, doseAt: at, timezone })
      : doseFollowUpText({ medicationName: medication.name, doseAt: at, timezone });
  // The snooze time is part of a follow-up's key: each snooze earns one repeat reminder.
  const round = stage === 'follow_up' ? `:${dose.snoozedUntil?.toISOString() ?? 'window'}` : '';
  const keyPrefix =
    stage === 'reminder'
      ? `dose:${medicationId}:${at.toISOString()}`
      : `dose-followup:${medicationId}:${at.toISOString()}${round}`;
  const { pending, channels } = await planNotifications(prisma, [medication.patient], {
    kind: stage === 'reminder' ? 'dose_reminder' : 'dose_follow_up',
    keyPrefix,
    medicationId,
    doseAt: at,
    ...text,
    reopenWithdrawn: stage === 'reminder' && generation !== undefined,
  });
  if (pending.length === 0 && channels > 0) return { status: 'skipped', reason: 'already_sent' };
  return { status: 'planned', deliveries: pending };
}

/** The workflow's state as reads see it, written only by the workflow (newest revision wins). */
export interface MedicationProjection {
  medicationId: string;
  revision: number;
  generation: number;
  status: 'active' | 'paused' | 'completed' | 'cancelled';
  schedule: MedicationSchedule;
  escalationWindowMinutes: number;
  nextDoseAt: string | null;
  lastDoseAt: string | null;
  remindersSent: number;
  openDoses: { doseAt: string; status: string; snoozedUntil: string | null; escalatesAt: string }[];
}

export function createMedicationReminderActivities(prisma: PrismaClient) {
  const loadActive = (medicationId: string) => loadRemindable(prisma, medicationId);

  async function caregiversOf(careCircleId: string): Promise<Recipient[]> {
    return prisma.member.findMany({ where: { careCircleId, role: 'caregiver' }, include: withTokens });
  }

  return {
    /**
     * Decides who gets which reminder for one dose and writes those notifications as pending
     * rows. Re-running it finds the rows already there and returns only what is still unsent.
     * `follow_up` is the repeat reminder sent when a dose is still unconfirmed half-way through
     * its window (or when a snooze ends).
     */
    planDoseReminder(input: DoseRef & { stage?: 'reminder' | 'follow_up'; generation?: number }): Promise<DosePlan> {
      return planDoseNotifications(prisma, input);
    },

    async markDoseReminded({ medicationId, doseAt }: DoseRef): Promise<void> {
      await prisma.doseEvent.updateMany({
        where: { medicationId, scheduledAt: new Date(doseAt), status: 'scheduled' },
        data: { status: 'reminded', remindedAt: new Date() },
      });
    },

    /**
     * Nobody confirmed the dose within its window: record it missed and plan the caregivers'
     * alert on their preferred channels. An acknowledgement that won the race keeps its status.
     */
    async recordDoseMissed({ medicationId, doseAt }: DoseRef): Promise<{ deliveries: string[] }> {
      const at = new Date(doseAt);
      const updated = await prisma.doseEvent.updateMany({
        where: { medicationId, scheduledAt: at, status: { in: ['scheduled', 'reminded', 'snoozed'] } },
        data: { status: 'missed' },
      });
      const dose = await prisma.doseEvent.findUnique({
        where: { medicationId_scheduledAt: { medicationId, scheduledAt: at } },
      });
      if (updated.count === 0 && dose?.status !== 'missed') return { deliveries: [] };
      const loaded = await loadActive(medicationId);
      if (!loaded.ok) return { deliveries: [] };
      const { medication, timezone } = loaded;
      const text = missedDoseAlertText({
        patientName: medication.patient.name,
        medicationName: medication.name,
        doseAt: at,
        timezone,
      });
      const { pending } = await planNotifications(prisma, await caregiversOf(medication.careCircleId), {
        kind: 'dose_missed',
        keyPrefix: `dose-missed:${medicationId}:${at.toISOString()}`,
        medicationId,
        doseAt: at,
        ...text,
      });
      return { deliveries: pending };
    },

    /**
     * Records taken / skipped / snoozed (and who said so). A dose taken uses up pills; when the
     * supply falls under the refill threshold the caregivers' refill reminder is planned, once per
     * supply.
     */
    async recordDoseAcknowledgement(input: {
      medicationId: string;
      doseAt: string;
      action: 'taken' | 'skipped' | 'snoozed';
      memberId: string;
      snoozedUntil: string | null;
      late: boolean;
    }): Promise<{ refillDeliveries: string[] }> {
      const at = new Date(input.doseAt);
      const existing = await prisma.doseEvent.findUnique({
        where: { medicationId_scheduledAt: { medicationId: input.medicationId, scheduledAt: at } },
      });
      // A retried activity must not take pills twice.
      const alreadyRecorded =
        existing?.status === input.action && existing.acknowledgedById === input.memberId && input.action !== 'snoozed';
      const data = {
        status: input.action,
        acknowledgedById: input.memberId,
        acknowledgedAt: new Date(),
        snoozedUntil: input.snoozedUntil ? new Date(input.snoozedUntil) : null,
        late: input.late,
      } satisfies Prisma.DoseEventUncheckedUpdateInput;
      await prisma.doseEvent.upsert({
        where: { medicationId_scheduledAt: { medicationId: input.medicationId, scheduledAt: at } },
        create: { medicationId: input.medicationId, scheduledAt: at, ...data },
        update: data,
      });
      if (input.action !== 'taken' || alreadyRecorded) return { refillDeliveries: [] };
      return { refillDeliveries: await useUpPills(input.medicationId) };
    },

    /** An as-needed (PRN) dose, logged when taken. */
    async logAsNeededDose(input: { medicationId: string; memberId: string; takenAt: string }): Promise<void> {
      const at = new Date(input.takenAt);
      const existing = await prisma.doseEvent.findUnique({
        where: { medicationId_scheduledAt: { medicationId: input.medicationId, scheduledAt: at } },
      });
      if (existing) return;
      await prisma.doseEvent.create({
        data: {
          medicationId: input.medicationId,
          scheduledAt: at,
          status: 'taken',
          source: 'as_needed',
          acknowledgedById: input.memberId,
          acknowledgedAt: new Date(),
        },
      });
      await useUpPills(input.medicationId);
    },

    /** The workflow owns schedule and status: it writes them here when an Update changes them. */
    async saveMedicationState(input: {
      medicationId: string;
      schedule?: MedicationSchedule;
      status?: 'active' | 'paused';
      escalationWindowMinutes?: number;
    }): Promise<void> {
      await prisma.medication.updateMany({
        where: { id: input.medicationId, status: { in: ['active', 'paused'] } },
        data: {
          ...(input.schedule ? { schedule: input.schedule as object } : {}),
          ...(input.status ? { status: input.status } : {}),
          ...(input.escalationWindowMinutes !== undefined
            ? { escalationWindowMinutes: input.escalationWindowMinutes }
            : {}),
        },
      });
    },

    /** The schedule has no dose left (its end date passed). */
    async completeMedication({ medicationId }: { medicationId: string }): Promise<void> {
      await prisma.medication.updateMany({
        where: { id: medicationId, status: 'active' },
        data: { status: 'completed' },
      });
    },

    /** An armed dose that no attempt could send: its unsent notifications become dead letters. */
    async deadLetterDoseReminder(input: DoseRef & { error: string }): Promise<void> {
      const execution = Context.current().info.workflowExecution ?? { workflowId: 'unknown', runId: 'unknown' };
      const pending = await prisma.notificationLog.findMany({
        where: {
          dedupeKey: { startsWith: `dose:${input.medicationId}:${new Date(input.doseAt).toISOString()}:` },
          status: 'pending',
        },
        select: { dedupeKey: true },
      });
      for (const { dedupeKey } of pending) {
        await recordDeadLetterRow(prisma, { dedupeKey, error: input.error, errorType: 'ArmedDoseFailed' }, execution);
      }
    },

    /**
     * The workflow's projection: applied only when newer than what the row holds, so writes that
     * arrive out of order (a retry landing late) never bring back an older state.
     */
    async saveMedicationProjection(p: MedicationProjection): Promise<{ applied: boolean }> {
      const { count } = await prisma.medication.updateMany({
        // A deletion recorded by the API is final: no late write of the workflow brings it back.
        where: { id: p.medicationId, stateRevision: { lt: p.revision }, status: { not: 'cancelled' } },
        data: {
          stateRevision: p.revision,
          scheduleGeneration: p.generation,
          status: p.status,
          schedule: p.schedule as object,
          escalationWindowMinutes: p.escalationWindowMinutes,
          nextDoseAt: p.nextDoseAt ? new Date(p.nextDoseAt) : null,
          lastDoseAt: p.lastDoseAt ? new Date(p.lastDoseAt) : null,
          remindersSent: p.remindersSent,
          openDoses: p.openDoses as unknown as object,
        },
      });
      return { applied: count > 0 };
    },
  };

  /** Takes a dose's pills from the supply; plans the refill reminder when it runs low. */
  async function useUpPills(medicationId: string): Promise<string[]> {
    // One statement, so two acknowledgements at once both count.
    const [row] = await prisma.$queryRaw<{ pill_count: number }[]>`
      UPDATE medications SET pill_count = GREATEST(0, pill_count - pills_per_dose), updated_at = now()
      WHERE id = ${medicationId}::uuid AND pill_count IS NOT NULL
      RETURNING pill_count`;
    if (!row) return [];
    const medication = await prisma.medication.findUnique({ where: { id: medicationId }, include: { patient: true } });
    if (!medication) return [];
    const pillCount = row.pill_count;
    const perDay = dosesPerDay(medication.schedule as unknown as MedicationSchedule) * medication.pillsPerDose;
    if (perDay === 0) return [];
    const daysLeft = pillCount / perDay;
    if (daysLeft >= medication.refillThresholdDays) return [];
    // The supply's alert is stamped once; its timestamp names the notifications, so a retried or
    // later call finds them already sent instead of alerting again.
    await prisma.medication.updateMany({
      where: { id: medicationId, refillAlertedAt: null },
      data: { refillAlertedAt: new Date() },
    });
    const current = await prisma.medication.findUniqueOrThrow({ where: { id: medicationId } });
    const text = refillText({ patientName: medication.patient.name, medicationName: medication.name, daysLeft });
    const { pending } = await planNotifications(prisma, await caregiversOf(medication.careCircleId), {
      kind: 'refill_reminder',
      keyPrefix: `refill:${medicationId}:${current.refillAlertedAt!.toISOString()}`,
      medicationId,
      doseAt: null,
      ...text,
    });
    return pending;
  }
}
