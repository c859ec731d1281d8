/**
 * What the appointment and shift workflows keep of their row: its timing, versioned. The API hands a
 * new snapshot to the running workflow after a change; planning activities hand one back when the
 * workflow's is out of date. Pure (type-only database import), so workflow code may import it.
 */
import type { Appointment, Shift } from './db.ts';

export interface AppointmentSnapshot {
  /** The row's version: bumped by every change. */
  version: number;
  /** ISO instant. */
  startsAt: string;
  /** Minutes before startsAt, in any order. */
  reminderOffsetsMinutes: number[];
}

export function appointmentSnapshot(row: Pick<Appointment, 'version' | 'startsAt' | 'reminderOffsetsMinutes'>) {
  return {
    version: row.version,
    startsAt: row.startsAt.toISOString(),
    reminderOffsetsMinutes: [...row.reminderOffsetsMinutes],
  } satisfies AppointmentSnapshot;
}

export interface ShiftSnapshot {
  version: number;
  /** ISO instants. */
  startsAt: string;
  endsAt: string;
  assigneeId: string | null;
  reminderLeadMinutes: number;
  unassignedAlertMinutes: number;
}

export function shiftSnapshot(row: Shift): ShiftSnapshot {
  return {
    version: row.version,
    startsAt: row.startsAt.toISOString(),
    endsAt: row.endsAt.toISOString(),
    assigneeId: row.assigneeId,
    reminderLeadMinutes: row.reminderLeadMinutes,
    unassignedAlertMinutes: row.unassignedAlertMinutes,
  };
}
