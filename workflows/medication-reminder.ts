/**
 * One workflow per medication schedule, id `medication:<medicationId>`: the schedule's state
 * machine (workflows/medication/schedule-state.ts) driven by a durable timer and by Updates.
 *
 * A dose's path, so that a burst of doses due at 08:00 reaches people at 08:00:
 * 1. sleep until a lead time before the dose (an updatable timer: an edit, pause, resume or zone
 *    change wakes the loop, which recomputes);
 * 2. arm it: one activity on the dose-send queue plans recipients, channels and messages, writes the
 *    notification records, then waits in the worker until the dose instant (heartbeating) and sends
 *    every channel at once. The dose is open for acknowledgement from the moment it is armed;
 * 3. an acknowledgement, edit, pause or deletion before the instant cancels the armed send, and the
 *    send itself checks the schedule's generation in PostgreSQL just before calling a provider, so a
 *    change the user was told about is never overtaken by a send;
 * 4. after the send: bookkeeping, then the dose window (repeat reminder half-way, caregiver alert at
 *    the end), counted from when the reminder actually went out.
 *
 * State lives in one place and every handler mutates it synchronously; writes of the projection to
 * PostgreSQL go through one writer, in order, each carrying the state's revision, and an Update
 * answers only once its change is written. Continue-as-new carries the whole state, open doses
 * included, so a schedule runs for years with short histories.
 *
 * Executions that started under the previous version run it (workflows/medication/legacy-v2.ts)
 * until their next continue-as-new. See docs/workflow-versioning.md.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
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
import type { Activities } from '../activities/index.ts';
import type { MedicationProjection } from '../activities/medication-reminders.ts';
import { scheduleType, type MedicationSchedule } from '../shared/schedule.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';
import { NextDoseAt, ScheduleStatus } from '../shared/search-attributes.ts';
import { deliverNotifications } from './shared/deliver.ts';
import { sleepUntil } from './shared/sleep-until.ts';
import { medicationReminderWorkflowV2 } from './medication/legacy-v2.ts';
import {
  DEFAULT_WINDOW_MINUTES,
  ScheduleStateMachine,
  type CarriedDose,
  type Cursor,
  type OpenDose,
  type ScheduleStateSnapshot,
} from './medication/schedule-state.ts';
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
  resyncProjectionUpdate,
  upcomingDosesQuery,
  type AcknowledgeDoseResult,
  type DoseState,
  type MedicationReminderStatus,
  type ScheduleState,
  type UpdateRejection,
} from './medication-messages.ts';

export * from './medication-messages.ts';

/** Arm a dose this long before it is due when the start did not say (see DOSE_ARM_LEAD_SECONDS). */
export const DEFAULT_ARM_LEAD_SECONDS = 60;

export interface MedicationReminderInput {
  medicationId: string;
  schedule: MedicationSchedule;
  /** Minutes a dose stays open before caregivers are alerted (default 30). */
  escalationWindowMinutes?: number;
  /** How long before a dose it is armed: must cover arming a burst of doses due together. */
  armLeadSeconds?: number;
  // Carried over by continue-as-new (the previous version carried the first five).
  lastDoseAt?: string;
  lastDoseSlot?: string;
  remindersSent?: number;
  state?: ScheduleState;
  recentDoses?: Record<string, DoseState>;
  cursor?: Cursor;
  revision?: number;
  generation?: number;
  intervalAnchorMs?: number;
  openDoses?: CarriedDose[];
}

/**
 * Rejects an Update from its validator. The type tells the API which HTTP status to answer; nothing
 * is written to the history for a rejected Update.
 */
function reject(type: UpdateRejection, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** Bookkeeping in our own database: retried until it succeeds, because it must not be lost. */
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

/** Hand over to a fresh run well before the history grows large. */
const MAX_DOSES_PER_RUN = 100;
const MAX_HISTORY_EVENTS = 5_000;

export async function medicationReminderWorkflow(input: MedicationReminderInput): Promise<MedicationReminderStatus> {
  if (!patched('schedule-state-machine')) return medicationReminderWorkflowV2(input);
  return new MedicationScheduleWorkflow(input).run();
}

class MedicationScheduleWorkflow {
  private readonly medicationId: string;
  private readonly leadMs: number;
  private readonly s: ScheduleStateMachine;
  private nextDoseAt: Date | null = null;
  /** The revision PostgreSQL holds, as far as this run knows. */
  private savedRevision: number;
  /** Doses whose coroutine is inside an activity (cannot be carried to a new run). */
  private busyDoses = 0;
  private readonly sends: Pick<Activities, 'remindDoseAtInstant'>;

  constructor(private readonly input: MedicationReminderInput) {
    this.medicationId = input.medicationId;
    this.leadMs = (input.armLeadSeconds ?? DEFAULT_ARM_LEAD_SECONDS) * 1000;
    const snapshot: ScheduleStateSnapshot = {
      schedule: input.schedule,
      state: input.state ?? 'active',
      windowMinutes: input.escalationWindowMinutes ?? DEFAULT_WINDOW_MINUTES,
      ...(input.lastDoseAt ? { lastDoseAt: input.lastDoseAt } : {}),
      ...(input.lastDoseSlot ? { lastDoseSlot: input.lastDoseSlot } : {}),
      ...(input.cursor ? { cursor: input.cursor } : {}),
      ...(input.remindersSent !== undefined ? { remindersSent: input.remindersSent } : {}),
      ...(input.revision !== undefined ? { revision: input.revision } : {}),
      ...(input.generation !== undefined ? { generation: input.generation } : {}),
      ...(input.intervalAnchorMs !== undefined ? { intervalAnchorMs: input.intervalAnchorMs } : {}),
      ...(input.recentDoses ? { recentDoses: input.recentDoses } : {}),
      ...(input.openDoses ? { openDoses: input.openDoses } : {}),
    };
    this.s = this.firstState(snapshot);
    this.savedRevision = -1; // a new run writes its state once, whatever the last run wrote
    this.sends = proxyActivities<Activities>({
      // The workflow's own queue, whose slots are sized for a burst of armed doses.
      // Waits until the instant, then sends: a crashed worker is noticed within the heartbeat
      // timeout and the dose is retried at once; a provider failure waits the delay the activity
      // sets itself (5 minutes with jitter, or the provider's Retry-After).
      startToCloseTimeout: this.leadMs + 2 * 60_000,
      heartbeatTimeout: '15 seconds',
      retry: RETRY_POLICIES.armedDose,
      cancellationType: ActivityCancellationType.TRY_CANCEL,
    });
  }

  /**
   * A new schedule counts its doses from when it was started, not from when a worker first ran it:
   * a dose that fell due while no worker could (a crash, a backlog) is armed late, not skipped.
   */
  private firstState(snapshot: ScheduleStateSnapshot): ScheduleStateMachine {
    const now = Date.now();
    // The first run of the chain only (a later one carries its cursor); `startTime` is when the
    // execution was started (`runStartTime` is this task's time).
    const { continuedFromExecutionRunId, startTime } = workflowInfo();
    const fresh =
      !continuedFromExecutionRunId && this.input.cursor === undefined && this.input.lastDoseAt === undefined;
    const started = startTime.getTime();
    if (fresh && started < now) {
      const fromStart = new ScheduleStateMachine(snapshot, started);
      const first = fromStart.next(started);
      // Only when it changes what is armed, so histories of runs that started on time replay as before.
      if (first && first.at.getTime() <= now && patched('doses-count-from-start')) return fromStart;
    }
    return new ScheduleStateMachine(snapshot, now);
  }

  // ── Projection ────────────────────────────────────────────────────────────────────────────
  status(): MedicationReminderStatus {
    const { s } = this;
    // An armed dose is still the next one until its reminder has gone out.
    const armed = s.openDoses().find((d) => d.status === 'armed');
    return {
      state: s.state,
      schedule: s.schedule,
      nextDoseAt: armed?.key ?? this.nextDoseAt?.toISOString() ?? null,
      lastDoseAt: s.lastDose?.at.toISOString() ?? null,
      remindersSent: s.remindersSent,
      escalationWindowMinutes: s.windowMs / 60_000,
      openDoses: s.openDoses().map((d) => ({
        doseAt: d.key,
        status: d.status,
        snoozedUntil: d.snoozedUntil === null ? null : new Date(d.snoozedUntil).toISOString(),
        escalatesAt: new Date(s.escalatesAt(d)).toISOString(),
      })),
    };
  }

  private projection(): MedicationProjection {
    const { s } = this;
    const view = this.status();
    return {
      medicationId: this.medicationId,
      revision: s.revision,
      generation: s.generation,
      status: s.state,
      schedule: s.schedule,
      escalationWindowMinutes: s.windowMs / 60_000,
      nextDoseAt: view.nextDoseAt,
      lastDoseAt: view.lastDoseAt,
      remindersSent: s.remindersSent,
      openDoses: view.openDoses,
    };
  }

  /**
   * The one writer of the projection: writes the latest state whenever it is newer than what was
   * written, one write at a time. Writes carry the revision, so even a retried write that lands
   * late cannot overwrite a newer one.
   */
  private async writeProjection(): Promise<never> {
    for (;;) {
      await condition(() => this.savedRevision < this.s.revision);
      const snapshot = this.projection();
      await bookkeeping.saveMedicationProjection(snapshot);
      this.savedRevision = snapshot.revision;
    }
  }

  /** Resolves once PostgreSQL holds the current state (an Update answers only after that). */
  private async written(): Promise<void> {
    const revision = this.s.revision;
    await condition(() => this.savedRevision >= revision);
  }

  private setStatusAttribute(state: ScheduleState | 'cancelled'): void {
    upsertSearchAttributes([{ key: ScheduleStatus, value: state }]);
  }

  // ── Handlers ──────────────────────────────────────────────────────────────────────────────
  private installHandlers(): void {
    const { s } = this;
    setHandler(medicationStatusQuery, () => this.status());
    setHandler(upcomingDosesQuery, ({ fromMs, count }) => {
      if (s.state !== 'active') return [];
      const doses: string[] = [];
      const probe = new ScheduleStateMachine(s.carry(), fromMs);
      probe.cursor = { kind: 'after', ms: Math.max(fromMs, s.lastDose?.at.getTime() ?? fromMs) };
      while (doses.length < Math.min(count, 50)) {
        const next = probe.next(fromMs);
        if (!next) break;
        doses.push(next.at.toISOString());
        probe.cursor = { kind: 'after', ms: next.at.getTime() };
      }
      return doses;
    });

    setHandler(
      acknowledgeDoseUpdate,
      async ({ doseAt, action, snoozeMinutes, memberId }): Promise<AcknowledgeDoseResult> => {
        const key = new Date(doseAt).toISOString();
        const dose = s.open.get(key);
        const late = !dose || dose.closed;
        let snoozedUntil: number | null = null;
        if (dose && !dose.closed && action === 'snoozed') {
          snoozedUntil = Date.now() + (snoozeMinutes ?? 10) * 60_000;
          s.snooze(dose, snoozedUntil);
        } else {
          // Closed before any await: neither the armed send nor the escalation may see it open.
          s.close(key, action as DoseState);
          dose?.cancelSend?.();
        }
        const result = await bookkeeping.recordDoseAcknowledgement({
          medicationId: this.medicationId,
          doseAt: key,
          action,
          memberId,
          snoozedUntil: snoozedUntil === null ? null : new Date(snoozedUntil).toISOString(),
          late,
        });
        await this.written();
        if (result.refillDeliveries.length > 0) await this.deliver(result.refillDeliveries);
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
          const dose = s.open.get(key);
          if (action === 'snoozed') {
            if (!dose || dose.closed || dose.status === 'armed') {
              reject('DoseClosed', `Dose ${key} is not open: only a reminded dose can be snoozed`);
            }
            if (!snoozeMinutes || snoozeMinutes < 1 || snoozeMinutes > MAX_SNOOZE_MINUTES) {
              reject('InvalidRequest', `snoozeMinutes must be between 1 and ${MAX_SNOOZE_MINUTES}`);
            }
            if (dose.snoozes >= MAX_SNOOZES_PER_DOSE) {
              reject('DoseClosed', `Dose ${key} was already snoozed ${MAX_SNOOZES_PER_DOSE} times`);
            }
            return;
          }
          if (dose && !dose.closed) return;
          const past = s.recent.get(key);
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
        await bookkeeping.logAsNeededDose({ medicationId: this.medicationId, memberId, takenAt: at });
        return { takenAt: at };
      },
      {
        validator: ({ takenAt }) => {
          if (scheduleType(s.schedule) !== 'as_needed') {
            reject(
              'NotAsNeeded',
              'Only as-needed medications are logged this way; acknowledge scheduled doses instead',
            );
          }
          if (takenAt !== undefined && Number.isNaN(Date.parse(takenAt)))
            reject('InvalidRequest', 'takenAt is not an instant');
          if (takenAt !== undefined && Date.parse(takenAt) > Date.now() + 60_000) {
            reject('InvalidRequest', 'takenAt is in the future');
          }
        },
      },
    );

    const change = (apply: () => void) => async () => {
      apply();
      this.cancelAbandonedSends();
      await this.written();
      return this.status();
    };
    const changeable = { validator: (..._args: unknown[]) => this.assertChangeable() };

    setHandler(
      changeScheduleUpdate,
      async (c) =>
        change(() =>
          s.edit(
            {
              ...(c.schedule ? { schedule: c.schedule } : {}),
              ...(c.escalationWindowMinutes !== undefined ? { windowMinutes: c.escalationWindowMinutes } : {}),
            },
            Date.now(),
            // Asked only when a late dose is at stake, so other edits replay as they were recorded.
            c.schedule !== undefined && s.dueUnsent(Date.now()).length > 0 && patched('edit-keeps-due-doses'),
          ),
        )(),
      changeable,
    );
    setHandler(
      changeTimezoneUpdate,
      async ({ timezone }) =>
        change(() =>
          s.changeZone(
            timezone,
            Date.now(),
            // Asked only when a dose is due and unanswered, so other zone changes replay as recorded.
            s.dueUnsent(Date.now()).length > 0 && patched('zone-change-keeps-due-doses'),
            // Asked only when the new zone would put an interval schedule's first dose in the past.
            () => patched('zone-change-interval-counts-from-now'),
          ),
        )(),
      changeable,
    );
    setHandler(
      pauseUpdate,
      change(() => {
        if (s.pause()) this.setStatusAttribute('paused');
      }),
      changeable,
    );
    setHandler(resyncProjectionUpdate, async () => {
      s.touch();
      await this.written();
      return this.status();
    });
    setHandler(
      resumeUpdate,
      change(() => {
        if (s.resume(Date.now())) this.setStatusAttribute('active');
      }),
      changeable,
    );
  }

  private assertChangeable(): void {
    if (this.s.state === 'completed')
      reject('ScheduleEnded', 'The schedule has ended; create a new medication instead');
  }

  /** An edit or pause closed the open doses: stop their armed sends now rather than at the fence. */
  private cancelAbandonedSends(): void {
    for (const d of this.doseScopes.keys()) if (d.closed) this.doseScopes.get(d)?.cancel();
  }

  // ── Doses ─────────────────────────────────────────────────────────────────────────────────
  private readonly doseScopes = new Map<OpenDose, CancellationScope>();

  private deliver(dedupeKeys: string[]): Promise<unknown> {
    // On this workflow's own queue, so a burst of doses never waits behind the bulk email limit.
    return deliverNotifications(dedupeKeys, { kind: 'medication', taskQueue: workflowInfo().taskQueue });
  }

  /** One coroutine per armed dose: the send at the instant, then the window. */
  private async runDose(d: OpenDose, armed: boolean): Promise<void> {
    const scope = new CancellationScope();
    this.doseScopes.set(d, scope);
    d.cancelSend = () => scope.cancel();
    try {
      await scope.run(async () => {
        if (armed) {
          this.busyDoses++;
          try {
            if (!(await this.send(d))) return;
          } finally {
            this.busyDoses--;
          }
        }
        await this.escalate(d);
      });
    } catch (err) {
      // The dose was closed or abandoned (our own cancel), or the workflow is being cancelled.
      if (!isCancellation(err)) throw err;
    } finally {
      this.doseScopes.delete(d);
      if (this.s.open.get(d.key) === d && d.closed) this.s.open.delete(d.key);
    }
  }

  /** Arms the send and waits for it; false when nothing went out and the dose needs no window. */
  private async send(d: OpenDose): Promise<boolean> {
    const { s } = this;
    try {
      const outcome = await this.sends.remindDoseAtInstant({
        medicationId: this.medicationId,
        doseAt: d.key,
        generation: d.generation,
      });
      if (outcome.status === 'skipped') {
        log.info('Dose reminder not sent', { medicationId: this.medicationId, doseAt: d.key, reason: outcome.reason });
        if (!d.closed) s.close(d.key, 'reminded');
        return false;
      }
      if (d.closed) return false;
      s.reminded(d, Date.parse(outcome.sentAt));
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Every attempt failed (not the providers: those end in dead letters inside the activity).
      log.error('Armed dose could not be sent', { medicationId: this.medicationId, doseAt: d.key, error: `${err}` });
      await bookkeeping.deadLetterDoseReminder({ medicationId: this.medicationId, doseAt: d.key, error: `${err}` });
      if (d.closed) return false;
      s.reminded(d, Date.now());
    }
    // Off the critical path: the reminder is out, the dose's record follows.
    await bookkeeping.markDoseReminded({ medicationId: this.medicationId, doseAt: d.key });
    return true;
  }

  /**
   * Keeps a reminded dose open: half-way through the window the patient is reminded once more;
   * when the window ends caregivers are alerted and the dose is recorded missed. A snooze moves
   * both: the repeat reminder at the snooze time, the alert half a window after it.
   */
  private async escalate(d: OpenDose): Promise<void> {
    const { s } = this;
    const doseAt = d.key;
    for (;;) {
      const seen = d.version;
      const interrupted = () => d.closed || d.version !== seen;
      if (!d.followUpSent) {
        if (await sleepUntil(s.followUpAt(d), interrupted, 'dose window: repeat reminder')) {
          if (d.closed) return;
          continue;
        }
        this.busyDoses++;
        try {
          const plan = await bookkeeping.planDoseReminder({
            medicationId: this.medicationId,
            doseAt,
            stage: 'follow_up',
            generation: d.generation,
          });
          if (plan.status === 'planned' && !d.closed) await this.deliver(plan.deliveries);
        } finally {
          this.busyDoses--;
        }
        // A snooze during the delivery earned its own repeat reminder: keep it due.
        if (d.version === seen) {
          d.followUpSent = true;
          s.touch();
        }
        continue;
      }
      if (await sleepUntil(s.escalatesAt(d), interrupted, 'dose window: caregiver alert')) {
        if (d.closed) return;
        continue;
      }
      if (d.closed) return;
      s.close(doseAt, 'missed');
      this.busyDoses++;
      try {
        const alerts = await bookkeeping.recordDoseMissed({ medicationId: this.medicationId, doseAt });
        await this.deliver(alerts.deliveries);
      } finally {
        this.busyDoses--;
      }
      return;
    }
  }

  private startDose(d: OpenDose, armed: boolean): void {
    void this.runDose(d, armed);
  }

  // ── Main loop ─────────────────────────────────────────────────────────────────────────────
  private wantsNewRun(doses: number): boolean {
    return (
      doses >= MAX_DOSES_PER_RUN ||
      workflowInfo().continueAsNewSuggested ||
      workflowInfo().historyLength > MAX_HISTORY_EVENTS
    );
  }

  /** Open doses waiting on timers travel with the state; sends and deliveries in flight do not. */
  private readyForNewRun(doses: number): boolean {
    return (
      this.wantsNewRun(doses) && this.busyDoses === 0 && this.savedRevision === this.s.revision && allHandlersFinished()
    );
  }

  private async newRun(): Promise<never> {
    return continueAsNew<typeof medicationReminderWorkflow>({
      medicationId: this.medicationId,
      armLeadSeconds: this.leadMs / 1000,
      ...this.s.carry(),
      escalationWindowMinutes: this.s.windowMs / 60_000,
    });
  }

  private setNextDose(at: Date | null): void {
    if (at?.getTime() === this.nextDoseAt?.getTime()) return;
    this.nextDoseAt = at;
    upsertSearchAttributes([{ key: NextDoseAt, value: at }]);
    this.s.touch();
  }

  async run(): Promise<MedicationReminderStatus> {
    const { s } = this;
    this.installHandlers();
    // Not cancellable: a deleted schedule's final state must still reach the database.
    void CancellationScope.nonCancellable(() => this.writeProjection());
    this.setStatusAttribute(s.state);
    for (const d of s.openDoses()) this.startDose(d, false);
    try {
      await this.loop();
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // Deleted: the Web UI and the database say so, and keep the last dose.
      await CancellationScope.nonCancellable(async () => {
        s.state = 'cancelled';
        this.nextDoseAt = null;
        upsertSearchAttributes([
          { key: NextDoseAt, value: null },
          { key: ScheduleStatus, value: 'cancelled' },
        ]);
        s.touch();
        await this.written();
      });
      throw err;
    }
    // A deletion arriving now must not stop the final state from reaching the database.
    await CancellationScope.nonCancellable(async () => {
      s.state = 'completed';
      this.nextDoseAt = null;
      upsertSearchAttributes([
        { key: NextDoseAt, value: null },
        { key: ScheduleStatus, value: 'completed' },
      ]);
      s.touch();
      await this.written();
    });
    return this.status();
  }

  private async loop(): Promise<void> {
    const { s } = this;
    for (let doses = 0; ;) {
      // Doses an edit or zone change kept (already due, still unsent) go out now, under the new generation.
      for (let dose = s.overdue.shift(); dose; dose = s.overdue.shift()) {
        this.startDose(s.rearm(dose), true);
        doses++;
      }
      if (this.readyForNewRun(doses)) await this.newRun();
      const seen = s.generation;
      const changed = () => s.generation !== seen || this.readyForNewRun(doses);

      if (s.state === 'paused') {
        this.setNextDose(null);
        setCurrentDetails('Paused');
        await condition(changed);
        continue;
      }

      const next = s.next(Date.now());
      if (!next) {
        this.setNextDose(null);
        if (scheduleType(s.schedule) === 'as_needed') {
          setCurrentDetails('As needed: no reminders, doses are logged');
          await condition(changed);
          continue;
        }
        // No dose left: let open doses finish their windows, unless an edit brings new ones.
        setCurrentDetails('Schedule ended: closing the last doses');
        await condition(() => s.generation !== seen || (s.open.size === 0 && allHandlersFinished()));
        if (s.generation !== seen) continue;
        return;
      }
      this.setNextDose(next.at);
      const where = `${next.slot.replace('T', ' ')} ${s.schedule.timezone}`;
      setCurrentDetails(`Next dose ${where} (${next.at.toISOString()}), armed ${this.leadMs / 1000} s ahead`);
      if (await sleepUntil(next.at.getTime() - this.leadMs, changed, `arm dose ${where}`)) continue;

      this.startDose(s.arm(next), true);
      doses++;
    }
  }
}
