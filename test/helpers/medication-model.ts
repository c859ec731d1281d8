/**
 * A small pure reference model of one medication schedule's lifecycle, for the model-based tests
 * (test/medication-model.test.ts): which dose reminders must go out, and which may (a dose whose
 * instant falls within the moment a change was being applied: the workflow may decide either way).
 *
 * It knows nothing of arming, lead times, activities, projections or continue-as-new: only the
 * rules a patient would state. A dose is due at its instant while the schedule is active; a change
 * (edit, pause, resume, zone change, deletion) counts from the moment it is made; doses inside a
 * pause are not caught up; a zone change moves clock-time doses by calendar slot (never a slot
 * twice, never one skipped, a slot already past in the new zone is due at once) and keeps an
 * interval schedule's rhythm. Calendar arithmetic is shared/schedule.ts's (it has its own tests).
 */
import {
  nextDose,
  nextDoseAfterSlot,
  scheduleType,
  type Dose,
  type MedicationSchedule,
} from '../../shared/schedule.ts';

/** How far a change's moment may be from the clock readings around it (the server's clock runs). */
export const BOUNDARY_MS = 1_000;

export type ModelState = 'active' | 'paused' | 'completed' | 'cancelled';

export interface ModelChange {
  kind: 'edit' | 'window' | 'pause' | 'resume' | 'zone';
  schedule?: MedicationSchedule;
  windowMinutes?: number;
  timezone?: string;
}

export class ScheduleModel {
  now: number;
  state: ModelState = 'active';
  schedule: MedicationSchedule;
  windowMinutes: number;
  /** The last dose that fell due while the schedule was active. */
  lastDose: Dose | null = null;
  /** Doses count strictly after this instant (a start, edit or resume); null: by slot after lastDose. */
  floorMs: number | null;
  /** By calendar slot after the last dose, never at or before `floorMs` (a zone change). */
  bySlot = false;
  /** An interval schedule's rhythm once a zone change pinned it to the last dose. */
  anchorMs: number | undefined;
  /** Dose instant (ISO) → must or may be reminded. */
  readonly expected = new Map<string, 'must' | 'may'>();
  /** When the schedule stopped being active for good or for a while: [from, to) windows. */
  readonly inactive: { from: number; to: number }[] = [];
  /** Dose instant → when it was closed for good (taken, skipped, abandoned by a change or deletion). */
  readonly closedAt = new Map<string, number>();
  /** Snoozes that were accepted: a repeat reminder is owed at `until` unless the dose closes first. */
  readonly snoozes: { key: string; until: number; madeAt: number }[] = [];

  constructor(schedule: MedicationSchedule, windowMinutes: number, startMs: number) {
    this.schedule = schedule;
    this.windowMinutes = windowMinutes;
    this.now = startMs;
    this.floorMs = startMs;
  }

  clone(): ScheduleModel {
    const c = Object.create(ScheduleModel.prototype) as ScheduleModel;
    Object.assign(c, this);
    const fields = c as unknown as Record<string, unknown>;
    fields.expected = new Map(this.expected);
    fields.closedAt = new Map(this.closedAt);
    fields.inactive = this.inactive.map((w) => ({ ...w }));
    fields.snoozes = [...this.snoozes];
    return c;
  }

  private next(): Dose | null {
    if (this.bySlot) {
      let d = nextDoseAfterSlot(this.schedule, this.lastDose, this.now);
      // Slots at or before the moment the schedule last started counting again are not caught up.
      while (d && this.floorMs !== null && d.at.getTime() <= this.floorMs) {
        d = nextDoseAfterSlot(this.schedule, d, this.now);
      }
      return d;
    }
    const after = Math.max(this.floorMs ?? -Infinity, this.lastDose?.at.getTime() ?? -Infinity);
    return nextDose(this.schedule, after, this.anchorMs);
  }

  /** The next dose instant, if the schedule is active and has one. */
  nextDoseAt(): number | null {
    return this.state === 'active' ? (this.next()?.at.getTime() ?? null) : null;
  }

  /**
   * A dose taken or skipped before its instant (the workflow arms it ahead and opens it for
   * acknowledgement): the schedule counts on from it, as if it had fallen due.
   */
  closeEarly(key: string): void {
    const d = this.next();
    if (this.state !== 'active' || d?.at.toISOString() !== key) return;
    this.lastDose = d;
    this.bySlot = false;
    this.floorMs = null;
  }

  /** True when the schedule has no dose left (the workflow may end once its open doses close). */
  ended(): boolean {
    return this.state === 'active' && scheduleType(this.schedule) !== 'as_needed' && this.next() === null;
  }

  /**
   * Time passes to `toMs`: every dose due by then is reminded. Doses at or after `mayFrom` are only
   * allowed (they fall inside the moment of a change).
   */
  advance(toMs: number, mayFrom = Infinity): void {
    while (this.state === 'active') {
      const d = this.next();
      if (!d || d.at.getTime() > toMs) break;
      const key = d.at.toISOString();
      const kind = d.at.getTime() >= mayFrom ? 'may' : 'must';
      if (this.expected.get(key) !== 'must') this.expected.set(key, kind);
      this.lastDose = d;
      // A slot already past in the new zone is due at once; from there on, instants count.
      this.bySlot = false;
      this.floorMs = null;
    }
    this.now = Math.max(this.now, toMs);
  }

  /**
   * A change made at some moment in [t0, t1] (the clock readings before and after it was sent).
   * Doses of the old schedule due in that span may have gone out; doses the new one has there may
   * too; from t1 on, the new one decides.
   */
  apply(change: ModelChange, t0: number, t1: number, doseInMomentFirst = true): void {
    this.advance(t0 - BOUNDARY_MS);
    const before = { lastDose: this.lastDose, bySlot: this.bySlot, floorMs: this.floorMs };
    this.advance(t1 + BOUNDARY_MS, t0 - BOUNDARY_MS);
    // A dose of the old schedule inside the change's moment may have come before the change or
    // after it (then the change met it armed and unsent): the caller tries both.
    if (!doseInMomentFirst) Object.assign(this, before);
    const at = t0 - BOUNDARY_MS;
    // Doses due before the change are abandoned by it; one due inside the change's moment may as well
    // have fallen after it, in the new state (armed again and reminded), so it is left open.
    const abandon = () => {
      for (const key of this.expected.keys())
        if (!this.closedAt.has(key) && Date.parse(key) < at) this.closedAt.set(key, t1 + BOUNDARY_MS);
    };
    switch (change.kind) {
      case 'window':
        this.windowMinutes = change.windowMinutes!;
        break;
      case 'edit':
        this.schedule = change.schedule!;
        if (change.windowMinutes !== undefined) this.windowMinutes = change.windowMinutes;
        this.anchorMs = undefined;
        this.bySlot = false;
        this.floorMs = at;
        abandon();
        break;
      case 'pause':
        if (this.state !== 'active') return;
        this.state = 'paused';
        this.inactive.push({ from: t1 + BOUNDARY_MS, to: Infinity });
        abandon();
        break;
      case 'resume':
        if (this.state !== 'paused') return;
        this.state = 'active';
        this.inactive.at(-1)!.to = t0 - BOUNDARY_MS;
        this.bySlot = false;
        this.floorMs = at;
        abandon();
        break;
      case 'zone':
        this.schedule = { ...this.schedule, timezone: change.timezone! } as MedicationSchedule;
        if (scheduleType(this.schedule) === 'interval') {
          if (this.lastDose) this.anchorMs = this.lastDose.at.getTime();
        } else if (this.lastDose && scheduleType(this.schedule) !== 'as_needed') {
          // By slot after the last dose, but never a slot the schedule had stopped counting.
          this.bySlot = true;
          if (this.floorMs !== null && this.floorMs <= this.lastDose.at.getTime()) this.floorMs = null;
        } else {
          this.bySlot = false;
          this.floorMs = at;
        }
        abandon();
        break;
    }
    // Doses the new state has inside the change's moment may go out.
    const keep = this.now;
    this.now = t0 - BOUNDARY_MS;
    this.advance(t1 + BOUNDARY_MS, -Infinity);
    this.now = Math.max(keep, this.now);
  }

  /** Deleted at some moment in [t0, t1]. */
  delete(t0: number, t1: number): void {
    this.advance(t0 - BOUNDARY_MS);
    this.advance(t1 + BOUNDARY_MS, t0 - BOUNDARY_MS);
    if (this.state === 'active') this.inactive.push({ from: t1 + BOUNDARY_MS, to: Infinity });
    for (const key of this.expected.keys()) if (!this.closedAt.has(key)) this.closedAt.set(key, t1 + BOUNDARY_MS);
    this.state = 'cancelled';
  }

  /** Was the schedule certainly inactive (paused or deleted) at `ms`? */
  inactiveAt(ms: number): boolean {
    return this.inactive.some((w) => ms >= w.from && ms < w.to);
  }
}
