/**
 * Activities of the medication reminder workflow that touch only our database. Each one loads
 * fresh state by id and is idempotent: Temporal may run it more than once.
 */
import { Context } from '@temporalio/activity';
import type { Channel, PrismaClient } from '../shared/db.ts';
import { doseDedupeKey } from '../shared/ids.ts';
import { doseReminderText } from '../shared/messages.ts';
import type { MedicationSchedule } from '../shared/schedule.ts';

export interface DoseRef {
  medicationId: string;
  /** ISO instant of the scheduled dose. */
  doseAt: string;
}

export type DosePlan =
  | { status: 'skipped'; reason: 'medication_deleted' | 'medication_inactive' | 'already_sent' }
  /** Dedupe keys of the notifications still to deliver (one per recipient × channel). */
  | { status: 'planned'; deliveries: string[] };

export function createMedicationReminderActivities(prisma: PrismaClient) {
  return {
    /**
     * Decides who gets which reminder for one dose and writes those notifications as pending
     * rows. Re-running it finds the rows already there and returns only what is still unsent.
     */
    async planDoseReminder({ medicationId, doseAt }: DoseRef): Promise<DosePlan> {
      const medication = await prisma.medication.findUnique({
        where: { id: medicationId },
        include: { patient: { include: { pushTokens: { where: { active: true } } } } },
      });
      if (!medication) return { status: 'skipped', reason: 'medication_deleted' };
      if (medication.status !== 'active') return { status: 'skipped', reason: 'medication_inactive' };

      const at = new Date(doseAt);
      await prisma.doseEvent.upsert({
        where: { medicationId_scheduledAt: { medicationId, scheduledAt: at } },
        create: { medicationId, scheduledAt: at },
        update: {},
      });

      const patient = medication.patient;
      const schedule = medication.schedule as unknown as MedicationSchedule;
      const { title, body } = doseReminderText({
        medicationName: medication.name,
        dosage: medication.dosage,
        doseAt: at,
        timezone: schedule.timezone ?? patient.timezone,
      });
      const channels = patient.channels.filter((channel: Channel) => {
        if (channel === 'push') return patient.pushTokens.length > 0;
        if (channel === 'email') return Boolean(patient.email);
        return true;
      });

      const pending: string[] = [];
      for (const channel of channels) {
        const dedupeKey = doseDedupeKey(medicationId, at, patient.id, channel);
        const row = await prisma.notificationLog.upsert({
          where: { dedupeKey },
          create: {
            dedupeKey,
            kind: 'dose_reminder',
            recipientId: patient.id,
            channel,
            medicationId,
            doseAt: at,
            title,
            body,
          },
          update: {},
        });
        if (row.status === 'pending') pending.push(dedupeKey);
      }
      if (pending.length === 0 && channels.length > 0) return { status: 'skipped', reason: 'already_sent' };
      return { status: 'planned', deliveries: pending };
    },

    async markDoseReminded({ medicationId, doseAt }: DoseRef): Promise<void> {
      await prisma.doseEvent.updateMany({
        where: { medicationId, scheduledAt: new Date(doseAt), status: 'scheduled' },
        data: { status: 'reminded', remindedAt: new Date() },
      });
    },

    /** The schedule has no dose left (its end date passed). */
    async completeMedication({ medicationId }: { medicationId: string }): Promise<void> {
      await prisma.medication.updateMany({
        where: { id: medicationId, status: 'active' },
        data: { status: 'completed' },
      });
    },

    /**
     * A delivery exhausted its retries or failed for good: keep it for an operator. Idempotent per
     * dedupe key, so a retried call records one dead letter.
     */
    async recordDeadLetter(input: { dedupeKey: string; error: string; errorType: string | null }): Promise<void> {
      // Activities here are always called from a workflow, so the execution is known.
      const { workflowId, runId } = Context.current().info.workflowExecution ?? {
        workflowId: 'unknown',
        runId: 'unknown',
      };
      const log = await prisma.notificationLog.findUnique({ where: { dedupeKey: input.dedupeKey } });
      await prisma.$transaction([
        prisma.notificationLog.updateMany({
          where: { dedupeKey: input.dedupeKey, status: 'pending' },
          data: { status: 'failed', error: input.error },
        }),
        prisma.deadLetter.deleteMany({ where: { dedupeKey: input.dedupeKey, status: 'open' } }),
        prisma.deadLetter.create({
          data: {
            kind: log?.kind ?? 'notification',
            dedupeKey: input.dedupeKey,
            recipientId: log?.recipientId ?? null,
            channel: log?.channel ?? null,
            payload: {
              dedupeKey: input.dedupeKey,
              medicationId: log?.medicationId ?? null,
              doseAt: log?.doseAt?.toISOString() ?? null,
            },
            error: input.error,
            errorType: input.errorType,
            attempts: log?.attempts ?? 0,
            workflowId,
            runId,
          },
        }),
      ]);
    },
  };
}
