/**
 * Test-only workflow interceptor for test/replay.test.ts, bundled into the replay worker through
 * `interceptors.workflowModules`. At the end of every activation it reports the commands that carry
 * state — activities with their input, timers with their duration, search-attribute upserts — to
 * the `replayRecorder` sink (called during replay), so the test can compare them with what the
 * history holds. Temporal's replay matches each command's kind and order, not its arguments: a
 * dose instant computed differently (a new time-zone database) would otherwise replay green.
 */
import type { Payload } from '@temporalio/common';
import { proxySinks, type Sinks, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

export type ReplayedCommand =
  | { kind: 'activity'; seq: number; activityType: string; input: Payload[] }
  | { kind: 'timer'; seq: number; durationMs: number }
  | { kind: 'upsert'; searchAttributes: Record<string, Payload> };

export interface ReplayRecorderSinks extends Sinks {
  replayRecorder: { commands(commands: ReplayedCommand[]): void };
}

const { replayRecorder } = proxySinks<ReplayRecorderSinks>();

/** A protobuf Duration in milliseconds; its seconds are a Long, a number or a string. */
export function durationMs(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  const seconds = d?.seconds as { toNumber?: () => number } | number | string | null | undefined;
  const whole = typeof seconds === 'object' && seconds?.toNumber ? seconds.toNumber() : Number(seconds ?? 0);
  return whole * 1000 + Math.floor((d?.nanos ?? 0) / 1e6);
}

export const interceptors: WorkflowInterceptorsFactory = () => ({
  internals: [
    {
      concludeActivation(input, next) {
        const output = next(input);
        // Scheduled and cancelled in the same activation: Temporal never sends the command, so
        // the history has no event for it.
        const cancelledActivities = new Set<number>();
        const cancelledTimers = new Set<number>();
        for (const c of output.commands) {
          if (c.requestCancelActivity?.seq != null) cancelledActivities.add(c.requestCancelActivity.seq);
          if (c.cancelTimer?.seq != null) cancelledTimers.add(c.cancelTimer.seq);
        }
        const recorded: ReplayedCommand[] = [];
        for (const c of output.commands) {
          const activity = c.scheduleActivity;
          if (activity && !cancelledActivities.has(activity.seq ?? -1)) {
            recorded.push({
              kind: 'activity',
              seq: activity.seq ?? -1,
              activityType: activity.activityType ?? '',
              input: (activity.arguments ?? []) as Payload[],
            });
          }
          const timer = c.startTimer;
          if (timer && !cancelledTimers.has(timer.seq ?? -1)) {
            recorded.push({ kind: 'timer', seq: timer.seq ?? -1, durationMs: durationMs(timer.startToFireTimeout) });
          }
          const fields = c.upsertWorkflowSearchAttributes?.searchAttributes?.indexedFields;
          if (fields) recorded.push({ kind: 'upsert', searchAttributes: fields as Record<string, Payload> });
        }
        if (recorded.length > 0) replayRecorder.commands(recorded);
        return output;
      },
    },
  ],
});
