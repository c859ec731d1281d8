/**
 * Model-based tests of a medication schedule's whole life on the time-skipping server: fast-check
 * draws sequences of edits, pauses, resumes, zone changes, acknowledgements, as-needed logs,
 * deletions and time passing (some sent as concurrent pairs, some at a dose's arm or instant) and
 * the reference model (test/helpers/medication-model.ts) says which reminders must and may go out.
 *
 * After each sequence:
 * - every reminder the model requires went out exactly once, and none it does not allow;
 * - nothing went out while the schedule was paused or deleted. The stub send returns at once, so
 *   the database's fence is emulated from the projections the workflow wrote: a dose armed under
 *   generation g goes out only if the projection written before its instant still says g and
 *   active (a newer generation, or g but paused or cancelled, stops it), as activities/dose-sends.ts
 *   does;
 * - no repeat reminder or caregiver alert for a dose after it was taken, skipped or abandoned, and
 *   the repeat reminder every accepted snooze asked for;
 * - the last projection written equals the workflow's status query (database equals workflow);
 * - the current run's history is within the continue-as-new bounds.
 *
 * MODEL_LEGACY=1 runs the same property against the workflow as it was before the schedule state
 * machine (its writes unversioned, applied in whatever order they finish), to show what it finds.
 * MODEL_RUNS sets the number of sequences (100 by default, 1,000 with `npm run test:model`); MODEL_SEED and MODEL_PATH replay a counterexample;
 * MODEL_TRACE=1 prints each step as it runs.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import fc from 'fast-check';
import { DateTime } from 'luxon';
import { beforeAll, describe, it } from 'vitest';
import type { DosePlan } from '../activities/index.ts';
import type { MedicationSchedule } from '../shared/schedule.ts';
import {
  acknowledgeDoseUpdate,
  changeScheduleUpdate,
  changeTimezoneUpdate,
  logAsNeededDoseUpdate,
  medicationReminderWorkflow,
  medicationStatusQuery,
  pauseUpdate,
  resumeUpdate,
  type MedicationReminderStatus,
} from '../workflows/index.ts';
import { workflowsPath } from '../workers/build.ts';
import { BOUNDARY_MS, ScheduleModel, type ModelChange } from './helpers/medication-model.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { createWorker, mockActivities, testWorkflowsPath, workflowBundle } from './helpers/workers.ts';

const RUNS = Number(process.env.MODEL_RUNS ?? 100);
const LEGACY = process.env.MODEL_LEGACY === '1';
/** Handover bounds of the workflow (workflows/medication-reminder.ts), with room for the last steps. */
const HISTORY_BOUND = 5_000 + 500;

// ── Recording stand-ins, one record per medication (one worker serves every sequence) ─────────

interface Projection {
  revision: number;
  generation: number;
  status: string;
  at: number;
  [k: string]: unknown;
}
interface MedRecord {
  arms: { doseAt: string; at: number; generation: number }[];
  followUps: { doseAt: string; at: number; generation: number | undefined }[];
  missed: { doseAt: string; at: number }[];
  projections: Projection[];
}
const records = new Map<string, MedRecord>();
const recordOf = (medicationId: string) => {
  let r = records.get(medicationId);
  if (!r) records.set(medicationId, (r = { arms: [], followUps: [], missed: [], projections: [] }));
  return r;
};
const clock = () => Context.current().info.scheduledTimestampMs;

/** The send at the instant: recorded, and fenced by the projection PostgreSQL holds then. */
function sendNow(i: { medicationId: string; doseAt: string; generation: number }, atMs: number) {
  const r = recordOf(i.medicationId);
  r.arms.push({ doseAt: i.doseAt, at: atMs, generation: i.generation });
  if (!passes(heldAt(r.projections, atMs, true), i.generation))
    return { status: 'skipped' as const, reason: 'generation_changed' };
  return { status: 'sent' as const, sentAt: new Date(atMs).toISOString(), deadLettered: 0 };
}

let legacyWrites = 0;
/** A write of the previous version: status only, revision = the order writes finish in. */
function legacyWrite(medicationId: string, status: string | undefined, at = clock()) {
  const r = recordOf(medicationId);
  const held = heldAt(r.projections, Infinity, true);
  r.projections.push({ revision: ++legacyWrites, generation: 0, status: status ?? held?.status ?? 'active', at });
}

const activities = mockActivities({
  /**
   * Like the real send, waits for the instant and sends then, unless the database's fence says no.
   * The first attempt asks to be retried at the instant, so the wait is a server timer that the
   * test server skips and that a change in the lead window cancels, as it cancels the real send.
   */
  async remindDoseAtInstant(i: { medicationId: string; doseAt: string; generation: number }) {
    const { attempt } = Context.current().info;
    const instant = Date.parse(i.doseAt);
    const armedAt = clock();
    if (attempt === 1 && armedAt < instant) {
      throw ApplicationFailure.create({
        message: 'waiting for the instant',
        nextRetryDelay: instant - armedAt,
        category: ApplicationFailureCategory.BENIGN,
      });
    }
    // The test server reports a retry's scheduled time as when it was decided: this is the instant.
    return sendNow(i, Math.max(instant, armedAt));
  },
  async saveMedicationProjection(i: { medicationId: string; revision: number; generation: number; status: string }) {
    recordOf(i.medicationId).projections.push({ ...i, at: clock() });
    return { applied: true };
  },
  async planDoseReminder(i: { medicationId: string; doseAt: string; stage?: string; generation?: number }) {
    const r = recordOf(i.medicationId);
    if (i.stage === 'follow_up') r.followUps.push({ doseAt: i.doseAt, at: clock(), generation: i.generation });
    else r.arms.push({ doseAt: i.doseAt, at: clock(), generation: i.generation ?? 0 });
    return { status: 'planned', deliveries: [] } satisfies DosePlan;
  },
  /** The previous version's unversioned writes: the last to finish wins, as in PostgreSQL. */
  async saveMedicationState(i: { medicationId: string; status?: string }) {
    await new Promise((r) => setTimeout(r, Math.random() * Number(process.env.MODEL_WRITE_JITTER_MS ?? 250)));
    legacyWrite(i.medicationId, i.status);
  },
  async completeMedication(i: { medicationId: string }) {
    legacyWrite(i.medicationId, 'completed');
  },
  async recordDoseMissed(i: { medicationId: string; doseAt: string }) {
    recordOf(i.medicationId).missed.push({ doseAt: i.doseAt, at: clock() });
    return { deliveries: [] };
  },
  async recordDoseAcknowledgement() {
    return { refillDeliveries: [] };
  },
  async deliverNotification() {
    return { status: 'sent' as const, providerMessageId: 'x' };
  },
  async deadLetterDoseReminder() {},
  async markDoseReminded() {},
  async logAsNeededDose() {},
  async recordDeadLetter() {},
});

// ── The database's fence, emulated from the projections ──────────────────────────────────────

/** The projection PostgreSQL held just before (or at) `ms`: writes apply only if newer. */
function heldAt(projections: Projection[], ms: number, inclusive: boolean): Projection | undefined {
  let held: Projection | undefined;
  for (const p of projections) {
    if (p.at > ms || (!inclusive && p.at === ms)) continue;
    if (!held || p.revision > held.revision) held = p;
  }
  return held;
}
const passes = (p: Projection | undefined, generation: number | undefined) =>
  !p || generation === undefined || p.generation < generation || (p.generation === generation && p.status === 'active');
/** 'yes', 'no', or 'maybe' when a write landed in the very same instant. */
function fence(projections: Projection[], atMs: number, generation: number | undefined): 'yes' | 'no' | 'maybe' {
  const before = passes(heldAt(projections, atMs, false), generation);
  const upTo = passes(heldAt(projections, atMs, true), generation);
  return before === upTo ? (before ? 'yes' : 'no') : 'maybe';
}

// ── Commands ──────────────────────────────────────────────────────────────────────────────────

type Handle = WorkflowHandle<typeof medicationReminderWorkflow>;
interface Real {
  env: TestWorkflowEnvironment;
  handle: Handle;
  medicationId: string;
  log: string[];
}
const trace = (line: string) => {
  if (process.env.MODEL_TRACE) process.stderr.write(`${line}\n`);
};

const ZONES = ['UTC', 'America/New_York', 'Europe/Paris', 'Asia/Kolkata', 'Pacific/Auckland'] as const;
const halfHours = Array.from(
  { length: 48 },
  (_, i) => `${String(Math.floor(i / 2)).padStart(2, '0')}:${i % 2 ? '30' : '00'}`,
);

type ScheduleSpec =
  | { type: 'times'; times: string[]; zone: string; endDays: number | null }
  | { type: 'interval'; everyHours: number; first: string; zone: string }
  | { type: 'once'; inHalfHours: number; zone: string }
  | { type: 'as_needed'; zone: string };

const zoneArb = fc.constantFrom(...ZONES);
const scheduleSpecArb: fc.Arbitrary<ScheduleSpec> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('times' as const),
      times: fc.uniqueArray(fc.constantFrom(...halfHours), { minLength: 1, maxLength: 3 }),
      zone: zoneArb,
      endDays: fc.option(fc.integer({ min: 0, max: 3 })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('interval' as const),
      everyHours: fc.constantFrom(4, 6, 8, 12, 24),
      first: fc.constantFrom(...halfHours),
      zone: zoneArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('once' as const),
      inHalfHours: fc.integer({ min: 1, max: 96 }),
      zone: zoneArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('as_needed' as const), zone: zoneArb }) },
);

function buildSchedule(spec: ScheduleSpec, nowMs: number): MedicationSchedule {
  const local = DateTime.fromMillis(nowMs, { zone: spec.zone });
  switch (spec.type) {
    case 'times':
      return {
        times: spec.times,
        timezone: spec.zone,
        ...(spec.endDays !== null ? { endDate: local.plus({ days: spec.endDays }).toISODate()! } : {}),
      };
    case 'interval':
      return {
        type: 'interval',
        everyHours: spec.everyHours,
        firstDoseTime: spec.first,
        startDate: local.toISODate()!,
        timezone: spec.zone,
      };
    case 'once': {
      const at = local.startOf('hour').plus({ minutes: 30 * spec.inHalfHours });
      return { type: 'once', at: at.toFormat("yyyy-MM-dd'T'HH:mm"), timezone: spec.zone };
    }
    case 'as_needed':
      return { type: 'as_needed', timezone: spec.zone };
  }
}

/** A change the user makes; acknowledgements pick one of the workflow's open doses. */
type Action =
  | { kind: 'edit'; spec: ScheduleSpec }
  | { kind: 'window'; minutes: number }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'zone'; zone: string }
  | { kind: 'ack'; action: 'taken' | 'skipped' | 'snoozed'; pick: number; snoozeMinutes: number }
  | { kind: 'prn' };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('edit' as const), spec: scheduleSpecArb }),
  fc.record({ kind: fc.constant('window' as const), minutes: fc.constantFrom(10, 30, 90, 240) }),
  fc.constant({ kind: 'pause' as const }),
  fc.constant({ kind: 'resume' as const }),
  fc.record({ kind: fc.constant('zone' as const), zone: zoneArb }),
  fc.record({
    kind: fc.constant('ack' as const),
    action: fc.constantFrom('taken' as const, 'skipped' as const, 'snoozed' as const),
    pick: fc.nat(3),
    snoozeMinutes: fc.constantFrom(5, 20, 60),
  }),
  fc.constant({ kind: 'prn' as const }),
);

const describeAction = (a: Action) => JSON.stringify(a);

/** A hung Update or sleep fails the sequence (so it shrinks) instead of the whole file. */
async function withinSeconds<T>(seconds: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const rejected = (e: unknown) => (e instanceof WorkflowUpdateFailedError ? (e.cause?.message ?? '') : String(e));
const ended = (msg: string) => /ended|already completed|not found|ScheduleEnded|closed/i.test(msg);

/** Sends one action; resolves to what the model must apply once the order of a pair is known. */
async function send(
  a: Action,
  real: Real,
  m: ScheduleModel,
  /** Sent together with another action: which schedule an as-needed log meets is not known. */
  concurrent = false,
): Promise<{
  change?: ModelChange;
  ack?: { key: string; action: string; snoozedUntil: string | null };
  error?: string;
}> {
  const { handle } = real;
  try {
    switch (a.kind) {
      case 'edit': {
        const schedule = buildSchedule(a.spec, m.now);
        await handle.executeUpdate(changeScheduleUpdate, { args: [{ schedule }] });
        return { change: { kind: 'edit', schedule } };
      }
      case 'window':
        await handle.executeUpdate(changeScheduleUpdate, { args: [{ escalationWindowMinutes: a.minutes }] });
        return { change: { kind: 'window', windowMinutes: a.minutes } };
      case 'pause':
        await handle.executeUpdate(pauseUpdate);
        return { change: { kind: 'pause' } };
      case 'resume':
        await handle.executeUpdate(resumeUpdate);
        return { change: { kind: 'resume' } };
      case 'zone':
        await handle.executeUpdate(changeTimezoneUpdate, { args: [{ timezone: a.zone }] });
        return { change: { kind: 'zone', timezone: a.zone } };
      case 'prn': {
        await handle.executeUpdate(logAsNeededDoseUpdate, { args: [{ memberId: 'patient' }] });
        if (m.schedule.type !== 'as_needed' && !concurrent)
          return { error: 'PRN log accepted for a scheduled medication' };
        return {};
      }
      case 'ack': {
        // An armed dose can be taken or skipped before its instant; only a reminded one can be snoozed.
        const open = (await handle.query(medicationStatusQuery)).openDoses.filter(
          (d) => a.action !== 'snoozed' || d.status !== 'armed',
        );
        if (open.length === 0) return {};
        const key = open[a.pick % open.length]!.doseAt;
        const r = await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [
            {
              doseAt: key,
              action: a.action,
              memberId: 'patient',
              ...(a.action === 'snoozed' ? { snoozeMinutes: a.snoozeMinutes } : {}),
            },
          ],
        });
        return { ack: { key, action: a.action, snoozedUntil: r.snoozedUntil } };
      }
    }
  } catch (e) {
    const msg = rejected(e);
    if (a.kind === 'prn' && /as-needed/i.test(msg) && (m.schedule.type !== 'as_needed' || concurrent)) return {};
    if (a.kind === 'ack' && /not open|already|snoozed .* times/i.test(msg)) return {};
    // The armed dose it picked was moved by the change sent with it (an edit or zone change).
    if (a.kind === 'ack' && concurrent && /not due yet/i.test(msg)) return {};
    if (ended(msg)) return { error: `ended:${msg}` };
    return { error: `${describeAction(a)} failed: ${msg}` };
  }
}

function applyAck(
  m: ScheduleModel,
  ack: { key: string; action: string; snoozedUntil: string | null },
  t0: number,
  t1: number,
) {
  // A dose armed a lead time ahead is open for acknowledgement before its instant.
  if (!m.expected.has(ack.key) && Date.parse(ack.key) > t0 - BOUNDARY_MS) m.expected.set(ack.key, 'may');
  if (!m.expected.has(ack.key)) throw new Error(`workflow had dose ${ack.key} open, which the model never made due`);
  if (ack.action === 'snoozed') m.snoozes.push({ key: ack.key, until: Date.parse(ack.snoozedUntil!), madeAt: t0 });
  else if (!m.closedAt.has(ack.key) || m.closedAt.get(ack.key)! > t1 + BOUNDARY_MS)
    m.closedAt.set(ack.key, t1 + BOUNDARY_MS);
  // Taken before its instant: the reminder need not go out, and the schedule counts on from it.
  if (Date.parse(ack.key) > t0 - BOUNDARY_MS && ack.action !== 'snoozed') {
    m.expected.set(ack.key, 'may');
    m.closeEarly(ack.key);
  }
}

/** An ended schedule refuses changes: only right if the model has no dose left either. */
function applyEnded(m: ScheduleModel, error: string): void {
  if (!m.ended() && m.state !== 'completed') throw new Error(`refused although the schedule has doses left: ${error}`);
  m.state = 'completed';
}

class Act implements fc.AsyncCommand<ScheduleModel, Real> {
  constructor(readonly actions: Action[]) {}
  check(m: Readonly<ScheduleModel>) {
    return m.state !== 'cancelled';
  }
  async run(m: ScheduleModel, real: Real): Promise<void> {
    const t0 = await real.env.currentTimeMs();
    m.advance(t0 - BOUNDARY_MS);
    trace(`${real.medicationId} ${this.toString()}`);
    const results = await withinSeconds(
      20,
      Promise.all(this.actions.map((a) => send(a, real, m, this.actions.length > 1))),
      this.toString(),
    );
    const t1 = await real.env.currentTimeMs();
    real.log.push(`${new Date(t0).toISOString()} ${this.toString()}`);
    for (const r of results) {
      if (r.error?.startsWith('ended:')) applyEnded(m, r.error);
      else if (r.error) throw new Error(r.error);
    }
    if (m.state === 'completed') return;
    const changes = results.flatMap((r) => (r.change ? [r.change] : []));
    // Concurrent changes: the workflow applied them in some order; its state tells which.
    const orders = changes.length === 2 ? [changes, [changes[1]!, changes[0]!]] : [changes];
    const status = await real.handle.query(medicationStatusQuery);
    // And a dose of the old schedule inside the change's moment came before it or after it: the
    // workflow's next dose tells which when both explain its state.
    const variants = orders.flatMap((order) => [true, false].map((first) => ({ order, first })));
    const candidates: ScheduleModel[] = [];
    for (const { order, first } of variants) {
      const c = m.clone();
      for (const change of order) c.apply(change, t0, t1, first);
      for (const r of results) if (r.ack) applyAck(c, r.ack, t0, t1);
      const sameState = c.state === status.state || (status.state === 'completed' && c.ended());
      if (sameState && JSON.stringify(c.schedule) === JSON.stringify(status.schedule)) candidates.push(c);
    }
    const next = status.nextDoseAt === null ? null : Date.parse(status.nextDoseAt);
    const chosen = candidates.find((c) => c.state !== 'active' || c.nextDoseAt() === next) ?? candidates[0];
    if (!chosen) {
      throw new Error(
        `no order of ${JSON.stringify(changes)} explains the workflow's ${status.state} ${JSON.stringify(status.schedule)} (acks ${JSON.stringify(results.map((r) => r.ack ?? null))})`,
      );
    }
    Object.assign(m, chosen);
  }
  toString() {
    return this.actions.length === 1
      ? describeAction(this.actions[0]!)
      : `together(${this.actions.map(describeAction).join(', ')})`;
  }
}

class Advance implements fc.AsyncCommand<ScheduleModel, Real> {
  /** `minutes` of time passing, or (with `toDose`) to the next dose instant plus `offsetSeconds`. */
  constructor(
    readonly minutes: number,
    readonly toDose: boolean,
    readonly offsetSeconds: number,
  ) {}
  check() {
    return true;
  }
  async run(m: ScheduleModel, real: Real): Promise<void> {
    const now = await real.env.currentTimeMs();
    let ms = this.minutes * 60_000;
    if (this.toDose) {
      const next = m.nextDoseAt();
      if (next === null || next + this.offsetSeconds * 1000 <= now) return;
      ms = next + this.offsetSeconds * 1000 - now;
    }
    trace(`${real.medicationId} sleep ${ms}`);
    await withinSeconds(60, real.env.sleep(ms), this.toString());
    const t = await real.env.currentTimeMs();
    real.log.push(`${new Date(now).toISOString()} ${this.toString()} → ${new Date(t).toISOString()}`);
    m.advance(t);
  }
  toString() {
    return this.toDose ? `advanceToNextDose(${this.offsetSeconds}s)` : `advance(${this.minutes} min)`;
  }
}

class Delete implements fc.AsyncCommand<ScheduleModel, Real> {
  check(m: Readonly<ScheduleModel>) {
    return m.state !== 'cancelled';
  }
  async run(m: ScheduleModel, real: Real): Promise<void> {
    const t0 = await real.env.currentTimeMs();
    trace(`${real.medicationId} delete`);
    // The previous version's API marked the row cancelled itself before cancelling the workflow.
    if (LEGACY) legacyWrite(real.medicationId, 'cancelled', t0);
    const before = await stop(real.handle);
    const t1 = await real.env.currentTimeMs();
    real.log.push(`${new Date(t0).toISOString()} delete (${before})`);
    // A schedule with no dose left may finish on its own while the deletion arrives.
    const after = (await real.handle.describe()).status.name;
    if (before === 'COMPLETED' || after === 'COMPLETED') applyEnded(m, 'deleted after it ended');
    else m.delete(t0, t1);
  }
  toString() {
    return 'delete';
  }
}

const commandsArb = fc.commands(
  [
    actionArb.map((a) => new Act([a])),
    fc.tuple(actionArb, actionArb).map(([a, b]) => new Act([a, b])),
    fc.integer({ min: 1, max: 3 * 24 * 60 }).map((min) => new Advance(min, false, 0)),
    // Never the very instant a timer or send of the workflow fires (-60, the arm instant; 0, the
    // dose instant, where the stand-in send answers; 600, the end of a 10-minute window): there Java's
    // time-skipping server rejects a workflow task that accepts an Update and cancels a timer or an
    // activity in the same moment ("invalid history builder state for action", "ACTIVITY_UNKNOWN"),
    // and the Update never answers. The real server takes it: test/armed-dose.test.ts changes
    // schedules at the arm moment and in the lead window on the Temporal CLI dev server.
    fc.constantFrom(-61, -59, -30, -1, 1, 599, 601).map((s) => new Advance(0, true, s)),
    // MODEL_NO_DELETE=1 leaves deletions out, to look past a finding every deletion shows.
    ...(process.env.MODEL_NO_DELETE === '1' ? [] : [fc.constant(new Delete())]),
  ],
  { maxCommands: 10 },
);

// ── Checks after a sequence ──────────────────────────────────────────────────────────────────

async function settle(real: Real): Promise<{ status: MedicationReminderStatus | null; last: Projection | undefined }> {
  const rec = recordOf(real.medicationId);
  const now = await real.env.currentTimeMs();
  for (let i = 0; ; i++) {
    const status = await real.handle.query(medicationStatusQuery).catch(() => null);
    const last = heldAt(rec.projections, Infinity, true);
    // A send due by now that has not answered yet (its retry at the instant is still on its way).
    const busy = status?.openDoses.some((d) => d.status === 'armed' && Date.parse(d.doseAt) <= now);
    if (!status || (!busy && last && last.revision >= 0 && sameState(status, last)) || i >= 60) return { status, last };
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stateOf(p: MedicationReminderStatus | Projection) {
  const { state, status, schedule, nextDoseAt, lastDoseAt, remindersSent, escalationWindowMinutes, openDoses } =
    p as Record<string, unknown>;
  return {
    state: state ?? status,
    schedule,
    nextDoseAt,
    lastDoseAt,
    remindersSent,
    escalationWindowMinutes,
    openDoses,
  };
}
/** The previous version wrote only the status (and schedule): compare what it wrote. */
const sameState = (a: MedicationReminderStatus, b: Projection) =>
  LEGACY ? stateOf(a).state === stateOf(b).state : JSON.stringify(stateOf(a)) === JSON.stringify(stateOf(b));

function verify(m: ScheduleModel, real: Real, projections: Projection[]): string[] {
  const rec = recordOf(real.medicationId);
  const problems: string[] = [];
  const sent = new Map<string, { yes: number; maybe: number }>();
  for (const a of rec.arms) {
    const at = Math.max(Date.parse(a.doseAt), a.at);
    if (at > m.now) continue; // armed for an instant still to come
    const f = fence(projections, at, a.generation);
    const s = sent.get(a.doseAt) ?? { yes: 0, maybe: 0 };
    if (f === 'yes') s.yes++;
    if (f === 'maybe') s.maybe++;
    sent.set(a.doseAt, s);
    if (f === 'yes' && m.inactiveAt(at))
      problems.push(`reminder ${a.doseAt} sent at ${new Date(at).toISOString()} while paused or deleted`);
  }
  for (const [key, kind] of m.expected) {
    const s = sent.get(key);
    if (kind === 'must' && (!s || s.yes + s.maybe === 0)) problems.push(`reminder ${key} never sent`);
  }
  for (const [key, s] of sent) {
    if (s.yes > 1) problems.push(`reminder ${key} sent ${s.yes} times`);
    if (s.yes > 0 && !m.expected.has(key)) problems.push(`reminder ${key} sent but not due`);
  }
  for (const f of rec.followUps) {
    const closed = m.closedAt.get(f.doseAt);
    if (closed !== undefined && f.at > closed && f.at <= m.now && fence(projections, f.at, f.generation) === 'yes') {
      problems.push(`repeat reminder of ${f.doseAt} at ${new Date(f.at).toISOString()} after it was closed`);
    }
  }
  for (const x of rec.missed) {
    const closed = m.closedAt.get(x.doseAt);
    const held = heldAt(projections, x.at, false);
    if (closed !== undefined && x.at > closed && held?.status === 'active') {
      problems.push(`caregiver alert for ${x.doseAt} at ${new Date(x.at).toISOString()} after it was closed`);
    }
  }
  for (const s of m.snoozes) {
    const later = m.snoozes.some((o) => o.key === s.key && o.madeAt > s.madeAt && o.madeAt <= s.until);
    const closed = m.closedAt.get(s.key);
    if (later || (closed !== undefined && closed <= s.until + BOUNDARY_MS) || m.now <= s.until + BOUNDARY_MS) continue;
    if (!rec.followUps.some((f) => f.doseAt === s.key && Math.abs(f.at - s.until) <= BOUNDARY_MS)) {
      problems.push(`snoozed dose ${s.key} got no repeat reminder at ${new Date(s.until).toISOString()}`);
    }
  }
  return problems;
}

const modelWorkflows = LEGACY ? testWorkflowsPath('legacy-medication') : workflowsPath;
let sequence = 0;

beforeAll(async () => {
  await workflowBundle(modelWorkflows);
});

async function stop(handle: Handle): Promise<string> {
  const before = (await handle.describe()).status.name;
  if (before === 'RUNNING') await handle.cancel().catch(() => {});
  // Waits without unlocking the test server's clock (result() would skip time).
  for (let i = 0; i < 250 && (await handle.describe()).status.name === 'RUNNING'; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return before;
}

/** Runs one drawn sequence; throws with the sequence's log when a check fails. */
async function runSequence(
  spec: ScheduleSpec,
  windowMinutes: number,
  cmds: Iterable<fc.AsyncCommand<ScheduleModel, Real>>,
) {
  // A test server per sequence (about 0.3 s): the time-skipping server keeps its clock locked for an
  // activity whose workflow was cancelled while it ran, which would stall the next sequence.
  const env = await createTimeSkippingEnv();
  try {
    const worker = await createWorker(env, { taskQueue, workflows: modelWorkflows, activities });
    await worker.runUntil(sequenceOn(env, spec, windowMinutes, cmds));
  } finally {
    await env.teardown();
  }
}

const taskQueue = 'medication-model';

async function sequenceOn(
  env: TestWorkflowEnvironment,
  spec: ScheduleSpec,
  windowMinutes: number,
  cmds: Iterable<fc.AsyncCommand<ScheduleModel, Real>>,
) {
  const n = ++sequence;
  const medicationId = `model-${n}`;
  const start = await env.currentTimeMs();
  const schedule = buildSchedule(spec, start);
  const handle = await env.client.workflow.start(medicationReminderWorkflow, {
    workflowId: `medication:${medicationId}`,
    taskQueue,
    args: [{ medicationId, schedule, escalationWindowMinutes: windowMinutes }],
  });
  trace(`${medicationId} start ${new Date(start).toISOString()} ${JSON.stringify(schedule)}`);
  const real: Real = { env, handle, medicationId, log: [`start ${JSON.stringify(schedule)} window ${windowMinutes}`] };
  const m = new ScheduleModel(schedule, windowMinutes, start - BOUNDARY_MS);
  try {
    await fc.asyncModelRun(() => ({ model: m, real }), cmds);
    // One more second, so that a dose due at the very end has been handled before it is checked.
    await withinSeconds(60, env.sleep(BOUNDARY_MS), 'the last second');
    const now = await env.currentTimeMs();
    m.advance(now);
    const { status, last } = await settle(real);
    const problems = verify(m, real, recordOf(medicationId).projections);
    if (status && last && !sameState(status, last)) {
      problems.push(
        `database ${JSON.stringify(stateOf(last))} differs from workflow ${JSON.stringify(stateOf(status))}`,
      );
    }
    if (m.state === 'cancelled' && (last?.status !== 'cancelled' || status?.state !== 'cancelled'))
      problems.push(`deleted schedule's projection says ${last?.status}`);
    const events = (await handle.fetchHistory()).events?.length ?? 0;
    if (events > HISTORY_BOUND) problems.push(`history of the current run has ${events} events`);
    if (problems.length > 0) throw new Error(`${problems.join('\n')}\n--- sequence ---\n${real.log.join('\n')}`);
  } finally {
    // Cancelled, not terminated: a termination in the middle of a workflow task leaves the test
    // server's clock locked for the next sequence.
    await stop(handle);
    records.delete(medicationId);
  }
}

/**
 * An Update that never answers is run once more on a fresh test server: Java's time-skipping server
 * now and then drops one whose workflow task lands in the same moment as a timer, a send or the
 * schedule's end (see commandsArb; not reproducible on a second run). The re-run is reported; a
 * sequence that hangs twice fails.
 */
async function runSequenceOnce(
  spec: ScheduleSpec,
  windowMinutes: number,
  cmds: Iterable<fc.AsyncCommand<ScheduleModel, Real>>,
) {
  try {
    await runSequence(spec, windowMinutes, cmds);
  } catch (err) {
    if (!/did not finish within/.test(String(err))) throw err;
    process.stderr.write(`medication model: re-running a sequence whose Update did not answer: ${String(err)}\n`);
    await runSequence(spec, windowMinutes, cmds);
  }
}

/**
 * 100 sequences in `npm test` (about two minutes); `npm run test:model` runs 1,000. Not drawn: an
 * Update at the arm instant itself (see commandsArb).
 */
describe('medication schedule against its reference model', () => {
  it(`keeps every reminder the model requires, once, and nothing else (${RUNS} sequences)`, async () => {
    await fc.assert(
      fc.asyncProperty(scheduleSpecArb, fc.constantFrom(10, 30, 90), commandsArb, (spec, w, cmds) =>
        runSequenceOnce(spec, w, cmds),
      ),
      {
        numRuns: RUNS,
        ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED) } : {}),
        ...(process.env.MODEL_PATH ? { path: process.env.MODEL_PATH } : {}),
        endOnFailure: false,
      },
    );
  }, 1_800_000);
});

/** Shrunk counterexamples, kept as they were drawn. */
describe('regressions found by the model', () => {
  it('a deletion arriving while a schedule with no dose left completes: the database says what the workflow says', async () => {
    // The completion's final write was cancelled with the workflow: the database kept "active".
    await runSequence({ type: 'times', times: ['00:00'], zone: 'UTC', endDays: 0 }, 10, [
      new Delete(),
      new Advance(0, true, -61),
    ]);
  });

  it('a once dose taken before its instant ends the schedule, and the model agrees', async () => {
    // Found in the model, not the workflow: a dose armed ahead is open for acknowledgement, and the
    // last one taken early leaves nothing to wait for.
    await runSequence({ type: 'once', inHalfHours: 1, zone: 'UTC' }, 10, [
      new Advance(0, true, -1),
      new Act([{ kind: 'prn' }, { kind: 'ack', action: 'taken', pick: 0, snoozeMinutes: 5 }]),
    ]);
  });

  it('a zone change in the lead window keeps the dose: it goes out at its instant under the new generation', async () => {
    // The stand-in used to answer when the dose was armed; the fence at the instant then said the
    // zone change had superseded it, and nothing had re-armed the dose the workflow thought sent.
    await runSequence({ type: 'times', times: ['00:00'], zone: 'UTC', endDays: null }, 10, [
      new Advance(0, true, -30),
      new Act([{ kind: 'prn' }, { kind: 'zone', zone: 'UTC' }]),
      new Advance(1, false, 0),
      new Delete(),
    ]);
  });

  it('an armed dose taken while a zone change moves it: the tap is refused as not due, nothing else changes', async () => {
    await runSequence({ type: 'times', times: ['00:00'], zone: 'UTC', endDays: null }, 10, [
      new Advance(0, true, -1),
      new Act([
        { kind: 'zone', zone: 'Pacific/Auckland' },
        { kind: 'ack', action: 'taken', pick: 0, snoozeMinutes: 5 },
      ]),
    ]);
  });

  it('an interval dose armed when the zone changes is armed again and followed up as usual', async () => {
    // Found in the model: it closed every dose due around the change, also one the new state sends.
    await runSequence({ type: 'interval', everyHours: 4, first: '00:00', zone: 'UTC' }, 10, [
      new Advance(0, true, -1),
      new Act([{ kind: 'zone', zone: 'UTC' }]),
      new Advance(5, false, 0),
    ]);
  });

  it('pause and resume sent together, then days pass: every dose reminded, the database says what the workflow says', async () => {
    // Against the previous version (MODEL_LEGACY=1) the pause's write landed after the resume's:
    // the database said paused while the workflow ran on, and every later dose was dropped.
    await runSequence({ type: 'times', times: ['00:00'], zone: 'UTC', endDays: null }, 10, [
      new Act([{ kind: 'resume' }, { kind: 'pause' }]),
      new Advance(3974, false, 0),
    ]);
  });

  it('an interval schedule whose first dose is armed when the zone changes starts the new grid from now, not in the past', async () => {
    // Found once the stand-in waited for the instant: the change rewound the armed first dose to the
    // start, and the new zone's grid put a dose between the start and now, reminded at once.
    await runSequence({ type: 'interval', everyHours: 4, first: '00:00', zone: 'UTC' }, 10, [
      new Advance(0, true, -1),
      new Act([{ kind: 'resume' }, { kind: 'zone', zone: 'Europe/Paris' }]),
      new Act([{ kind: 'ack', action: 'taken', pick: 0, snoozeMinutes: 5 }, { kind: 'prn' }]),
    ]);
  });

  it('an interval dose armed when the zone changes a second before it: the model tries the dose before and after the change', async () => {
    await runSequence({ type: 'interval', everyHours: 4, first: '00:00', zone: 'UTC' }, 10, [
      new Advance(0, true, -1),
      new Act([{ kind: 'zone', zone: 'Asia/Kolkata' }]),
      new Advance(0, true, -61),
      new Act([{ kind: 'prn' }]),
    ]);
  });

  it('a zone change and a tap in the lead window of the last dose end the schedule', async () => {
    await runSequence({ type: 'times', times: ['00:00', '05:30'], zone: 'UTC', endDays: 1 }, 10, [
      new Advance(0, true, 1),
      new Advance(0, true, -30),
      new Act([
        { kind: 'zone', zone: 'UTC' },
        { kind: 'ack', action: 'taken', pick: 0, snoozeMinutes: 20 },
      ]),
    ]);
  });
});
