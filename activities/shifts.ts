/**
 * Activities of the shift workflow: remind the assignee, alert the circle while nobody is
 * assigned, close the shift. Same rule as appointments: the row is the truth, the workflow holds a
 * versioned snapshot and adopts the row's when the versions differ.
 */
import type { PrismaClient, Shift } from '../shared/db.ts';
import { shiftReminderDedupeKey, shiftUnassignedDedupeKey } from '../shared/ids.ts';
import { shiftReminderText, shiftUnassignedText } from '../shared/messages.ts';
import { shiftSnapshot, type ShiftSnapshot } from '../shared/snapshots.ts';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import type { Reconciler } from './maintenance.ts';
import { lockedVersion } from './appointments.ts';
import { reachableChannels, reachableMemberSelect, writeNotifications, type PlannedMessage } from './recipients.ts';

export type ShiftPlan =
  | { status: 'skipped'; reason: 'shift_deleted' | 'shift_cancelled' | 'shift_completed' }
  | { status: 'changed'; snapshot: ShiftSnapshot }
  | { status: 'planned'; deliveries: string[] };

export function createShiftActivities(prisma: PrismaClient) {
  /** The row, or why the workflow's snapshot cannot be acted on. */
  async function load(
    shiftId: string,
    version: number,
  ): Promise<{ shift: Shift } | Exclude<ShiftPlan, { status: 'planned' }>> {
    await lockedVersion(prisma, 'shifts', shiftId);
    const shift = await prisma.shift.findUnique({ where: { id: shiftId } });
    if (!shift) return { status: 'skipped', reason: 'shift_deleted' };
    if (shift.status === 'cancelled') return { status: 'skipped', reason: 'shift_cancelled' };
    if (shift.status === 'completed') return { status: 'skipped', reason: 'shift_completed' };
    if (shift.version !== version) return { status: 'changed', snapshot: shiftSnapshot(shift) };
    return { shift };
  }

  return {
    /** "Your shift starts at 18:00", to the assignee of this version. */
    async planShiftReminder(input: { shiftId: string; version: number }): Promise<ShiftPlan> {
      const loaded = await load(input.shiftId, input.version);
      if (!('shift' in loaded)) return loaded;
      const { shift } = loaded;
      if (!shift.assigneeId) return { status: 'changed', snapshot: shiftSnapshot(shift) };
      const assignee = await prisma.member.findUnique({
        where: { id: shift.assigneeId },
        select: reachableMemberSelect,
      });
      if (!assignee) return { status: 'planned', deliveries: [] };
      const { title, body } = shiftReminderText({
        shiftTitle: shift.title,
        startsAt: shift.startsAt,
        endsAt: shift.endsAt,
        timezone: assignee.timezone,
      });
      const messages: PlannedMessage[] = reachableChannels(assignee).map((channel) => ({
        dedupeKey: shiftReminderDedupeKey(shift.id, shift.startsAt, assignee.id, channel),
        recipientId: assignee.id,
        channel,
        title,
        body,
      }));
      return { status: 'planned', deliveries: await writeNotifications(prisma, 'shift_reminder', messages) };
    },

    /** "Nobody has the 18:00 shift yet", to every caregiver and family member of the circle. */
    async planShiftUnassignedAlert(input: { shiftId: string; version: number }): Promise<ShiftPlan> {
      const loaded = await load(input.shiftId, input.version);
      if (!('shift' in loaded)) return loaded;
      const { shift } = loaded;
      if (shift.assigneeId) return { status: 'changed', snapshot: shiftSnapshot(shift) };
      const members = await prisma.member.findMany({
        where: { careCircleId: shift.careCircleId, role: { in: ['caregiver', 'family'] } },
        select: reachableMemberSelect,
      });
      const messages: PlannedMessage[] = members.flatMap((member) => {
        const { title, body } = shiftUnassignedText({
          shiftTitle: shift.title,
          startsAt: shift.startsAt,
          endsAt: shift.endsAt,
          timezone: member.timezone,
        });
        return reachableChannels(member).map((channel) => ({
          dedupeKey: shiftUnassignedDedupeKey(shift.id, shift.version, member.id, channel),
          recipientId: member.id,
          channel,
          title,
          body,
        }));
      });
      return { status: 'planned', deliveries: await writeNotifications(prisma, 'shift_unassigned', messages) };
    },

    /** The shift is over. */
    async completeShift(input: {
      shiftId: string;
      version: number;
    }): Promise<{ status: 'completed' } | { status: 'changed'; snapshot: ShiftSnapshot }> {
      await lockedVersion(prisma, 'shifts', input.shiftId);
      const shift = await prisma.shift.findUnique({ where: { id: input.shiftId } });
      if (shift?.status === 'scheduled' && shift.version !== input.version) {
        return { status: 'changed', snapshot: shiftSnapshot(shift) };
      }
      await prisma.shift.updateMany({
        where: { id: input.shiftId, status: 'scheduled' },
        data: { status: 'completed' },
      });
      return { status: 'completed' };
    },
  };
}

/** Shifts not over yet whose workflow must be running (for the reconciliation job). */
export function shiftReconciler(
  prisma: PrismaClient,
  /** The start helper, workflows/shift-start.ts. */
  start: (row: Shift) => WorkflowStart,
): Reconciler {
  return {
    async listActive(cursor, take) {
      const rows = await prisma.shift.findMany({
        where: { status: 'scheduled', endsAt: { gt: new Date() }, ...(cursor ? { id: { gt: cursor } } : {}) },
        orderBy: { id: 'asc' },
        take,
      });
      return rows.map(start);
    },
  };
}
