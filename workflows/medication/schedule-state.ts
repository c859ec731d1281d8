/**
 * The state of one medication schedule, as its workflow owns it: what the schedule is, whether it
 * runs, where the next dose is counted from, which doses are open for acknowledgement, and the two
 * counters that keep the database in step with it.
 *
 * Pure and deterministic (no Temporal calls): the workflow drives it and the model-based tests can
 * reason about it. Every mutation happens synchronously inside a handler or the main loop, before
 * any await, so concurrent Updates see each other's effects in the order the workflow accepted them.
 *
 * - `revision` grows with every change the database must see. Each write of the projection carries
 *   it, and PostgreSQL applies a write only if it is newer than what it holds, so a late or retried
 *   write never overwrites a newer one.
 * - `generation` grows with every change that makes an armed dose obsolete (edit, pause, resume,
 *   zone change). A dose armed under generation g is sent only while the database still says g:
 *   whatever the user changed after arming wins, without racing on a status read.
 */
import {
  nextDose,
  nextDoseAfterSlot,
  scheduleType,
  type Dose,
  type MedicationSchedule,
} from '../../shared/schedule.ts';
import { LATE_LOGGING_DAYS, type DoseState, type ScheduleState } from '../medication-messages.ts';

export const DEFAULT_WINDOW_MINUTES = 30;
const MAX_RECENT_DOSES = 200;

/**
 * Where the next dose is counted from: after an instant, or by calendar slot after a zone change.
 * A slot cursor keeps a floor when the schedule had moved past its last dose (a resume, an edit):
 * slots at or before it stay skipped, so a zone change never brings back the doses of a pause.
 */
export type Cursor = { kind: 'after'; ms: number } | { kind: 'slot'; floorMs?: number };

/** A dose whose reminder is armed or sent and that nobody has confirmed yet. */
export interface OpenDose {
  /** ISO instant of the scheduled dose: the key of acknowledgements. */
  key: string;
  dose: Dose;
  /** The generation the dose was armed under. */
  generation: number;
  status: 'armed' | 'reminded' | 'snoozed';
  /** When the reminder went out (escalation counts from here), null while armed. */
  remindedAt: number | null;
  snoozedUntil: number | null;
  snoozes: number;
  followUpSent: boolean;
  /** Bumped by every snooze, so the escalation timers restart from the new time. */
  version: number;
  /** Closed by an acknowledgement, or abandoned by an edit or pause. */
  closed: boolean;
  /** Stops the dose's armed send (set by the workflow while one may be in flight). */
  cancelSend?: () => void;
  /** The last dose and cursor before this one was armed: restored if it is abandoned unsent. */
  before?: { lastDose: Dose | null; cursor: Cursor };
}

/** What a new run needs of an open dose that waits for acknowledgement (continue-as-new). */
export interface CarriedDose {
  at: string;
  slot: string;
  generation: number;
  status: 'reminded' | 'snoozed';
  remindedAt: number;
  snoozedUntil: number | null;
  snoozes: number;
  followUpSent: boolean;
}

export interface ScheduleStateSnapshot {
  schedule: MedicationSchedule;
  state: ScheduleState;
  windowMinutes: number;
  lastDoseAt?: string;
  lastDoseSlot?: string;
  cursor?: Cursor;
  remindersSent?: number;
  revision?: number;
  generation?: number;
  intervalAnchorMs?: number;
  recentDoses?: Record<string, DoseState>;
  openDoses?: CarriedDose[];
}

export class ScheduleStateMachine {
  schedule: MedicationSchedule;
  state: ScheduleState;
  windowMs: number;
  lastDose: Dose | null;
  cursor: Cursor;
  remindersSent: number;
  revision: number;
  generation: number;
  /** An interval schedule's rhythm after a zone change: the last dose's instant. */
  intervalAnchorMs: number | undefined;
  readonly open = new Map<string, OpenDose>();
  readonly recent: Map<string, DoseState>;
  /** Doses already due when an edit came, still unsent: armed again under the new generation. */
  readonly overdue: Dose[] = [];

  constructor(s: ScheduleStateSnapshot, nowMs: number) {
    this.schedule = s.schedule;
    this.state = s.state;
    this.windowMs = s.windowMinutes * 60_000;
    this.lastDose = s.lastDoseAt ? { at: new Date(s.lastDoseAt), slot: s.lastDoseSlot ?? s.lastDoseAt } : null;
    this.cursor = s.cursor ?? { kind: 'after', ms: this.lastDose ? this.lastDose.at.getTime() : nowMs };
    this.remindersSent = s.remindersSent ?? 0;
    this.revision = s.revision ?? 0;
    this.generation = s.generation ?? 0;
    this.intervalAnchorMs = s.intervalAnchorMs;
    this.recent = new Map(Object.entries(s.recentDoses ?? {}));
    for (const c of s.openDoses ?? []) {
      const dose = { at: new Date(c.at), slot: c.slot };
      this.open.set(c.at, {
        key: c.at,
        dose,
        generation: c.generation,
        status: c.status,
        remindedAt: c.remindedAt,
        snoozedUntil: c.snoozedUntil,
        snoozes: c.snoozes,
        followUpSent: c.followUpSent,
        version: 0,
        closed: false,
      });
    }
  }

  /** A change the database must see. */
  touch(): void {
    this.revision++;
  }

  /**
   * A dose armed but not yet sent has not happened: before a change, the schedule counts from
   * before it again, so the changed schedule arms it afresh if it still has a dose at that time (an
   * edit a few seconds before 08:00 that keeps 08:00 must not silence it).
   */
  private rewindUnsent(afterMs = Number.NEGATIVE_INFINITY): void {
    const unsent = [...this.open.values()].filter(
      (d) => !d.closed && d.status === 'armed' && d.before && d.dose.at.getTime() > afterMs,
    );
    unsent.sort((a, b) => a.dose.at.getTime() - b.dose.at.getTime());
    const earliest = unsent[0];
    if (!earliest?.before) return;
    this.lastDose = earliest.before.lastDose;
    this.cursor = earliest.before.cursor;
    for (const d of unsent) this.recent.delete(d.key);
  }

  /** A change that makes armed doses obsolete: they are abandoned and the loop recomputes. */
  private supersede(): void {
    this.generation++;
    for (const d of this.open.values()) d.closed = true;
    this.touch();
  }

  /** The next dose by the current cursor, or null when the schedule has none left. */
  next(nowMs: number): Dose | null {
    if (this.cursor.kind === 'slot') {
      const floor = this.cursor.floorMs ?? Number.NEGATIVE_INFINITY;
      let dose = nextDoseAfterSlot(this.schedule, this.lastDose, nowMs);
      // At most a few days of slots lie between the last dose and the floor (a pause).
      for (let skipped = 0; dose && dose.at.getTime() <= floor && skipped < 10_000; skipped++) {
        dose = nextDoseAfterSlot(this.schedule, dose, nowMs);
      }
      return dose;
    }
    return nextDose(this.schedule, this.cursor.ms, this.intervalAnchorMs);
  }

  /** The dose is armed: it counts as handled, and the next one is counted after it. */
  arm(dose: Dose): OpenDose {
    const before = { lastDose: this.lastDose, cursor: this.cursor };
    this.lastDose = dose;
    this.cursor = { kind: 'after', ms: dose.at.getTime() };
    const key = dose.at.toISOString();
    const d: OpenDose = {
      key,
      dose,
      generation: this.generation,
      status: 'armed',
      remindedAt: null,
      snoozedUntil: null,
      snoozes: 0,
      followUpSent: false,
      version: 0,
      closed: false,
      before,
    };
    this.open.set(key, d);
    this.remember(key, 'reminded');
    this.touch();
    return d;
  }

  reminded(d: OpenDose, atMs: number): void {
    d.status = 'reminded';
    d.remindedAt = atMs;
    this.remindersSent++;
    this.touch();
  }

  /** When the repeat reminder is due: the snooze's end, else half a window after the reminder. */
  followUpAt(d: OpenDose): number {
    return d.snoozedUntil ?? (d.remindedAt ?? d.dose.at.getTime()) + this.windowMs / 2;
  }

  /** When caregivers are alerted: half a window after a snooze, else a window after the reminder. */
  escalatesAt(d: OpenDose): number {
    if (d.snoozedUntil !== null) return d.snoozedUntil + this.windowMs / 2;
    return (d.remindedAt ?? d.dose.at.getTime()) + this.windowMs;
  }

  snooze(d: OpenDose, untilMs: number): void {
    d.status = 'snoozed';
    d.snoozedUntil = untilMs;
    d.snoozes++;
    d.version++;
    d.followUpSent = false;
    this.touch();
  }

  /** Taken or skipped (or missed): the dose leaves the open set. */
  close(key: string, state: DoseState): void {
    const d = this.open.get(key);
    if (d) d.closed = true;
    this.open.delete(key);
    this.remember(key, state);
    this.touch();
  }

  /** Armed doses whose instant has passed and whose reminder has not gone out (a late send). */
  dueUnsent(nowMs: number): OpenDose[] {
    return this.openDoses().filter((d) => d.status === 'armed' && d.dose.at.getTime() <= nowMs);
  }

  /**
   * Doses of the new schedule count from now: a change never sends a backlog of reminders. With
   * `keepDue`, a dose that was already due under the old schedule and is still unsent (its send
   * is late) is not dropped: it fell due before the change, so it is sent all the same.
   */
  edit(change: { schedule?: MedicationSchedule; windowMinutes?: number }, nowMs: number, keepDue = false): void {
    const due = keepDue && change.schedule ? this.dueUnsent(nowMs).map((d) => d.dose) : [];
    if (change.schedule) {
      this.rewindUnsent();
      this.schedule = change.schedule;
      this.intervalAnchorMs = undefined;
      this.cursor = { kind: 'after', ms: Math.max(nowMs, this.lastDose?.at.getTime() ?? 0) };
    }
    if (change.windowMinutes !== undefined) this.windowMs = change.windowMinutes * 60_000;
    if (change.schedule) this.supersede();
    else this.touch();
    // The rewind forgot them and the cursor stays at now: only these doses come back.
    this.overdue.push(...due);
  }

  /** Arms a dose kept by an edit, under the current generation, without moving the cursor. */
  rearm(dose: Dose): OpenDose {
    const cursor = this.cursor;
    const d = this.arm(dose);
    this.cursor = cursor;
    return d;
  }

  /**
   * With `keepDue`, a dose whose instant has passed keeps its place although its send has not
   * answered yet: it may already be out, so its slot is not counted again in the new zone (that
   * would remind the same 08:00 twice, at two instants). It is armed again at its own instant
   * under the new generation, where the outbox sends it only if it is not out yet.
   */
  changeZone(timezone: string, nowMs: number, keepDue = false, intervalFromNow: () => boolean = () => false): void {
    const due = keepDue ? this.dueUnsent(nowMs).map((d) => d.dose) : [];
    this.rewindUnsent(keepDue ? nowMs : Number.NEGATIVE_INFINITY);
    this.schedule = { ...this.schedule, timezone } as MedicationSchedule;
    if (scheduleType(this.schedule) === 'interval') {
      // Elapsed-time doses keep their rhythm wherever the patient is: the next one is a whole
      // number of intervals after the last, whatever the new zone makes of the start date.
      if (this.lastDose) this.intervalAnchorMs = this.lastDose.at.getTime();
      else if (this.cursor.kind === 'after' && this.cursor.ms < nowMs) {
        // No dose yet: the new zone's grid counts from now. Counted from the start it could put a
        // first dose in the past, reminded at once (`intervalFromNow` asks the workflow's patch).
        const first = nextDose(this.schedule, this.cursor.ms, this.intervalAnchorMs);
        if (first && first.at.getTime() <= nowMs && intervalFromNow()) this.cursor = { kind: 'after', ms: nowMs };
      }
    } else {
      const floorMs =
        this.cursor.kind === 'slot'
          ? this.cursor.floorMs
          : this.lastDose && this.cursor.ms > this.lastDose.at.getTime()
            ? this.cursor.ms
            : undefined;
      this.cursor = this.lastDose
        ? { kind: 'slot', ...(floorMs !== undefined ? { floorMs } : {}) }
        : { kind: 'after', ms: nowMs };
    }
    this.supersede();
    this.overdue.push(...due);
  }

  pause(): boolean {
    if (this.state !== 'active') return false;
    this.rewindUnsent();
    this.state = 'paused';
    this.supersede();
    return true;
  }

  /** Doses that fell inside the pause are not caught up. */
  resume(nowMs: number): boolean {
    if (this.state !== 'paused') return false;
    this.state = 'active';
    this.cursor = { kind: 'after', ms: Math.max(nowMs, this.lastDose?.at.getTime() ?? 0) };
    this.supersede();
    return true;
  }

  remember(key: string, state: DoseState): void {
    this.recent.delete(key);
    this.recent.set(key, state);
    const horizon = (this.lastDose?.at.getTime() ?? 0) - LATE_LOGGING_DAYS * 86_400_000;
    for (const [at] of this.recent) {
      if (this.recent.size <= MAX_RECENT_DOSES && Date.parse(at) >= horizon) break;
      this.recent.delete(at);
    }
  }

  openDoses(): OpenDose[] {
    return [...this.open.values()].filter((d) => !d.closed);
  }

  /** What a new run starts from (continue-as-new). Only doses waiting on timers are carried. */
  carry(): ScheduleStateSnapshot {
    return {
      schedule: this.schedule,
      state: this.state,
      windowMinutes: this.windowMs / 60_000,
      ...(this.lastDose ? { lastDoseAt: this.lastDose.at.toISOString(), lastDoseSlot: this.lastDose.slot } : {}),
      cursor: this.cursor,
      remindersSent: this.remindersSent,
      revision: this.revision,
      generation: this.generation,
      ...(this.intervalAnchorMs !== undefined ? { intervalAnchorMs: this.intervalAnchorMs } : {}),
      recentDoses: Object.fromEntries(this.recent),
      openDoses: this.openDoses()
        .filter((d) => d.status !== 'armed' && d.remindedAt !== null)
        .map((d) => ({
          at: d.key,
          slot: d.dose.slot,
          generation: d.generation,
          status: d.status as 'reminded' | 'snoozed',
          remindedAt: d.remindedAt!,
          snoozedUntil: d.snoozedUntil,
          snoozes: d.snoozes,
          followUpSent: d.followUpSent,
        })),
    };
  }
}
