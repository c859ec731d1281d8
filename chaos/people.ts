/**
 * Scenario 7, people: simulated users edit, pause, resume, acknowledge and delete recurring
 * schedules through the API while the worker and the Temporal server are SIGKILLed, and a
 * reference model of each schedule's timeline decides, from the user actions actually applied,
 * which reminders were due and which must never have been sent.
 *
 * Each medication is a `times` schedule with a dose every minute of the scenario's window (UTC).
 * Its user acts one step at a time: pause, resume, edit (a new set of the window's minutes),
 * acknowledge the latest dose, delete (last); with `pairs`, also a pause and a resume sent at the
 * same moment, settled by one more resume a few seconds later. A request answered 5xx or not at
 * all is sent again, as an app would, until it gets an answer.
 *
 * The model (see RELIABILITY.md, method):
 * - The state changes when the API acknowledged the step: from the first request until `graceMs`
 *   after the answer the state is unknown (the change may land anywhere in that interval, and a
 *   send already under way may land just after it). After a concurrent pause+resume the state is
 *   unknown until the settling step. A step whose effect cannot be known (4xx after a 5xx, no
 *   answer at all) leaves the state unknown from then on.
 * - A dose instant is scheduled when the state at that instant is known, active, and the schedule
 *   of that moment has a dose then (dose instants come from shared/schedule.ts).
 * - Per dose and channel (push, in-app): a send at a moment the state is known to be paused or
 *   deleted, or any send for an instant that fell in a pause or after the deletion, is a ghost.
 *   A scheduled dose is due; it is delivered, dead-lettered, or lost; if its schedule was paused
 *   or deleted, or the dose acknowledged, before anything was sent, it is withdrawn instead
 *   (either outcome is right then).
 *   A due dose of which no channel was sent nor dead-lettered is silenced. A send for an instant
 *   the schedule of that moment does not have is a reminder for a wrong instant.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { nextDose, type TimesSchedule } from '../shared/schedule.ts';
import type { FakeFcm } from '../test/fakes/fcm-server.ts';
import { parse, sentArtifacts, type ScenarioCount, type Snapshot } from './accounting.ts';
import { api, created, ESCALATION_WINDOW_MINUTES, inBatches, pushTokensFor, type ApiCaller } from './seed.ts';
import type { FakeProviders } from '../test/fakes/provider-server.ts';

export const PEOPLE_CHANNELS = ['push', 'in_app'] as const;
type PeopleChannel = (typeof PEOPLE_CHANNELS)[number];

export interface PeopleOptions {
  name: string;
  medications: number;
  /** Minute-aligned start of the window: a dose every minute from here, for `minutes` minutes. */
  startMs: number;
  minutes: number;
  /** Steps per medication, inclusive range, at random moments of [from, to] (ms). */
  steps: [number, number];
  actWindow: [number, number];
  /** Concurrent pause+resume pairs (each settled by a single resume). */
  pairs: boolean;
  /** Schedule edits and resumes among the steps (without them a pause lasts). */
  edits: boolean;
  resumes: boolean;
  /** How long after an acknowledged step a send may still land (in-flight sends). */
  graceMs: number;
  /** Every n-th patient also has an unregistered push token. */
  deadTokenEvery: number;
  random: () => number;
}

type StepKind = 'pause' | 'resume' | 'edit' | 'ack' | 'delete' | 'pause+resume';
type Status = 'active' | 'paused' | 'deleted' | 'unknown';

interface Step {
  kind: StepKind;
  /** Planned start (ms); a step starts when both this moment and the previous step have passed. */
  plannedAt: number;
  schedule?: TimesSchedule;
  /** The dose an acknowledgement was for. */
  doseAt?: number;
  /** Filled in when it ran. */
  req?: number;
  ack?: number;
  statuses?: number[];
  /** `skipped`: an acknowledgement with no dose to acknowledge yet. */
  outcome?: 'applied' | 'refused' | 'unknown' | 'skipped';
}

interface ModelState {
  status: Status;
  /** undefined: unknown (an edit whose outcome is unknown). */
  schedule: TimesSchedule | undefined;
}

export interface PeopleMedication {
  id: string;
  patientId: string;
  createdAt: number;
  initial: TimesSchedule;
  steps: Step[];
}

export interface PeopleScenario {
  name: string;
  circleId: string;
  opts: PeopleOptions;
  medications: PeopleMedication[];
  deadTokens: string[];
}

export interface PeopleCount extends ScenarioCount {
  /** Due doses paused, deleted or acknowledged before anything was sent: either outcome is right. */
  withdrawn: number;
  /** Dose deliveries whose instant fell where the model cannot know the state (excluded from due). */
  indeterminate: number;
  /** Deliveries correctly never sent: their instant fell in a pause or after the deletion. */
  heldBack: number;
  /** Each step kind: outcome → count; and every HTTP status the users saw. */
  actions: Record<string, Record<string, number>>;
  statusesSeen: Record<string, number>;
  /** The first ghosts, silenced doses and wrong instants, each with its schedule's steps. */
  findings: string[];
}

const utcTime = (ms: number) => new Date(ms).toISOString().slice(11, 16);

function windowTimes(opts: PeopleOptions): string[] {
  return Array.from({ length: opts.minutes }, (_, i) => utcTime(opts.startMs + i * 60_000));
}

function timesSchedule(times: string[]): TimesSchedule {
  return { type: 'times', times: [...new Set(times)].sort(), timezone: 'UTC' };
}

// ── Seeding and the plan ─────────────────────────────────────────────────────────────────────

export async function seedPeople(caller: ApiCaller, opts: PeopleOptions): Promise<PeopleScenario> {
  const circle = await created(caller, '/v1/care-circles', { name: `chaos ${opts.name}` });
  const deadTokens: string[] = [];
  const patientCount = Math.ceil(opts.medications / 2);
  const patients = await inBatches(
    Array.from({ length: patientCount }, (_, i) => i),
    16,
    async (i) => {
      const push = pushTokensFor('people', i, opts.deadTokenEvery);
      if (push.dead) deadTokens.push(push.dead);
      const member = await created(caller, `/v1/care-circles/${circle.id}/members`, {
        name: `Person ${i}`,
        role: 'patient',
        timezone: 'UTC',
        pushTokens: push.tokens,
        channels: [...PEOPLE_CHANNELS],
      });
      return member.id;
    },
  );
  const initial = timesSchedule(windowTimes(opts));
  const medications = await inBatches(
    Array.from({ length: opts.medications }, (_, i) => i),
    16,
    async (i): Promise<PeopleMedication> => {
      const patientId = patients[i % patientCount]!;
      const med = await created(caller, '/v1/medications', {
        careCircleId: circle.id,
        patientId,
        name: `People med ${i}`,
        dosage: '1 tablet',
        schedule: initial,
        escalationWindowMinutes: ESCALATION_WINDOW_MINUTES,
      });
      return { id: med.id, patientId, createdAt: Date.now(), initial, steps: plan(opts) };
    },
  );
  return { name: opts.name, circleId: circle.id, opts, medications, deadTokens };
}

function plan(opts: PeopleOptions): Step[] {
  const r = opts.random;
  const [lo, hi] = opts.steps;
  const n = lo + Math.floor(r() * (hi - lo + 1));
  const [from, to] = opts.actWindow;
  const at = Array.from({ length: n }, () => from + r() * (to - from)).sort((a, b) => a - b);
  const steps: Step[] = [];
  let paused = false;
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    let kind: StepKind;
    const x = r();
    if (last && x < 0.15) kind = 'delete';
    else if (paused) kind = x < 0.7 && opts.resumes ? 'resume' : opts.edits ? 'edit' : 'ack';
    else if (opts.pairs && x < 0.35) kind = 'pause+resume';
    else kind = x < 0.55 ? 'pause' : x < 0.8 && opts.edits ? 'edit' : 'ack';
    if (kind === 'pause') paused = true;
    if (kind === 'resume' || kind === 'pause+resume') paused = false;
    const times = windowTimes(opts).filter(() => r() < 0.5);
    steps.push({
      kind,
      plannedAt: at[i]!,
      ...(kind === 'edit' ? { schedule: timesSchedule(times.length ? times : [utcTime(opts.startMs)]) } : {}),
    });
  }
  return steps;
}

// ── Acting ───────────────────────────────────────────────────────────────────────────────────

/** Sends a request until it gets an answer below 500 (or 2 minutes pass); every status seen, 0 = no answer. */
async function call(caller: ApiCaller, method: string, path: string, body?: unknown): Promise<number[]> {
  const statuses: number[] = [];
  const started = Date.now();
  for (;;) {
    let status = 0;
    try {
      status = (await api(caller, method, path, body, { signal: AbortSignal.timeout(20_000) })).status;
    } catch {
      status = 0;
    }
    statuses.push(status);
    if ((status >= 200 && status < 500) || Date.now() - started > 120_000) return statuses;
    await delay(1_000);
  }
}

function outcomeOf(kind: StepKind, statuses: number[]): Step['outcome'] {
  const last = statuses.at(-1)!;
  if (last >= 200 && last < 300) return 'applied';
  if (last >= 400 && last < 500) {
    if (statuses.length === 1) return 'refused';
    // The first attempt got through although its answer was lost.
    if (kind === 'delete' && last === 404) return 'applied';
  }
  return 'unknown';
}

/** Runs every medication's steps: each medication's in order, all medications at once. */
export async function actPeople(caller: ApiCaller, scenario: PeopleScenario): Promise<void> {
  await Promise.all(
    scenario.medications.map(async (med) => {
      const path = `/v1/medications/${med.id}`;
      for (let i = 0; i < med.steps.length; i++) {
        const step = med.steps[i]!;
        const wait = step.plannedAt - Date.now();
        if (wait > 0) await delay(wait);
        step.req = Date.now();
        if (step.kind === 'pause+resume') {
          const [p, r] = await Promise.all([
            call(caller, 'POST', `${path}/pause`),
            call(caller, 'POST', `${path}/resume`),
          ]);
          step.statuses = [...p, ...r];
          step.ack = Date.now();
          step.outcome =
            outcomeOf('pause', p) === 'applied' && outcomeOf('resume', r) === 'applied' ? 'applied' : 'unknown';
          // The settling step: one resume on its own, as the user who meant "resume" would send.
          med.steps.splice(i + 1, 0, {
            kind: 'resume',
            plannedAt: Date.now() + 2_000 + scenario.opts.random() * 6_000,
          });
          continue;
        }
        if (step.kind === 'ack') {
          const doseAt = latestDose(med, Date.now() - 3_000);
          if (!doseAt) {
            step.statuses = [];
            step.outcome = 'skipped';
          } else {
            step.doseAt = doseAt;
            step.statuses = await call(caller, 'POST', `${path}/doses/acknowledge`, {
              doseAt: new Date(doseAt).toISOString(),
              action: 'taken',
            });
            step.outcome = outcomeOf('ack', step.statuses);
          }
          step.ack = Date.now();
          continue;
        }
        step.statuses =
          step.kind === 'edit'
            ? await call(caller, 'PATCH', path, { schedule: step.schedule })
            : step.kind === 'delete'
              ? await call(caller, 'DELETE', path)
              : await call(caller, 'POST', `${path}/${step.kind}`);
        step.ack = Date.now();
        step.outcome = outcomeOf(step.kind, step.statuses);
        if (step.kind === 'delete' && step.outcome !== 'refused') break;
      }
    }),
  );
}

// ── The model ────────────────────────────────────────────────────────────────────────────────

function after(state: ModelState, step: Step): ModelState {
  if (step.kind === 'ack' || step.outcome === 'refused' || step.outcome === 'skipped' || step.req === undefined) {
    return state;
  }
  if (step.kind === 'pause+resume') return { ...state, status: state.status === 'deleted' ? 'deleted' : 'unknown' };
  if (step.outcome === 'unknown') {
    return step.kind === 'edit' ? { ...state, schedule: undefined } : { ...state, status: 'unknown' };
  }
  switch (step.kind) {
    case 'pause':
      return { ...state, status: 'paused' };
    case 'resume':
      return { ...state, status: 'active' };
    case 'edit':
      return { ...state, schedule: step.schedule };
    case 'delete':
      return { ...state, status: 'deleted' };
  }
}

/** The state at `t`: unknown within a step's interval [request, answer + grace]. */
function stateAt(med: PeopleMedication, t: number, graceMs: number): ModelState {
  if (t < med.createdAt) return { status: 'unknown', schedule: undefined };
  let state: ModelState = { status: 'active', schedule: med.initial };
  for (const step of med.steps) {
    if (step.req === undefined || step.kind === 'ack') continue;
    if (t >= step.req && t <= (step.ack ?? Infinity) + graceMs) return { status: 'unknown', schedule: undefined };
    if ((step.ack ?? Infinity) + graceMs < t) state = after(state, step);
  }
  return state;
}

const hasDoseAt = (schedule: TimesSchedule, at: number) => nextDose(schedule, at - 1)?.at.getTime() === at;

/** The latest dose instant before `t` of the schedule the user believes in (for acknowledging). */
function latestDose(med: PeopleMedication, t: number): number | undefined {
  let schedule = med.initial;
  for (const s of med.steps)
    if (s.kind === 'edit' && s.outcome === 'applied' && (s.ack ?? Infinity) < t) schedule = s.schedule!;
  let latest: number | undefined;
  for (let d = nextDose(schedule, med.createdAt); d && d.at.getTime() < t; d = nextDose(schedule, d.at.getTime())) {
    latest = d.at.getTime();
  }
  return latest;
}

/**
 * Was the dose at `t` withdrawn before its reminder went out: the schedule stopped being active
 * (pause, delete, or an unknown outcome) after `t`, or the dose was acknowledged (taken: no
 * reminder needed any more)?
 */
function withdrawnAfter(med: PeopleMedication, t: number): boolean {
  return med.steps.some(
    (s) =>
      s.req !== undefined &&
      s.outcome !== 'refused' &&
      s.outcome !== 'skipped' &&
      (s.kind === 'ack'
        ? s.doseAt === t
        : (s.ack ?? Infinity) >= t &&
          (s.kind === 'pause' || s.kind === 'delete' || s.kind === 'pause+resume' || s.outcome === 'unknown')),
  );
}

export function countPeople(
  scenario: PeopleScenario,
  snap: Snapshot,
  fake: FakeProviders,
  fcm: FakeFcm,
  endMs: number,
): PeopleCount {
  const grace = scenario.opts.graceMs;
  const meds = new Map(scenario.medications.map((m) => [m.id, m]));
  const slot = (id: string, at: number, ch: string) => `${id}|${at}|${ch}`;
  const sends = new Map<string, number[]>();
  let replacedOnPhone = 0;
  for (const a of sentArtifacts(snap, fake, fcm)) {
    const p = parse(a.key);
    if (!p || !meds.has(p.medicationId)) continue;
    if (a.replacesOnPhone) {
      replacedOnPhone++;
      continue;
    }
    const s = slot(p.medicationId, Date.parse(p.doseAt), a.channel);
    sends.set(s, [...(sends.get(s) ?? []), a.at ?? 0]);
  }
  const deadLettered = new Set<string>();
  for (const d of snap.deadLetters) {
    const p = d.dedupe_key ? parse(d.dedupe_key) : undefined;
    if (p && meds.has(p.medicationId)) deadLettered.add(slot(p.medicationId, Date.parse(p.doseAt), p.channel));
  }
  const pending = new Set<string>();
  for (const r of snap.log) {
    const p = r.status === 'pending' ? parse(r.dedupe_key) : undefined;
    if (p && meds.has(p.medicationId)) pending.add(slot(p.medicationId, Date.parse(p.doseAt), p.channel));
  }

  const out: PeopleCount = {
    name: scenario.name,
    due: 0,
    delivered: 0,
    deadLettered: 0,
    duplicates: 0,
    lost: 0,
    ghosts: 0,
    silenced: 0,
    inFlight: 0,
    perChannel: {
      push: { due: 0, delivered: 0, deadLettered: 0 },
      email: { due: 0, delivered: 0, deadLettered: 0 },
      in_app: { due: 0, delivered: 0, deadLettered: 0 },
    },
    permanentExpected: 0,
    permanentDeadLettered: 0,
    transientDeadLetters: 0,
    deadLetteredButDelivered: 0,
    sentWithoutDelivery: 0,
    wrongInstant: 0,
    replacedOnPhone,
    duplicateList: [],
    workflows: {},
    workflowsNotRunning: [],
    withdrawn: 0,
    indeterminate: 0,
    heldBack: 0,
    actions: {},
    statusesSeen: {},
    findings: [],
  };
  const clock = (ms: number) => new Date(ms).toISOString().slice(11, 21);
  const describe = (med: PeopleMedication) =>
    med.steps
      .map(
        (s) =>
          `${s.kind}${s.kind === 'edit' ? ` ${JSON.stringify(s.schedule?.times)}` : ''} ` +
          `${s.req ? clock(s.req) : '-'}→${s.ack ? clock(s.ack) : '-'} ${JSON.stringify(s.statuses ?? [])} ${s.outcome ?? 'not run'}`,
      )
      .join('; ');
  const finding = (what: string, med: PeopleMedication, at: number, ch?: string, sent: number[] = []) => {
    if (out.findings.length >= 12) return;
    const when = sent.length ? `, sent at ${sent.map(clock).join(', ')}` : '';
    out.findings.push(
      `${what}: medication ${med.id} dose ${clock(at)}${ch ? ` ${ch}` : ''}${when}; created ${clock(med.createdAt)}; steps: ${describe(med) || 'none'}`,
    );
  };

  for (const med of scenario.medications) {
    for (const s of med.steps) {
      const k = (out.actions[s.kind] ??= {});
      const o = s.outcome ?? 'not run';
      k[o] = (k[o] ?? 0) + 1;
      for (const st of s.statuses ?? []) out.statusesSeen[st] = (out.statusesSeen[st] ?? 0) + 1;
    }
    // Every instant any version of the schedule has in the run, and every instant something was sent for.
    const instants = new Set<number>();
    const versions = [med.initial, ...med.steps.flatMap((s) => (s.kind === 'edit' && s.schedule ? [s.schedule] : []))];
    for (const v of versions) {
      for (let d = nextDose(v, med.createdAt); d && d.at.getTime() <= endMs; d = nextDose(v, d.at.getTime())) {
        instants.add(d.at.getTime());
      }
    }
    for (const key of sends.keys()) if (key.startsWith(`${med.id}|`)) instants.add(Number(key.split('|')[1]));

    for (const at of [...instants].sort((a, b) => a - b)) {
      const state = stateAt(med, at, grace);
      let lostChannels = 0;
      for (const ch of PEOPLE_CHANNELS) {
        const key = slot(med.id, at, ch);
        const sent = sends.get(key) ?? [];
        const blocked = sent.filter((t) => {
          const st = stateAt(med, t, grace).status;
          return st === 'paused' || st === 'deleted';
        });
        if (state.status === 'paused' || state.status === 'deleted') {
          if (sent.length) {
            out.ghosts++;
            finding(`ghost (instant ${state.status})`, med, at, ch, sent);
          } else out.heldBack++;
          continue;
        }
        if (blocked.length) {
          out.ghosts++;
          finding('ghost (sent while paused or deleted)', med, at, ch, sent);
          continue;
        }
        if (state.status === 'unknown' || !state.schedule) {
          out.indeterminate++;
          continue;
        }
        if (!hasDoseAt(state.schedule, at)) {
          if (sent.length) {
            out.wrongInstant++;
            finding('wrong instant', med, at, ch, sent);
          }
          continue;
        }
        const c = out.perChannel[ch as PeopleChannel];
        if (sent.length) {
          out.due++;
          c.due++;
          out.delivered++;
          c.delivered++;
          out.duplicates += sent.length - 1;
          if (sent.length > 1) finding('duplicate', med, at, ch, sent);
          if (deadLettered.has(key)) out.deadLetteredButDelivered++;
        } else if (deadLettered.has(key)) {
          out.due++;
          c.due++;
          out.deadLettered++;
          c.deadLettered++;
        } else if (withdrawnAfter(med, at)) {
          out.withdrawn++;
        } else {
          out.due++;
          c.due++;
          out.lost++;
          lostChannels++;
          if (pending.has(key)) out.inFlight++;
          finding(pending.has(key) ? 'not yet sent (pending)' : 'lost', med, at, ch);
        }
      }
      if (lostChannels === PEOPLE_CHANNELS.length) {
        out.silenced++;
        finding('silenced', med, at);
      }
    }
  }
  return out;
}
