/**
 * The medication workflow's messages: what the API may ask (queries) and change (updates). Shared
 * by the workflow and its callers, so both sides agree on names and types.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { MedicationSchedule } from '../shared/schedule.ts';

/** Why an Update was refused (the ApplicationFailure type its validator throws). */
export type UpdateRejection =
  'InvalidRequest' | 'UnknownDose' | 'DoseNotDue' | 'DoseClosed' | 'NotAsNeeded' | 'ScheduleEnded';

export type ScheduleState = 'active' | 'paused' | 'completed' | 'cancelled';
export type DoseAction = 'taken' | 'skipped' | 'snoozed';
export type DoseState = 'reminded' | 'snoozed' | 'taken' | 'skipped' | 'missed';

export interface OpenDoseView {
  doseAt: string;
  /** `armed`: the reminder is planned and goes out at the dose instant. */
  status: 'armed' | 'reminded' | 'snoozed';
  snoozedUntil: string | null;
  /** When caregivers are alerted and the dose is recorded missed, unless acknowledged before. */
  escalatesAt: string;
}

export interface MedicationReminderStatus {
  state: ScheduleState;
  schedule: MedicationSchedule;
  nextDoseAt: string | null;
  lastDoseAt: string | null;
  remindersSent: number;
  escalationWindowMinutes: number;
  openDoses: OpenDoseView[];
}

export interface AcknowledgeDoseInput {
  /** The scheduled instant of the dose (ISO 8601), as reminders and queries give it. */
  doseAt: string;
  action: DoseAction;
  /** For `snoozed`: remind again after this many minutes (1–240). */
  snoozeMinutes?: number;
  /** The member acknowledging: the patient or a caregiver of the circle. */
  memberId: string;
}

export interface AcknowledgeDoseResult {
  doseAt: string;
  status: 'taken' | 'skipped' | 'snoozed';
  snoozedUntil: string | null;
  /** Logged after the dose window closed. */
  late: boolean;
}

export interface LogDoseInput {
  memberId: string;
  /** When it was taken; defaults to now. */
  takenAt?: string;
}

export interface ScheduleChange {
  schedule?: MedicationSchedule;
  escalationWindowMinutes?: number;
}

export const medicationStatusQuery = defineQuery<MedicationReminderStatus>('status');
export const upcomingDosesQuery = defineQuery<string[], [{ fromMs: number; count: number }]>('upcomingDoses');

export const acknowledgeDoseUpdate = defineUpdate<AcknowledgeDoseResult, [AcknowledgeDoseInput]>('acknowledgeDose');
export const logAsNeededDoseUpdate = defineUpdate<{ takenAt: string }, [LogDoseInput]>('logAsNeededDose');
export const changeScheduleUpdate = defineUpdate<MedicationReminderStatus, [ScheduleChange]>('changeSchedule');
export const changeTimezoneUpdate = defineUpdate<MedicationReminderStatus, [{ timezone: string }]>('changeTimezone');
export const pauseUpdate = defineUpdate<MedicationReminderStatus>('pause');
export const resumeUpdate = defineUpdate<MedicationReminderStatus>('resume');
/**
 * Writes the workflow's state to PostgreSQL again, as a newer revision: how the reconciliation
 * repairs a row that drifted from its workflow (the workflow's state wins).
 */
export const resyncProjectionUpdate = defineUpdate<MedicationReminderStatus>('resyncProjection');

export const MAX_SNOOZE_MINUTES = 240;
export const MAX_SNOOZES_PER_DOSE = 3;
/** How far back a dose may be logged late. */
export const LATE_LOGGING_DAYS = 7;
