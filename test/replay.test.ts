/**
 * Replays every recorded history in test/histories against the current workflow code. A change
 * that would break workflows already running in production (a reordered activity call, a new
 * timer before an old one) fails here with a non-determinism error instead of in production.
 *
 * Temporal's replay stops there: it matches each command's kind and order against the history, not
 * its arguments. A workflow that now computes different dose instants — a new time-zone database,
 * a change to the calendar arithmetic in shared/schedule.ts — schedules the same activities with
 * other inputs and replays green, while the running schedules it stands for would change state
 * (open doses keyed by other instants). So this harness also records what the replayed workflow
 * asks for (test/workflows/replay-recorder.ts: activity inputs, timer durations, search-attribute
 * upserts) and compares it with what the history holds, event by event.
 *
 * Record fresh histories from the scenario tests with `npm run test:record-histories`, or fetch one
 * from a running server with `npm run history:fetch -- <workflowId>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, Worker, type InjectedSinks, type WorkflowBundle } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowsPath } from '../workers/build.ts';
import { historiesDir } from './helpers/histories.ts';
import { durationMs, type ReplayedCommand, type ReplayRecorderSinks } from './workflows/replay-recorder.ts';

const recorderPath = fileURLToPath(new URL('./workflows/replay-recorder.ts', import.meta.url));
const files = fs.readdirSync(historiesDir).filter((f) => f.endsWith('.json'));

/** Core's own upsert for `patched()`: not a command of the workflow code. */
const PATCH_ATTRIBUTE = 'TemporalChangeVersion';

interface Recorded {
  eventId: string;
  what: string;
  command: ReplayedCommand;
}

/** The history's events that stand for the commands the recorder reports, in order, by kind. */
function recordedCommands(history: temporal.api.history.v1.IHistory): Recorded[] {
  const out: Recorded[] = [];
  for (const event of history.events ?? []) {
    const eventId = String(event.eventId);
    const activity = event.activityTaskScheduledEventAttributes;
    if (activity) {
      const activityType = activity.activityType?.name ?? '';
      out.push({
        eventId,
        what: `ActivityTaskScheduled ${activityType} (activity id ${activity.activityId})`,
        command: {
          kind: 'activity',
          seq: Number(activity.activityId),
          activityType,
          input: (activity.input?.payloads ?? []) as Payload[],
        },
      });
    }
    const timer = event.timerStartedEventAttributes;
    if (timer) {
      out.push({
        eventId,
        what: `TimerStarted (timer id ${timer.timerId})`,
        command: { kind: 'timer', seq: Number(timer.timerId), durationMs: durationMs(timer.startToFireTimeout) },
      });
    }
    const fields = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
    if (fields) {
      const searchAttributes = Object.fromEntries(
        Object.entries(fields).filter(([key]) => key !== PATCH_ATTRIBUTE),
      ) as Record<string, Payload>;
      if (Object.keys(searchAttributes).length > 0) {
        out.push({ eventId, what: 'UpsertWorkflowSearchAttributes', command: { kind: 'upsert', searchAttributes } });
      }
    }
  }
  return out;
}

/** A payload as the default converter reads it (JSON values; anything else as its bytes). */
function decode(payload: Payload): unknown {
  try {
    return defaultPayloadConverter.fromPayload(payload);
  } catch {
    return { undecodable: Buffer.from(payload.data ?? []).toString('base64') };
  }
}

const show = (value: unknown) => (value === undefined ? 'nothing' : JSON.stringify(value));

interface Difference {
  /** e.g. `input[0].doseAt`, `search attributes.NextDoseAt`, `duration (ms)`. */
  path: string;
  recorded: unknown;
  replayed: unknown;
}

/** Where two decoded values differ, leaf by leaf (at most `limit` per level). */
function differences(path: string, recorded: unknown, replayed: unknown, limit = 5): Difference[] {
  const objects = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
  if (objects(recorded) && objects(replayed) && Array.isArray(recorded) === Array.isArray(replayed)) {
    const keys = [...new Set([...Object.keys(recorded), ...Object.keys(replayed)])];
    const at = (k: string) => (Array.isArray(recorded) ? `${path}[${k}]` : `${path}.${k}`);
    return keys.flatMap((k) => differences(at(k), recorded[k], replayed[k])).slice(0, limit);
  }
  if (JSON.stringify(recorded) === JSON.stringify(replayed)) return [];
  return [{ path, recorded, replayed }];
}

/**
 * Differences between the recorded histories and the current code that were looked at and are
 * meant, each narrowed to the histories, the command and the field it concerns. Anything else
 * fails. Add one only for a change that running workflows may take (docs/workflow-versioning.md).
 */
const KNOWN_DIFFERENCES: {
  histories: RegExp;
  /** The activity type, or `search attributes`. */
  command: string;
  path: string;
  /** Given the difference and the whole replayed value (activity input, or search attributes). */
  accept(d: Difference, replayed: unknown): boolean;
}[] = [
  // The state machine's histories (v3, and the lifecycle scenarios recorded as v2) were recorded
  // before the projection named a dose armed but not yet sent as the next one (status() in
  // workflows/medication-reminder.ts); their writes name the dose after it.
  {
    histories: /^v[23]-medication-/,
    command: 'saveMedicationProjection',
    path: 'input[0].nextDoseAt',
    accept: (d, replayed) =>
      ((replayed as { openDoses?: { doseAt: string; status: string }[] }[])[0]?.openDoses ?? []).some(
        (dose) => dose.status === 'armed' && dose.doseAt === d.replayed,
      ),
  },
  // A completed schedule became searchable by ScheduleStatus after the v1 histories were recorded;
  // a first-version run that completes now says so in its last upsert.
  {
    histories: /^v1-medication-/,
    command: 'search attributes',
    path: 'search attributes.ScheduleStatus',
    accept: (d) => d.recorded === undefined && d.replayed === 'completed',
  },
];

function compareCommand(workflowId: string, recorded: ReplayedCommand, replayed: ReplayedCommand): string[] {
  const known = (command: string, found: Difference[], value: unknown) =>
    found.filter(
      (d) =>
        !KNOWN_DIFFERENCES.some(
          (k) => k.histories.test(workflowId) && k.command === command && k.path === d.path && k.accept(d, value),
        ),
    );
  let found: Difference[];
  if (recorded.kind === 'activity' && replayed.kind === 'activity') {
    if (recorded.activityType !== replayed.activityType) {
      return [`activity type: history has ${recorded.activityType}, replay asks for ${replayed.activityType}`];
    }
    const input = replayed.input.map(decode);
    found = known(replayed.activityType, differences('input', recorded.input.map(decode), input), input);
  } else if (recorded.kind === 'timer' && replayed.kind === 'timer') {
    found = differences('duration (ms)', recorded.durationMs, replayed.durationMs);
  } else if (recorded.kind === 'upsert' && replayed.kind === 'upsert') {
    const values = (fields: Record<string, Payload>) =>
      Object.fromEntries(Object.entries(fields).map(([k, p]) => [k, decode(p)]));
    const attributes = values(replayed.searchAttributes);
    found = known(
      'search attributes',
      differences('search attributes', values(recorded.searchAttributes), attributes),
      attributes,
    );
  } else {
    return [`command: history has ${recorded.kind}, replay asks for ${replayed.kind}`];
  }
  return found.map((d) => `${d.path}: history has ${show(d.recorded)}, replay asks for ${show(d.replayed)}`);
}

const describeReplayed = (c: ReplayedCommand) =>
  c.kind === 'activity'
    ? `activity ${c.activityType} with input ${JSON.stringify(c.input.map(decode))}`
    : c.kind === 'timer'
      ? `a timer of ${c.durationMs} ms`
      : `search attributes ${JSON.stringify(Object.keys(c.searchAttributes))}`;

const { EventType } = temporal.api.enums.v1;

/**
 * A history fetched from a running workflow may end in a workflow task that was not completed:
 * the commands the replay issues for it are not in the history yet.
 */
function endsInOpenTask(history: temporal.api.history.v1.IHistory): boolean {
  const last = history.events?.at(-1)?.eventType;
  return last === EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED || last === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED;
}

/** Every way the replayed workflow's commands differ from the history's, one line each. */
function mismatches(
  workflowId: string,
  history: temporal.api.history.v1.IHistory,
  replayed: ReplayedCommand[],
): string[] {
  const recorded = recordedCommands(history);
  const out: string[] = [];
  for (const kind of ['activity', 'timer', 'upsert'] as const) {
    const inHistory = recorded.filter((r) => r.command.kind === kind);
    const inReplay = replayed.filter((c) => c.kind === kind);
    inHistory.forEach((r, i) => {
      const asked = inReplay[i];
      const where = `${workflowId}: event ${r.eventId} ${r.what}`;
      if (!asked) out.push(`${where}: the replay did not ask for it`);
      else out.push(...compareCommand(workflowId, r.command, asked).map((d) => `${where}: ${d}`));
    });
    for (const extra of endsInOpenTask(history) ? [] : inReplay.slice(inHistory.length)) {
      out.push(`${workflowId}: the replay asks for ${describeReplayed(extra)}, which the history does not hold`);
    }
  }
  return out;
}

interface ReplayOutcome {
  workflowId: string;
  /** What Temporal's replay found (non-determinism); undefined when it replayed. */
  error?: string;
  /** Where the replay asked for other activity inputs, timers or search attributes. */
  mismatches: string[];
}

/** The workflows with the recorder, bundled once for every replay below. */
let bundle: WorkflowBundle;

async function replay(histories: { workflowId: string; history: unknown }[]): Promise<ReplayOutcome[]> {
  const parsed = histories.map((h) => ({ workflowId: h.workflowId, history: historyFromJSON(h.history) }));
  const replayed = new Map<string, ReplayedCommand[]>(parsed.map((h) => [h.workflowId, []]));
  const sinks: InjectedSinks<ReplayRecorderSinks> = {
    replayRecorder: {
      commands: {
        fn: (info, commands) => void replayed.get(info.workflowId)?.push(...commands),
        // Replay is all this sink is for.
        callDuringReplay: true,
      },
    },
  };
  const outcomes: ReplayOutcome[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, sinks }, parsed)) {
    const history = parsed.find((h) => h.workflowId === result.workflowId)!.history;
    outcomes.push({
      workflowId: result.workflowId,
      ...(result.error ? { error: result.error.message } : {}),
      mismatches: mismatches(result.workflowId, history, replayed.get(result.workflowId) ?? []),
    });
  }
  return outcomes;
}

beforeAll(async () => {
  bundle = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [recorderPath] });
}, 120_000);

const readHistory = (file: string) => JSON.parse(fs.readFileSync(path.join(historiesDir, file), 'utf8'));

describe('replay of recorded histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it('replays every history without non-determinism, asking for the same activity inputs, timers and search attributes', async () => {
    const outcomes = await replay(
      files.map((file) => ({ workflowId: path.basename(file, '.json'), history: readHistory(file) })),
    );
    expect(outcomes.map((o) => [o.workflowId, o.error ?? null, o.mismatches])).toEqual(
      files.map((file) => [path.basename(file, '.json'), null, []]),
    );
  });

  it('reports an activity input the replay computes differently, which Temporal alone replays green', async () => {
    // What a time-zone database change does to a running schedule: the recorded reminder is for
    // one instant, the current code arms another.
    const history = readHistory('v3-medication-edit.json');
    const event = history.events.find(
      (e: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }) =>
        e.activityTaskScheduledEventAttributes?.activityType.name === 'remindDoseAtInstant',
    );
    const payload = event.activityTaskScheduledEventAttributes.input.payloads[0];
    const input = JSON.parse(Buffer.from(payload.data, 'base64').toString());
    const moved = new Date(Date.parse(input.doseAt) + 60 * 60_000).toISOString();
    payload.data = Buffer.from(JSON.stringify({ ...input, doseAt: moved })).toString('base64');

    const [outcome] = await replay([{ workflowId: 'v3-medication-edit (doseAt moved an hour)', history }]);
    expect(outcome!.error).toBeUndefined();
    expect(outcome!.mismatches).toEqual([
      `v3-medication-edit (doseAt moved an hour): event ${event.eventId} ActivityTaskScheduled remindDoseAtInstant ` +
        `(activity id ${event.activityTaskScheduledEventAttributes.activityId}): input[0].doseAt: ` +
        `history has "${moved}", replay asks for "${input.doseAt}"`,
    ]);
  });

  it('reports a timer and a search attribute the replay computes differently', async () => {
    const history = readHistory('v3-medication-edit.json');
    type Event = {
      eventId: string;
      timerStartedEventAttributes?: { timerId: string; startToFireTimeout: string };
      upsertWorkflowSearchAttributesEventAttributes?: {
        searchAttributes: { indexedFields: Record<string, { data: string }> };
      };
    };
    const timer = (history.events as Event[]).find((e) => e.timerStartedEventAttributes)!;
    const recordedTimeout = timer.timerStartedEventAttributes!.startToFireTimeout;
    const ms = Math.round(parseFloat(recordedTimeout) * 1000);
    timer.timerStartedEventAttributes!.startToFireTimeout = `${((ms + 3_600_000) / 1000).toFixed(3)}s`;
    const upsert = (history.events as Event[]).find(
      (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes.indexedFields.NextDoseAt,
    )!;
    const nextDoseAt = upsert.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes.indexedFields.NextDoseAt!;
    const recordedAt = JSON.parse(Buffer.from(nextDoseAt.data, 'base64').toString()) as string;
    const movedAt = new Date(Date.parse(recordedAt) + 60 * 60_000).toISOString();
    nextDoseAt.data = Buffer.from(JSON.stringify(movedAt)).toString('base64');

    const [outcome] = await replay([{ workflowId: 'v3-medication-edit (altered)', history }]);
    expect(outcome!.error).toBeUndefined();
    expect(outcome!.mismatches).toEqual([
      `v3-medication-edit (altered): event ${timer.eventId} TimerStarted (timer id ${timer.timerStartedEventAttributes!.timerId}): ` +
        `duration (ms): history has ${ms + 3_600_000}, replay asks for ${ms}`,
      `v3-medication-edit (altered): event ${upsert.eventId} UpsertWorkflowSearchAttributes: ` +
        `search attributes.NextDoseAt: history has "${movedAt}", replay asks for "${recordedAt}"`,
    ]);
  });
});
