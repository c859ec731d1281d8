/**
 * One workflow per caregiver shift, id `shift:<shiftId>`:
 * - at `startsAt − unassignedAlertMinutes` (24 h by default), if nobody is assigned, the circle's
 *   caregivers and family are alerted; a shift that becomes unassigned later is alerted at once;
 * - at `startsAt − reminderLeadMinutes` (2 h by default) the assignee is reminded; someone assigned
 *   after that time (a reassignment or a swap) is reminded at once;
 * - at `endsAt` the shift is completed.
 * Assignments arrive as Updates (`shiftChanged`) carrying the row's new snapshot; DELETE cancels.
 */
import { allHandlersFinished, condition, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ShiftPlan } from '../activities/shifts.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';
import { deliverNotifications } from './shared/deliver.ts';
import {
  shiftChangedUpdate,
  shiftStatusQuery,
  type ShiftReminderStatus,
  type ShiftSnapshot,
} from './shift-messages.ts';

export * from './shift-messages.ts';

export interface ShiftReminderInput {
  shiftId: string;
  snapshot: ShiftSnapshot;
}

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

const MINUTE = 60_000;

export async function shiftReminderWorkflow(input: ShiftReminderInput): Promise<ShiftReminderStatus> {
  const { shiftId } = input;
  let snapshot = input.snapshot;
  let state: ShiftReminderStatus['state'] = 'waiting';
  let next: ShiftReminderStatus['next'] = null;
  const reminded = new Set<string>();
  const alerted = new Set<number>();

  const status = (): ShiftReminderStatus => ({
    state,
    version: snapshot.version,
    assigneeId: snapshot.assigneeId,
    startsAt: snapshot.startsAt,
    endsAt: snapshot.endsAt,
    next,
    remindedAssignees: [...reminded],
    unassignedAlerts: [...alerted],
  });

  /** The next thing to do after `now` for the current snapshot: what the loop sleeps until. */
  const upcoming = (now: number): NonNullable<ShiftReminderStatus['next']> => {
    const start = Date.parse(snapshot.startsAt);
    if (now >= start) return { action: 'end', at: snapshot.endsAt };
    const assignee = snapshot.assigneeId;
    const alertAt = start - snapshot.unassignedAlertMinutes * MINUTE;
    const remindAt = start - snapshot.reminderLeadMinutes * MINUTE;
    const candidates: NonNullable<ShiftReminderStatus['next']>[] = [{ action: 'start', at: snapshot.startsAt }];
    if (!assignee && !alerted.has(snapshot.version)) {
      candidates.push({ action: 'alert_circle', at: new Date(Math.max(alertAt, now)).toISOString() });
    }
    if (assignee && !reminded.has(assignee)) {
      candidates.push({ action: 'remind_assignee', at: new Date(Math.max(remindAt, now)).toISOString() });
    }
    return candidates.reduce((a, b) => (Date.parse(b.at) < Date.parse(a.at) ? b : a));
  };

  setHandler(shiftStatusQuery, status);
  setHandler(
    shiftChangedUpdate,
    (changed) => {
      if (changed.version > snapshot.version) {
        snapshot = changed;
        next = upcoming(Date.now());
      }
      return status();
    },
    {
      validator: (changed) => {
        if (state === 'completed' || state === 'cancelled') throw new Error(`the shift is ${state}`);
        if (changed.version < snapshot.version) {
          throw new Error(`stale change: version ${changed.version} is older than ${snapshot.version}`);
        }
      },
    },
  );

  /** Runs a plan; false when the shift is gone or cancelled (the workflow then ends). */
  async function act(plan: () => Promise<ShiftPlan>): Promise<boolean> {
    const result = await plan();
    if (result.status === 'changed') {
      snapshot = result.snapshot;
      return true;
    }
    if (result.status === 'skipped') {
      log.info('Shift workflow found nothing to do', { shiftId, reason: result.reason });
      if (result.reason === 'shift_completed') return true;
      state = 'cancelled';
      return false;
    }
    await deliverNotifications(result.deliveries, { kind: 'shift' });
    return true;
  }

  for (;;) {
    const now = Date.now();
    const start = Date.parse(snapshot.startsAt);
    const end = Date.parse(snapshot.endsAt);
    if (now >= end) {
      await condition(allHandlersFinished);
      const closed = await bookkeeping.completeShift({ shiftId, version: snapshot.version });
      if (closed.status === 'changed') {
        snapshot = closed.snapshot;
        continue;
      }
      break;
    }

    const version = snapshot.version;
    const assignee = snapshot.assigneeId;
    const alertAt = start - snapshot.unassignedAlertMinutes * MINUTE;
    const remindAt = start - snapshot.reminderLeadMinutes * MINUTE;

    if (now < start) {
      if (!assignee && now >= alertAt && !alerted.has(version)) {
        alerted.add(version);
        if (!(await act(() => bookkeeping.planShiftUnassignedAlert({ shiftId, version })))) break;
        continue;
      }
      if (assignee && now >= remindAt && !reminded.has(assignee)) {
        reminded.add(assignee);
        if (!(await act(() => bookkeeping.planShiftReminder({ shiftId, version })))) break;
        continue;
      }
    }

    // Sleep until the next thing to do, or until the shift changes.
    if (now >= start) state = 'in_progress';
    const due = upcoming(now);
    next = due;
    await condition(() => snapshot.version !== version, Date.parse(due.at) - now);
  }

  // `act` may have set it to cancelled (TypeScript cannot see that through the closure).
  if ((state as ShiftReminderStatus['state']) !== 'cancelled') state = 'completed';
  next = null;
  return status();
}
