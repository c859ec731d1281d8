/**
 * The second version of the medication workflow, kept verbatim for executions that started before
 * the schedule state machine (workflows/medication-reminder.ts) so their histories keep replaying.
 * Their next continue-as-new starts a run of the current version. Do not change it.
 *
 * One workflow per medication schedule, id `medication:<medicationId>`. It sleeps on a durable
 * timer until the next dose, has the reminder delivered, keeps the dose open for acknowledgement
 * (escalating to caregivers when nobody confirms it), and repeats until the schedule ends or the
 * workflow is cancelled. Edits, pauses, time-zone changes and acknowledgements arrive as Updates;
 * a timer costs nothing while it waits, so a schedule can run for years; continue-as-new keeps
 * each run's history short.
 *
 * Versioning rule: any change to the commands this code issues (activities, timers, their order)
 * goes behind `patched('<change-id>')`, keeping the old path for histories recorded before it;
 * test/replay.test.ts replays those histories on every change. See docs/workflow-versioning.md.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities/index.ts';
import {
  nextDose,
  nextDoseAfterSlot,
  scheduleType,
  type Dose,
  type MedicationSchedule,
} from '../../shared/schedule.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../../shared/retry-policies.ts';
import { NextDoseAt, ScheduleStatus } from '../../shared/search-attributes.ts';
import { deliverNotifications } from '../shared/deliver.ts';
import {
  acknowledgeDoseUpdate,
  changeScheduleUpdate,
  changeTimezoneUpdate,
  LATE_LOGGING_DAYS,
  logAsNeededDoseUpdate,
  MAX_SNOOZE_MINUTES,
  MAX_SNOOZES_PER_DOSE,
  medicationStatusQuery,
  pauseUpdate,
  resumeUpdate,
  upcomingDosesQuery,
  type AcknowledgeDoseResult,
  type DoseState,
  type MedicationReminderStatus,
  type ScheduleState,
  type UpdateRejection,
} from '../medication-messages.ts';

/**
 * Rejects an Update from its validator. The type tells the API which HTTP status to answer
 * (see api/routes/medications.ts); nothing is written to the history for a rejected Update.
 */
function reject(type: UpdateRejection, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

export interface MedicationReminderInputV2 {
  medicationId: string;
  schedule: MedicationSchedule;
  /** Minutes a dose stays open before caregivers are alerted (default 30). */
  escalationWindowMinutes?: number;
  /** Carried over by continue-as-new: the last dose already handled (ISO instant) and its slot. */
  lastDoseAt?: string;
  lastDoseSlot?: string;
  remindersSent?: number;
  state?: ScheduleState;
  /** Recently closed doses, so late logging keeps working across continue-as-new. */
  recentDoses?: Record<string, DoseState>;
}

/** Bookkeeping in our own database: retried until it succeeds, because it must not be lost. */
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

/** Hand over to a fresh run well before the history grows large. */
const MAX_DOSES_PER_RUN = 100;
const MAX_HISTORY_EVENTS = 5_000;
const DEFAULT_WINDOW_MINUTES = 30;
const MAX_RECENT_DOSES = 200;

interface OpenDose {
  dose: Dose;
  status: 'reminded' | 'snoozed';
  snoozedUntil: number | null;
  snoozes: number;
  /** Bumped by every snooze, so the escalation timer restarts from the new time. */
  version: number;
  /** Closed by an acknowledgement, or abandoned by an edit or pause (no escalation then). */
  closed: boolean;
  escalatesAt: number;
}

export async function medicationReminderWorkflowV2(
  input: MedicationReminderInputV2,
): Promise<MedicationReminderStatus> {
  const { medicationId } = input;
  let schedule = input.schedule;
  let state: ScheduleState = input.state ?? 'active';
  let windowMs = (input.escalationWindowMinutes ?? DEFAULT_WINDOW_MINUTES) * 60_000;
  let lastDose: Dose | null = input.lastDoseAt
    ? { at: new Date(input.lastDoseAt), slot: input.lastDoseSlot ?? input.lastDoseAt }
    : null;
  let remindersSent = input.remindersSent ?? 0;
  let nextDoseAt: Date | null = null;
  /** Where the next dose is counted from: after the last one, from now (edits), or by slot (zones). */
  let cursor: { kind: 'after'; ms: number } | { kind: 'slot' } = {
    kind: 'after',
    ms: lastDose ? lastDose.at.getTime() : Date.now(),
  };
  /** Bumped by every change that must wake the main loop (edit, pause, resume, zone). */
  let version = 0;
  const open = new Map<string, OpenDose>();
  const recent = new Map<string, DoseState>(Object.entries(input.recentDoses ?? {}));

  const status = (): MedicationReminderStatus => ({
    state,
    schedule,
    nextDoseAt: nextDoseAt?.toISOString() ?? null,
    lastDoseAt: lastDose?.at.toISOString() ?? null,
    remindersSent,
    escalationWindowMinutes: windowMs / 60_000,
    openDoses: [...open.values()]
      .filter((d) => !d.closed)
      .map((d) => ({
        doseAt: d.dose.at.toISOString(),
        status: d.status,
        snoozedUntil: d.snoozedUntil === null ? null : new Date(d.snoozedUntil).toISOString(),
        escalatesAt: new Date(d.escalatesAt).toISOString(),
      })),
  });

  const remember = (doseAt: string, doseState: DoseState) => {
    recent.delete(doseAt);
    recent.set(doseAt, doseState);
    const horizon = Date.now() - LATE_LOGGING_DAYS * 86_400_000;
    for (const [at] of recent) {
      if (recent.size <= MAX_RECENT_DOSES && Date.parse(at) >= horizon) break;
      recent.delete(at);
    }
  };

  /** Edits and pauses end the open windows quietly: no follow-up for a dose of the old schedule. */
  const abandonOpenDoses = () => {
    for (const d of open.values()) d.closed = true;
  };

  // ── Queries ───────────────────────────────────────────────────────────────────────────────
  setHandler(medicationStatusQuery, status);
  setHandler(upcomingDosesQuery, ({ fromMs, count }) => {
    if (state !== 'active') return [];
    const doses: string[] = [];
    let after = Math.max(fromMs, lastDose?.at.getTime() ?? fromMs);
    while (doses.length < Math.min(count, 50)) {
      const next = nextDose(schedule, after);
      if (!next) break;
      doses.push(next.at.toISOString());
      after = next.at.getTime();
    }
    return doses;
  });

  // ── Updates ───────────────────────────────────────────────────────────────────────────────
  setHandler(
    acknowledgeDoseUpdate,
    async ({ doseAt, action, snoozeMinutes, memberId }): Promise<AcknowledgeDoseResult> => {
      const key = new Date(doseAt).toISOString();
      const dose = open.get(key);
      const late = !dose || dose.closed;
      let snoozedUntil: number | null = null;
      if (dose && !dose.closed && action === 'snoozed') {
        snoozedUntil = Date.now() + (snoozeMinutes ?? 10) * 60_000;
        dose.status = 'snoozed';
        dose.snoozedUntil = snoozedUntil;
        dose.snoozes++;
        dose.version++;
        dose.escalatesAt = snoozedUntil + windowMs / 2;
      } else {
        // Closed before any await: the escalation must never see a confirmed dose as open.
        if (dose) dose.closed = true;
        remember(key, action as DoseState);
      }
      const result = await bookkeeping.recordDoseAcknowledgement({
        medicationId,
        doseAt: key,
        action,
        memberId,
        snoozedUntil: snoozedUntil === null ? null : new Date(snoozedUntil).toISOString(),
        late,
      });
      if (result.refillDeliveries.length > 0) await deliverAll(result.refillDeliveries);
      return {
        doseAt: key,
        status: action,
        snoozedUntil: snoozedUntil === null ? null : new Date(snoozedUntil).toISOString(),
        late,
      };
    },
    {
      validator: ({ doseAt, action, snoozeMinutes }) => {
        const at = Date.parse(doseAt);
        if (Number.isNaN(at)) reject('InvalidRequest', `doseAt "${doseAt}" is not an instant`);
        const key = new Date(at).toISOString();
        const dose = open.get(key);
        if (action === 'snoozed') {
          if (!dose || dose.closed) reject('DoseClosed', `Dose ${key} is not open: only an open dose can be snoozed`);
          if (!snoozeMinutes || snoozeMinutes < 1 || snoozeMinutes > MAX_SNOOZE_MINUTES) {
            reject('InvalidRequest', `snoozeMinutes must be between 1 and ${MAX_SNOOZE_MINUTES}`);
          }
          if (dose.snoozes >= MAX_SNOOZES_PER_DOSE) {
            reject('DoseClosed', `Dose ${key} was already snoozed ${MAX_SNOOZES_PER_DOSE} times`);
          }
          return;
        }
        if (dose && !dose.closed) return;
        const past = recent.get(key);
        if (past === 'taken' || past === 'skipped') reject('DoseClosed', `Dose ${key} is already closed as ${past}`);
        // Late logging: a missed dose, or one whose window an edit or pause ended.
        if (past === 'missed' || past === 'reminded') return;
        if (at > Date.now()) reject('DoseNotDue', `Dose ${key} is not due yet`);
        reject(
          'UnknownDose',
          `No dose of this medication was scheduled at ${key} (within the last ${LATE_LOGGING_DAYS} days)`,
        );
      },
    },
  );

  setHandler(
    logAsNeededDoseUpdate,
    async ({ memberId, takenAt }) => {
      const at = takenAt ? new Date(takenAt).toISOString() : new Date(Date.now()).toISOString();
      await bookkeeping.logAsNeededDose({ medicationId, memberId, takenAt: at });
      return { takenAt: at };
    },
    {
      validator: ({ takenAt }) => {
        if (scheduleType(schedule) !== 'as_needed') {
          reject('NotAsNeeded', 'Only as-needed medications are logged this way; acknowledge scheduled doses instead');
        }
        if (takenAt !== undefined && Number.isNaN(Date.parse(takenAt)))
          reject('InvalidRequest', 'takenAt is not an instant');
        if (takenAt !== undefined && Date.parse(takenAt) > Date.now() + 60_000) {
          reject('InvalidRequest', 'takenAt is in the future');
        }
      },
    },
  );

  setHandler(
    changeScheduleUpdate,
    async (change) => {
      if (change.schedule) {
        schedule = change.schedule;
        // Doses of the new schedule count from now: a change never sends a backlog of reminders.
        cursor = { kind: 'after', ms: Math.max(Date.now(), lastDose?.at.getTime() ?? 0) };
        abandonOpenDoses();
      }
      if (change.escalationWindowMinutes !== undefined) windowMs = change.escalationWindowMinutes * 60_000;
      version++;
      await bookkeeping.saveMedicationState({
        medicationId,
        ...(change.schedule ? { schedule: change.schedule } : {}),
        ...(change.escalationWindowMinutes !== undefined
          ? { escalationWindowMinutes: change.escalationWindowMinutes }
          : {}),
      });
      return status();
    },
    { validator: (..._args: unknown[]) => assertChangeable() },
  );

  setHandler(
    changeTimezoneUpdate,
    async ({ timezone }) => {
      if (scheduleType(schedule) === 'interval') {
        // Elapsed-time doses keep their rhythm wherever the patient is; only the zone is noted.
        schedule = { ...schedule, timezone };
      } else {
        schedule = { ...schedule, timezone };
        cursor = lastDose ? { kind: 'slot' } : { kind: 'after', ms: Date.now() };
      }
      version++;
      await bookkeeping.saveMedicationState({ medicationId, schedule });
      return status();
    },
    { validator: (..._args: unknown[]) => assertChangeable() },
  );

  setHandler(
    pauseUpdate,
    async () => {
      if (state === 'paused') return status();
      state = 'paused';
      abandonOpenDoses();
      version++;
      upsertSearchAttributes([{ key: ScheduleStatus, value: 'paused' }]);
      await bookkeeping.saveMedicationState({ medicationId, status: 'paused' });
      return status();
    },
    { validator: (..._args: unknown[]) => assertChangeable() },
  );

  setHandler(
    resumeUpdate,
    async () => {
      if (state === 'active') return status();
      state = 'active';
      // Doses that fell inside the pause are not caught up.
      cursor = { kind: 'after', ms: Math.max(Date.now(), lastDose?.at.getTime() ?? 0) };
      version++;
      upsertSearchAttributes([{ key: ScheduleStatus, value: 'active' }]);
      await bookkeeping.saveMedicationState({ medicationId, status: 'active' });
      return status();
    },
    { validator: (..._args: unknown[]) => assertChangeable() },
  );

  function assertChangeable(): void {
    if (state === 'completed') reject('ScheduleEnded', 'The schedule has ended; create a new medication instead');
  }

  // ── Dose lifecycle ────────────────────────────────────────────────────────────────────────
  /**
   * Delivery with the replaced design's policy for medication reminders (2 attempts, 5 minutes apart), on this
   * workflow's own queue so a burst of doses never waits behind the bulk email rate limit.
   */
  async function deliverAll(dedupeKeys: string[]): Promise<void> {
    await deliverNotifications(dedupeKeys, { kind: 'medication', taskQueue: workflowInfo().taskQueue });
  }

  /** Delivers one dose on every planned channel; one failed channel never stops the schedule. */
  async function remindDose(doseAt: string): Promise<boolean> {
    const plan = await bookkeeping.planDoseReminder({ medicationId, doseAt });
    if (plan.status === 'skipped') {
      log.info('Dose reminder skipped', { medicationId, doseAt, reason: plan.reason });
      return false;
    }
    await deliverAll(plan.deliveries);
    await bookkeeping.markDoseReminded({ medicationId, doseAt });
    return true;
  }

  /**
   * Keeps a reminded dose open: half-way through the window the patient is reminded once more;
   * when the window ends caregivers are alerted and the dose is recorded missed. A snooze moves
   * both: the repeat reminder at the snooze time, the alert half a window after it.
   */
  async function escalate(d: OpenDose): Promise<void> {
    const doseAt = d.dose.at.toISOString();
    let followUpSent = false;
    for (;;) {
      const seen = d.version;
      const interrupted = () => d.closed || d.version !== seen;
      if (!followUpSent || d.snoozedUntil !== null) {
        const followUpAt = d.snoozedUntil ?? d.dose.at.getTime() + windowMs / 2;
        if (
          await condition(interrupted, Math.max(0, followUpAt - Date.now()), {
            summary: 'dose window: repeat reminder',
          })
        ) {
          if (d.closed) return;
          continue;
        }
        const plan = await bookkeeping.planDoseReminder({ medicationId, doseAt, stage: 'follow_up' });
        if (plan.status === 'planned') await deliverAll(plan.deliveries);
        followUpSent = true;
        if (d.snoozedUntil !== null) d.snoozedUntil = null;
      }
      const waitMs = Math.max(0, d.escalatesAt - Date.now());
      if (await condition(interrupted, waitMs, { summary: 'dose window: caregiver alert' })) {
        if (d.closed) return;
        continue;
      }
      if (d.closed) return;
      d.closed = true;
      remember(doseAt, 'missed');
      const alerts = await bookkeeping.recordDoseMissed({ medicationId, doseAt });
      await deliverAll(alerts.deliveries);
      return;
    }
  }

  function openDose(dose: Dose): void {
    const d: OpenDose = {
      dose,
      status: 'reminded',
      snoozedUntil: null,
      snoozes: 0,
      version: 0,
      closed: false,
      escalatesAt: dose.at.getTime() + windowMs,
    };
    const key = dose.at.toISOString();
    open.set(key, d);
    remember(key, 'reminded');
    void escalate(d)
      .catch((err: unknown) => {
        // Cancelling the workflow cancels its open windows too; anything else is a bug to surface.
        if (!isCancellation(err)) throw err;
      })
      .finally(() => open.delete(key));
  }

  function computeNext(): Dose | null {
    if (cursor.kind === 'slot') return nextDoseAfterSlot(schedule, lastDose, Date.now());
    return nextDose(schedule, cursor.ms);
  }

  const wantsNewRun = (doses: number) =>
    doses >= MAX_DOSES_PER_RUN ||
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength > MAX_HISTORY_EVENTS;
  // Open windows are finished coroutines, not just closed flags: a missed dose's alert must be sent
  // before this run hands over or ends.
  const readyForNewRun = (doses: number) => wantsNewRun(doses) && open.size === 0 && allHandlersFinished();

  async function newRun(): Promise<never> {
    return continueAsNew<typeof medicationReminderWorkflowV2>({
      medicationId,
      schedule,
      escalationWindowMinutes: windowMs / 60_000,
      ...(lastDose ? { lastDoseAt: lastDose.at.toISOString(), lastDoseSlot: lastDose.slot } : {}),
      remindersSent,
      state,
      recentDoses: Object.fromEntries(recent),
    });
  }

  // ── Main loop ─────────────────────────────────────────────────────────────────────────────
  for (let doses = 0; ; doses++) {
    if (readyForNewRun(doses)) await newRun();

    if (state === 'paused') {
      nextDoseAt = null;
      setCurrentDetails('Paused');
      const seen = version;
      await condition(() => version !== seen || readyForNewRun(doses));
      doses--; // waking from a pause is not a dose
      continue;
    }

    const next = computeNext();
    if (!next) {
      if (scheduleType(schedule) === 'as_needed') {
        // Never reminds: wait for an edit, and hand over to a new run now and then.
        nextDoseAt = null;
        setCurrentDetails('As needed: no reminders, doses are logged');
        const seen = version;
        await condition(() => version !== seen || readyForNewRun(doses));
        doses--;
        continue;
      }
      break;
    }
    nextDoseAt = next.at;
    upsertSearchAttributes([{ key: NextDoseAt, value: next.at }]);
    setCurrentDetails(`Sleeping until ${next.slot.replace('T', ' ')} ${schedule.timezone} (${next.at.toISOString()})`);

    const wait = next.at.getTime() - Date.now();
    if (wait > 0) {
      const seen = version;
      const woken = await condition(() => version !== seen || readyForNewRun(doses), wait, {
        summary: `next dose ${next.slot.replace('T', ' ')} ${schedule.timezone}`,
      });
      if (woken) {
        doses--; // the dose was not handled: count it when it is
        continue;
      }
    }

    const doseAt = next.at.toISOString();
    const reminded = await remindDose(doseAt);
    lastDose = next;
    cursor = { kind: 'after', ms: next.at.getTime() };
    remindersSent++;
    // Escalation arrived after histories of the first version were recorded: keep them replaying.
    if (patched('dose-escalation') && reminded) openDose(next);
  }

  // The schedule has ended: let open doses finish their windows, then record completion.
  await condition(() => open.size === 0 && allHandlersFinished());
  state = 'completed';
  nextDoseAt = null;
  upsertSearchAttributes([
    { key: NextDoseAt, value: null },
    { key: ScheduleStatus, value: 'completed' },
  ]);
  await bookkeeping.completeMedication({ medicationId });
  return status();
}
