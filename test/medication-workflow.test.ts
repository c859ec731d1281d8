/**
 * The medication workflow on Temporal's time-skipping test server: days pass in milliseconds, so
 * these tests check real timer behaviour without sleeping. Activities are stand-ins that record
 * when the workflow asked for them; the real activities have their own tests.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { DateTime } from 'luxon';
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_VERSION, historiesDir } from './helpers/histories.ts';
import type { Activities } from '../activities/index.ts';
import { recordingActivities } from './helpers/medication-stubs.ts';
import type { MedicationSchedule } from '../shared/schedule.ts';
import { medicationReminderWorkflow, medicationStatusQuery } from '../workflows/index.ts';
import { DEFAULT_ARM_LEAD_SECONDS } from '../workflows/medication-reminder.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { createWorker, workflowBundle } from './helpers/workers.ts';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  [env] = await Promise.all([createTimeSkippingEnv(), workflowBundle()]);
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

/**
 * With RECORD_HISTORIES=1 (`npm run test:record-histories`), each scenario's event history is saved
 * under test/histories, where test/replay.test.ts replays it against the current workflow code.
 */

async function maybeRecord(name: string, workflowId: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  const file = path.join(historiesDir, `${HISTORY_VERSION}-${name}.json`);
  fs.writeFileSync(file, historyToJSON(history) + '\n');
}

let TASK_QUEUE = '';
/** A worker on a task queue of its own; TASK_QUEUE names it for the test's workflow starts. */
async function workerWith(activities: Activities): Promise<Worker> {
  const worker = await createWorker(env, { activities });
  TASK_QUEUE = worker.options.taskQueue;
  return worker;
}

describe('medicationReminderWorkflow', () => {
  it('fires 08:00 and 20:00 New York doses at the right instants across the spring DST change', async () => {
    const { activities, recorded } = recordingActivities();
    const worker = await workerWith(activities);
    // The test server's clock starts at the real time; the schedule starts a few months ahead, on
    // the week of the next March DST change in New York.
    const year = DateTime.now().setZone('America/New_York').year + 1;
    const schedule: MedicationSchedule = {
      times: ['08:00', '20:00'],
      timezone: 'America/New_York',
      startDate: `${year}-03-06`,
      endDate: `${year}-03-16`,
    };
    const result = await worker.runUntil(
      env.client.workflow.execute(medicationReminderWorkflow, {
        workflowId: `med-dst-${year}`,
        taskQueue: TASK_QUEUE,
        args: [{ medicationId: 'm1', schedule }],
      }),
    );

    const expected: string[] = [];
    for (
      let d = DateTime.fromISO(`${year}-03-06`, { zone: 'America/New_York' });
      d.toISODate()! <= `${year}-03-16`;
      d = d.plus({ days: 1 })
    ) {
      expected.push(d.set({ hour: 8 }).toUTC().toISO()!, d.set({ hour: 20 }).toUTC().toISO()!);
    }
    expect(recorded.reminders.map((p) => p.doseAt)).toEqual(expected);
    // The UTC hour of the 08:00 dose moves from 13:00 to 12:00 when DST starts.
    expect(new Set(expected.filter((_, i) => i % 2 === 0).map((t) => t.slice(11, 16)))).toEqual(
      new Set(['13:00', '12:00']),
    );
    // Each dose was armed the lead time before it (the timer fired then, not earlier or later).
    expect(recorded.armed.map((a) => a.doseAt)).toEqual(expected);
    for (const a of recorded.armed) {
      const lead = Date.parse(a.doseAt) - a.at;
      expect(lead).toBeGreaterThan(DEFAULT_ARM_LEAD_SECONDS * 1000 - 2_000);
      expect(lead).toBeLessThanOrEqual(DEFAULT_ARM_LEAD_SECONDS * 1000);
    }
    expect(recorded.delivered.filter((k) => k.startsWith('reminder:'))).toHaveLength(expected.length * 2);
    expect(recorded.projections.at(-1)).toMatchObject({ status: 'completed', nextDoseAt: null });
    expect(result.remindersSent).toBe(expected.length);
    await maybeRecord('medication-dst-spring', `med-dst-${year}`);
  });

  it('sends nothing more once cancelled in the middle of a sleep', async () => {
    const { activities, recorded } = recordingActivities();
    const worker = await workerWith(activities);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(medicationReminderWorkflow, {
        workflowId: 'med-cancel',
        taskQueue: TASK_QUEUE,
        args: [{ medicationId: 'm2', schedule: { times: ['09:00'], timezone: 'Europe/Paris' } }],
      });
      await env.sleep('50 hours'); // two doses go out
      const before = recorded.reminders.length;
      expect(before).toBeGreaterThanOrEqual(2);
      await handle.cancel();
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      await env.sleep('5 days');
      expect(recorded.reminders).toHaveLength(before);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
    });
    await maybeRecord('medication-cancelled', 'med-cancel');
  });

  it('dead-letters a failed channel and keeps the schedule running', async () => {
    const { activities, recorded } = recordingActivities({ failChannel: ':push' });
    const worker = await workerWith(activities);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(medicationReminderWorkflow, {
        workflowId: 'med-dead-letter',
        taskQueue: TASK_QUEUE,
        args: [{ medicationId: 'm3', schedule: { times: ['07:00', '19:00'], timezone: 'UTC' } }],
      });
      await env.sleep('36 hours');
      const status = await handle.query(medicationStatusQuery);
      expect(status.remindersSent).toBeGreaterThanOrEqual(2);
      // Reminders and their repeat reminders both fail on push; each becomes a dead letter.
      expect(recorded.deadLetters.filter((d) => d.dedupeKey.startsWith('reminder:'))).toHaveLength(
        status.remindersSent,
      );
      expect(
        recorded.deadLetters.every((d) => d.errorType === 'PermanentDeliveryError' && d.dedupeKey.endsWith(':push')),
      ).toBe(true);
      expect(recorded.delivered.filter((k) => k.startsWith('reminder:') && k.endsWith(':email'))).toHaveLength(
        status.remindersSent,
      );
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await handle.terminate();
    });
    await maybeRecord('medication-dead-letter', 'med-dead-letter');
  });
});
