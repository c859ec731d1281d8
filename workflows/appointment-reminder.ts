/**
 * One workflow per appointment, id `appointment:<appointmentId>`: it sleeps until each reminder
 * offset before the start (24 h and 1 h by default), reminds the attendees, and completes when the
 * appointment starts. A reschedule arrives as an Update (`appointmentChanged`) and moves the timers
 * at once; DELETE cancels the workflow.
 *
 * Reminders whose time has already passed (an appointment booked 5 hours ahead, or moved closer)
 * collapse into one reminder sent right away, with the time still left; the ones it supersedes are
 * recorded as such. A reminder goes out once per start time and offset (dedupe key), so moving an
 * appointment and back does not repeat reminders already sent.
 */
import { allHandlersFinished, condition, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';
import {
  appointmentChangedUpdate,
  appointmentStatusQuery,
  type AppointmentReminderRecord,
  type AppointmentReminderStatus,
  type AppointmentSnapshot,
} from './appointment-messages.ts';
import { deliverNotifications } from './shared/deliver.ts';

export * from './appointment-messages.ts';

export interface AppointmentReminderInput {
  appointmentId: string;
  snapshot: AppointmentSnapshot;
}

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

const MINUTE = 60_000;

const sameTiming = (a: AppointmentSnapshot, b: AppointmentSnapshot): boolean =>
  a.startsAt === b.startsAt &&
  a.reminderOffsetsMinutes.length === b.reminderOffsetsMinutes.length &&
  a.reminderOffsetsMinutes.every((o) => b.reminderOffsetsMinutes.includes(o));

export async function appointmentReminderWorkflow(input: AppointmentReminderInput): Promise<AppointmentReminderStatus> {
  const { appointmentId } = input;
  let snapshot = input.snapshot;
  /** Offsets already reminded (or superseded) for the current timing. */
  let handled = new Set<number>();
  let state: AppointmentReminderStatus['state'] = 'waiting';
  let nextReminderAt: string | null = null;
  const reminders: AppointmentReminderRecord[] = [];

  const status = (): AppointmentReminderStatus => ({
    state,
    version: snapshot.version,
    startsAt: snapshot.startsAt,
    reminderOffsetsMinutes: snapshot.reminderOffsetsMinutes,
    nextReminderAt,
    reminders,
  });

  /** Reminders still to come for the current timing, earliest first. */
  const pendingReminders = () => {
    const start = Date.parse(snapshot.startsAt);
    return snapshot.reminderOffsetsMinutes
      .filter((offset) => !handled.has(offset))
      .map((offset) => ({ offset, at: start - offset * MINUTE }))
      .sort((a, b) => a.at - b.at);
  };

  /** Adopts the row's snapshot; new timing means every offset is due again for the new time. */
  const adopt = (next: AppointmentSnapshot): void => {
    if (!sameTiming(next, snapshot)) handled = new Set();
    snapshot = next;
    const upcoming = pendingReminders().find((r) => r.at > Date.now());
    nextReminderAt = upcoming ? new Date(upcoming.at).toISOString() : null;
  };

  setHandler(appointmentStatusQuery, status);
  setHandler(
    appointmentChangedUpdate,
    (next) => {
      if (next.version > snapshot.version) adopt(next);
      return status();
    },
    {
      validator: (next) => {
        if (state !== 'waiting') throw new Error(`the appointment is ${state}`);
        if (next.version < snapshot.version) {
          throw new Error(`stale change: version ${next.version} is older than ${snapshot.version}`);
        }
        if (Date.parse(next.startsAt) <= Date.now()) throw new Error('startsAt must be in the future');
      },
    },
  );

  for (;;) {
    const now = Date.now();
    const start = Date.parse(snapshot.startsAt);
    if (now >= start) {
      // Let an Update being handled finish before deciding the appointment is over.
      await condition(allHandlersFinished);
      const closed = await bookkeeping.completeAppointment({ appointmentId, version: snapshot.version });
      if (closed.status === 'changed') {
        adopt(closed.snapshot);
        continue;
      }
      break;
    }

    const pending = pendingReminders();
    const overdue = pending.filter((r) => r.at <= now);
    const latest = overdue.at(-1);
    if (latest) {
      for (const r of overdue) {
        handled.add(r.offset);
        if (r !== latest)
          reminders.push({ offsetMinutes: r.offset, startsAt: snapshot.startsAt, status: 'superseded' });
      }
      const outcome = await remind(latest.offset);
      if (outcome === 'cancelled') {
        state = 'cancelled';
        return status();
      }
      continue;
    }

    const next = pending[0];
    nextReminderAt = next ? new Date(next.at).toISOString() : null;
    const seen = snapshot.version;
    await condition(() => snapshot.version !== seen, (next?.at ?? start) - now);
  }

  state = 'completed';
  nextReminderAt = null;
  return status();

  async function remind(offsetMinutes: number): Promise<'done' | 'cancelled'> {
    const startsAt = snapshot.startsAt;
    const plan = await bookkeeping.planAppointmentReminder({
      appointmentId,
      version: snapshot.version,
      offsetMinutes,
      sendAt: Date.now(),
    });
    if (plan.status === 'changed') {
      // Same timing (only attendees changed): this reminder is still due, for the new attendees.
      if (sameTiming(plan.snapshot, snapshot)) handled.delete(offsetMinutes);
      adopt(plan.snapshot);
      return 'done';
    }
    if (plan.status === 'skipped') {
      log.info('Appointment reminder skipped', { appointmentId, offsetMinutes, reason: plan.reason });
      reminders.push({ offsetMinutes, startsAt, status: 'skipped' });
      return plan.reason === 'appointment_completed' ? 'done' : 'cancelled';
    }
    await deliverNotifications(plan.deliveries, { kind: 'appointment' });
    reminders.push({ offsetMinutes, startsAt, status: 'sent' });
    return 'done';
  }
}
