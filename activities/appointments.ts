/**
 * Activities of the appointment workflow. The database row is the record of truth; the workflow
 * keeps a snapshot of its timing (`AppointmentSnapshot`) for its timers and learns of changes by an
 * Update. Planning compares versions, so a workflow that missed an Update catches up at its next
 * reminder instead of reminding about a time that no longer holds.
 */
import type { Appointment, PrismaClient } from '../shared/db.ts';
import { appointmentReminderDedupeKey } from '../shared/ids.ts';
import { appointmentSnapshot, type AppointmentSnapshot } from '../shared/snapshots.ts';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import type { Reconciler } from './maintenance.ts';
import { appointmentReminderText } from '../shared/messages.ts';
import { reachableChannels, reachableMemberSelect, writeNotifications, type PlannedMessage } from './recipients.ts';

export type AppointmentReminderPlan =
  | { status: 'skipped'; reason: 'appointment_deleted' | 'appointment_cancelled' | 'appointment_completed' }
  /** The row moved on (or back) since the workflow's snapshot: adopt this one and plan again. */
  | { status: 'changed'; snapshot: AppointmentSnapshot }
  /** Dedupe keys of the reminders to deliver (attendee × channel). */
  | { status: 'planned'; deliveries: string[] };

/**
 * Waits for any transaction that is changing the row (the API holds one open while it tells the
 * workflow) and returns the committed version: the snapshot is then never compared with a change
 * that is about to be rolled back.
 */
export async function lockedVersion(prisma: PrismaClient, table: 'appointments' | 'shifts', id: string) {
  const rows =
    table === 'appointments'
      ? await prisma.$queryRaw<{ version: number }[]>`SELECT version FROM appointments WHERE id = ${id}::uuid FOR SHARE`
      : await prisma.$queryRaw<{ version: number }[]>`SELECT version FROM shifts WHERE id = ${id}::uuid FOR SHARE`;
  return rows[0]?.version ?? null;
}

export function createAppointmentActivities(prisma: PrismaClient) {
  return {
    async planAppointmentReminder(input: {
      appointmentId: string;
      version: number;
      offsetMinutes: number;
      /** When the workflow sends it (epoch ms): a late reminder says how long is really left. */
      sendAt: number;
    }): Promise<AppointmentReminderPlan> {
      await lockedVersion(prisma, 'appointments', input.appointmentId);
      const appointment = await prisma.appointment.findUnique({ where: { id: input.appointmentId } });
      if (!appointment) return { status: 'skipped', reason: 'appointment_deleted' };
      if (appointment.status === 'cancelled') return { status: 'skipped', reason: 'appointment_cancelled' };
      if (appointment.status === 'completed') return { status: 'skipped', reason: 'appointment_completed' };
      if (appointment.version !== input.version)
        return { status: 'changed', snapshot: appointmentSnapshot(appointment) };

      // Attendees who left the circle since are simply not found.
      const attendees = await prisma.member.findMany({
        where: { id: { in: appointment.attendeeIds }, careCircleId: appointment.careCircleId },
        select: reachableMemberSelect,
      });
      const { title, body } = appointmentReminderText({
        title: appointment.title,
        location: appointment.location,
        startsAt: appointment.startsAt,
        timezone: appointment.timezone,
        sendAt: new Date(input.sendAt),
      });
      const messages: PlannedMessage[] = attendees.flatMap((member) =>
        reachableChannels(member).map((channel) => ({
          dedupeKey: appointmentReminderDedupeKey(
            appointment.id,
            appointment.startsAt,
            input.offsetMinutes,
            member.id,
            channel,
          ),
          recipientId: member.id,
          channel,
          title,
          body,
        })),
      );
      return { status: 'planned', deliveries: await writeNotifications(prisma, 'appointment_reminder', messages) };
    },

    /** The appointment has started: nothing more to remind, unless the row says it moved. */
    async completeAppointment(input: {
      appointmentId: string;
      version: number;
    }): Promise<{ status: 'completed' } | { status: 'changed'; snapshot: AppointmentSnapshot }> {
      await lockedVersion(prisma, 'appointments', input.appointmentId);
      const appointment = await prisma.appointment.findUnique({ where: { id: input.appointmentId } });
      if (appointment?.status === 'scheduled' && appointment.version !== input.version) {
        return { status: 'changed', snapshot: appointmentSnapshot(appointment) };
      }
      await prisma.appointment.updateMany({
        where: { id: input.appointmentId, status: 'scheduled', version: input.version },
        data: { status: 'completed' },
      });
      return { status: 'completed' };
    },
  };
}

/** Appointments still ahead whose workflow must be running (for the reconciliation job). */
export function appointmentReconciler(
  prisma: PrismaClient,
  /** The start helper, workflows/appointment-start.ts. */
  start: (row: Appointment) => WorkflowStart,
): Reconciler {
  return {
    async listActive(cursor, take) {
      const rows = await prisma.appointment.findMany({
        where: { status: 'scheduled', startsAt: { gt: new Date() }, ...(cursor ? { id: { gt: cursor } } : {}) },
        orderBy: { id: 'asc' },
        take,
      });
      return rows.map(start);
    },
  };
}
