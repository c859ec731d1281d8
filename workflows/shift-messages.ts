/** The shift workflow's query and update, apart from its code so the API can import them. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ShiftSnapshot } from '../shared/snapshots.ts';

export type { ShiftSnapshot } from '../shared/snapshots.ts';

export interface ShiftReminderStatus {
  state: 'waiting' | 'in_progress' | 'completed' | 'cancelled';
  version: number;
  assigneeId: string | null;
  startsAt: string;
  endsAt: string;
  /** The next thing the workflow will do and when: remind the assignee, alert the circle, or close. */
  next: { action: 'remind_assignee' | 'alert_circle' | 'start' | 'end'; at: string } | null;
  /** Assignees reminded so far (a swap may add a second one). */
  remindedAssignees: string[];
  /** Versions of the shift at which the circle was told nobody is assigned. */
  unassignedAlerts: number[];
}

export const shiftStatusQuery = defineQuery<ShiftReminderStatus>('status');

/** The shift row changed (assigned, reassigned, swapped); rejected when older than the workflow's. */
export const shiftChangedUpdate = defineUpdate<ShiftReminderStatus, [ShiftSnapshot]>('shiftChanged');
