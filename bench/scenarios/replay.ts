/**
 * Replay: how long a worker takes to rebuild a year-long schedule from its history (after a cache
 * eviction, a worker restart, or a query on a workflow not in cache). A daily dose for 365 days is
 * recorded on the time-skipping server, as test/medication-lifecycle.test.ts "long life" does (with
 * its recording stand-in activities); the workflow continues as new every 100 doses, so the year is
 * several runs, and each run's history is replayed on its own, then all of them in one replay worker.
 * The bundle is the production one (workflows + the observability interceptors).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { DateTime } from 'luxon';
import type { Activities } from '../../activities/index.ts';
import { recordingActivities } from '../../test/helpers/medication-stubs.ts';
import { allSearchAttributeKeys } from '../../shared/search-attributes.ts';
import { resolveTemporalTestServer } from '../../dev/temporal-binaries.ts';
import { workflowsPath } from '../../workers/build.ts';
import { workerInterceptors } from '../../workers/observability.ts';
import { medicationReminderWorkflow } from '../../workflows/index.ts';
import type { Log } from '../lib/env.ts';
import { round } from '../lib/stats.ts';

type History = temporal.api.history.v1.IHistory;

export interface ReplayRun {
  runId: string;
  events: number;
  /** Replayed alone, in a fresh replay worker (includes creating it). */
  aloneMs: number;
  /** Within the replay of all runs in one worker: since the previous run finished. */
  inBatchMs: number;
}

export interface ReplayResult {
  scenario: 'replay';
  doses: number;
  runs: ReplayRun[];
  totalEvents: number;
  /** All runs, one after another, in one replay worker. */
  totalMs: number;
  /** Recording the year on the time-skipping server (setup, for information). */
  recordMs: number;
  bundleMs: number;
}

export async function runReplay(opts: { days: number; log: Log }): Promise<ReplayResult> {
  const t0 = performance.now();
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: workerInterceptors().workflowModules ?? [],
    logger: quiet,
  });
  const bundleMs = round(performance.now() - t0);
  const env = await createTimeSkippingEnv();
  try {
    const { activities, recorded } = recordingActivities();
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'bench-year',
      workflowBundle,
      activities: activities as Activities,
    });
    const start = DateTime.fromMillis(await env.currentTimeMs(), { zone: 'America/Chicago' }).plus({ days: 1 });
    const end = start.plus({ days: opts.days - 1 });
    opts.log(`replay: recording ${opts.days} daily doses on the time-skipping server`);
    const t1 = performance.now();
    await worker.runUntil(
      env.client.workflow.execute(medicationReminderWorkflow, {
        workflowId: 'bench-year-long',
        taskQueue: 'bench-year',
        args: [
          {
            medicationId: 'bench-year',
            schedule: {
              times: ['09:00'],
              timezone: 'America/Chicago',
              startDate: start.toISODate()!,
              endDate: end.toISODate()!,
            },
          },
        ],
      }),
    );
    const recordMs = round(performance.now() - t1);
    if (recorded.reminders.length !== opts.days) {
      throw new Error(`recorded ${recorded.reminders.length} doses, expected ${opts.days}`);
    }

    // The chain of runs, newest first, then put in order.
    const histories: { runId: string; history: History }[] = [];
    let runId: string | undefined = (await env.client.workflow.getHandle('bench-year-long').describe()).runId;
    while (runId) {
      const history: History = await env.client.workflow.getHandle('bench-year-long', runId).fetchHistory();
      histories.unshift({ runId, history });
      runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    }

    const runs: ReplayRun[] = [];
    for (const { runId: id, history } of histories) {
      const t = performance.now();
      await Worker.runReplayHistory({ workflowBundle, replayName: 'bench-replay' }, history, 'bench-year-long');
      runs.push({
        runId: id,
        events: history.events?.length ?? 0,
        aloneMs: round(performance.now() - t, 1),
        inBatchMs: 0,
      });
    }
    const t2 = performance.now();
    let previous = t2;
    let i = 0;
    for await (const result of Worker.runReplayHistories(
      { workflowBundle, replayName: 'bench-replay-all' },
      histories.map(({ history }) => ({ workflowId: 'bench-year-long', history })),
    )) {
      if (result.error) throw result.error;
      const now = performance.now();
      runs[i++]!.inBatchMs = round(now - previous, 1);
      previous = now;
    }
    const totalMs = round(performance.now() - t2, 1);
    const totalEvents = runs.reduce((sum, r) => sum + r.events, 0);
    opts.log(`replay: ${runs.length} runs, ${totalEvents} events, replayed in ${totalMs} ms`);
    return { scenario: 'replay', doses: opts.days, runs, totalEvents, totalMs, recordMs, bundleMs };
  } finally {
    await env.teardown();
  }
}

/**
 * The time-skipping server from the project's binaries, with our search attributes, as
 * test/helpers/temporal-env.ts makes it (which relies on vitest's module interop for
 * @temporalio/proto, so it cannot be imported from a plain Node process).
 */
async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: resolveTemporalTestServer() } },
  });
  // IndexedValueType (temporal/api/enums/v1/common.proto): KEYWORD 2, DATETIME 6.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(allSearchAttributeKeys.map((k) => [k.name, k.type === 'DATETIME' ? 6 : 2])),
  });
  return env;
}

const quiet = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  log: () => {},
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
