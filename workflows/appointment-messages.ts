/** The appointment workflow's query and update, apart from its code so the API can import them. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { AppointmentSnapshot } from '../shared/snapshots.ts';

export type { AppointmentSnapshot } from '../shared/snapshots.ts';

export interface AppointmentReminderRecord {
  offsetMinutes: number;
  /** The start time the reminder was about (ISO). */
  startsAt: string;
  /** sent: delivered (or attempted); superseded: its time had passed when a later reminder was due. */
  status: 'sent' | 'superseded' | 'skipped';
}

export interface AppointmentReminderStatus {
  state: 'waiting' | 'completed' | 'cancelled';
  version: number;
  startsAt: string;
  reminderOffsetsMinutes: number[];
  nextReminderAt: string | null;
  reminders: AppointmentReminderRecord[];
}

export const appointmentStatusQuery = defineQuery<AppointmentReminderStatus>('status');

/**
 * The appointment row changed (rescheduled, other offsets or attendees). The validator rejects a
 * snapshot older than the workflow's and a start time already passed on the workflow's clock; the
 * result is the workflow's status after the change.
 */
export const appointmentChangedUpdate = defineUpdate<AppointmentReminderStatus, [AppointmentSnapshot]>(
  'appointmentChanged',
);
