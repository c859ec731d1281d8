/**
 * What caregivers do with a running schedule, on the time-skipping server: acknowledge, snooze,
 * let a dose slip (escalation), pause and resume, edit, travel, log as-needed doses, and run for a
 * year across continue-as-new. Activities are recording stand-ins (test/helpers/medication-stubs.ts).
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Activities } from '../activities/index.ts';
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
  upcomingDosesQuery,
} from '../workflows/index.ts';
import { recordingActivities, type Recorded } from './helpers/medication-stubs.ts';
import { HISTORY_VERSION, historiesDir } from './helpers/histories.ts';
import { createTimeSkippingEnv } from './helpers/temporal-env.ts';
import { createWorker, workflowBundle } from './helpers/workers.ts';

let env: TestWorkflowEnvironment;
let queue = 0;

beforeAll(async () => {
  await workflowBundle();
});
// A fresh test server per test (≈0.3 s): the Java time-skipping server can stay locked after a
// test ends with work in flight, which would stall the next test's clock.
beforeEach(async () => {
  env = await createTimeSkippingEnv();
});
afterEach(async () => {
  await env?.teardown();
});

type Handle = WorkflowHandle<typeof medicationReminderWorkflow>;

/** Runs `body` with a worker and a fresh schedule whose first dose is `firstDoseInMs` away. */
async function withSchedule(
  schedule: (now: DateTime) => MedicationSchedule,
  body: (ctx: { handle: Handle; recorded: Recorded; now: DateTime }) => Promise<void>,
  opts: {
    escalationWindowMinutes?: number;
    armLeadSeconds?: number;
    refillAfterTaken?: number;
    record?: string;
    /** Replaces some of the recording stand-ins (they get the originals to call through). */
    override?: (activities: Activities, recorded: Recorded) => Partial<Activities>;
  } = {},
): Promise<void> {
  const recording = recordingActivities(opts);
  const { recorded } = recording;
  const activities = { ...recording.activities, ...opts.override?.(recording.activities, recorded) };
  const taskQueue = `lifecycle-${++queue}`;
  const worker = await createWorker(env, { taskQueue, activities });
  const now = DateTime.fromMillis(await env.currentTimeMs(), { zone: 'UTC' });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(medicationReminderWorkflow, {
      workflowId: `lifecycle-${queue}`,
      taskQueue,
      args: [
        {
          medicationId: `m-${queue}`,
          schedule: schedule(now),
          ...(opts.escalationWindowMinutes ? { escalationWindowMinutes: opts.escalationWindowMinutes } : {}),
          ...(opts.armLeadSeconds ? { armLeadSeconds: opts.armLeadSeconds } : {}),
        },
      ],
    });
    await body({ handle, recorded, now });
    if (opts.record && process.env.RECORD_HISTORIES === '1') {
      // Saved for test/replay.test.ts: Updates and their effects must replay too.
      const file = path.join(historiesDir, `${HISTORY_VERSION}-medication-${opts.record}.json`);
      fs.writeFileSync(file, historyToJSON(await handle.fetchHistory()) + '\n');
    }
    await handle.terminate().catch(() => {});
  });
}

/** A daily time a little after the test server's current time, so the first dose comes soon. */
const soon = (now: DateTime, minutes = 10) => now.plus({ minutes }).toFormat('HH:mm');
const minutes = (n: number) => n * 60_000;
/** Activity start times match their timers to within the time it takes to process a workflow task. */
function expectAtTimes(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    expect(a - expected[i]!).toBeGreaterThanOrEqual(0);
    expect(a - expected[i]!).toBeLessThan(1_000);
  });
}
/**
 * Holds an activity in flight (a reminder or repeat reminder still being delivered) until the test
 * lets it go; `entered` resolves once the workflow is inside it.
 */
function gate() {
  let enter!: () => void;
  let release!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const released = new Promise<void>((r) => (release = r));
  return { entered, release, pass: () => (enter(), released) };
}
const rejection = <T>(p: Promise<T>) =>
  p.then(
    () => 'accepted',
    (e: unknown) => (e instanceof WorkflowUpdateFailedError ? String(e.cause?.message) : String(e)),
  );

describe('dose acknowledgement and escalation', () => {
  it('a dose taken in time is closed: no repeat reminder, no caregiver alert', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('11 minutes');
        expect(recorded.reminders).toHaveLength(1);
        const doseAt = recorded.reminders[0]!.doseAt;
        expect((await handle.query(medicationStatusQuery)).openDoses.map((d) => d.doseAt)).toEqual([doseAt]);
        const ack = await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [{ doseAt, action: 'taken', memberId: 'patient-1' }],
        });
        expect(ack).toEqual({ doseAt, status: 'taken', snoozedUntil: null, late: false });
        await env.sleep('2 hours');
        expect(recorded.followUps).toHaveLength(0);
        expect(recorded.missed).toHaveLength(0);
        expect((await handle.query(medicationStatusQuery)).openDoses).toEqual([]);
        // Closed doses stay closed.
        expect(
          await rejection(
            handle.executeUpdate(acknowledgeDoseUpdate, { args: [{ doseAt, action: 'skipped', memberId: 'p' }] }),
          ),
        ).toContain('already closed as taken');
      },
    );
  });

  it('an unconfirmed dose gets one repeat reminder half-way, then caregivers are alerted and it is missed', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('2 hours');
        const doseAt = Date.parse(recorded.reminders[0]!.doseAt);
        expectAtTimes(
          recorded.followUps.map((c) => c.at - doseAt),
          [minutes(15)],
        );
        expectAtTimes(
          recorded.missed.map((c) => c.at - doseAt),
          [minutes(30)],
        );
        expect(recorded.delivered).toContain(`missed:${recorded.reminders[0]!.doseAt}:caregiver:push`);
        // A missed dose may still be logged late.
        const late = await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [{ doseAt: recorded.reminders[0]!.doseAt, action: 'taken', memberId: 'caregiver-1' }],
        });
        expect(late.late).toBe(true);
        expect(recorded.acknowledgements.at(-1)).toEqual({ doseAt: late.doseAt, action: 'taken', late: true });
      },
    );
  });

  it('honours a per-medication window', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ recorded }) => {
        await env.sleep('3 hours');
        const doseAt = Date.parse(recorded.reminders[0]!.doseAt);
        expectAtTimes(
          recorded.followUps.map((c) => c.at - doseAt),
          [minutes(30)],
        );
        expectAtTimes(
          recorded.missed.map((c) => c.at - doseAt),
          [minutes(60)],
        );
      },
      { escalationWindowMinutes: 60 },
    );
  });

  it('a snooze reminds again at the snooze time and moves the caregiver alert after it', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('12 minutes'); // the dose went out 2 minutes ago
        const doseAt = recorded.reminders[0]!.doseAt;
        const snoozed = await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [{ doseAt, action: 'snoozed', snoozeMinutes: 20, memberId: 'patient-1' }],
        });
        const until = Date.parse(snoozed.snoozedUntil!);
        await env.sleep('2 hours');
        expectAtTimes(
          recorded.followUps.map((c) => c.at),
          [until],
        );
        expectAtTimes(
          recorded.missed.map((c) => c.at),
          [until + minutes(15)],
        );
      },
      { record: 'snooze-escalation' },
    );
  });

  it('rejects unknown, future and malformed acknowledgements with a clear message', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('11 minutes');
        const doseAt = recorded.reminders[0]!.doseAt;
        const ack = (input: object) =>
          rejection(handle.executeUpdate(acknowledgeDoseUpdate, { args: [{ memberId: 'p', ...input } as never] }));
        expect(await ack({ doseAt: '2020-01-01T00:00:00Z', action: 'taken' })).toContain('No dose of this medication');
        expect(await ack({ doseAt: '2999-01-01T00:00:00Z', action: 'taken' })).toContain('not due yet');
        expect(await ack({ doseAt: 'yesterday', action: 'taken' })).toContain('is not an instant');
        expect(await ack({ doseAt, action: 'snoozed', snoozeMinutes: 0 })).toContain('snoozeMinutes must be between');
        expect(await ack({ doseAt, action: 'snoozed', snoozeMinutes: 10 })).toBe('accepted');
        // Rejected updates leave no trace: only the accepted snooze reached the activities.
        expect(recorded.acknowledgements.map((a) => a.action)).toEqual(['snoozed']);
      },
    );
  });
});

describe('changing a running schedule', () => {
  it('pause sends nothing; resume does not catch up the paused doses', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now, 60)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        const paused = await handle.executeUpdate(pauseUpdate);
        expect(paused.state).toBe('paused');
        expect(await handle.query(upcomingDosesQuery, { fromMs: await env.currentTimeMs(), count: 5 })).toEqual([]);
        await env.sleep('3 days');
        expect(recorded.reminders).toHaveLength(0);
        await handle.executeUpdate(resumeUpdate);
        const resumedAt = await env.currentTimeMs();
        await env.sleep('24 hours');
        expect(recorded.reminders).toHaveLength(1);
        expect(Date.parse(recorded.reminders[0]!.doseAt)).toBeGreaterThan(resumedAt);
        // The database saw paused, then active again, in that order and with growing revisions.
        const statuses = recorded.projections.map((p) => p.status).filter((s, i, all) => s !== all[i - 1]);
        expect(statuses).toEqual(['active', 'paused', 'active']);
        const revisions = recorded.projections.map((p) => p.revision);
        expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      },
      { record: 'pause-resume' },
    );
  });

  it('an edited schedule never fires the old times (no ghosts)', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now, 30)], timezone: 'UTC' }),
      async ({ handle, recorded, now }) => {
        const oldTime = soon(now, 30);
        const newTime = soon(now, 90);
        await handle.executeUpdate(changeScheduleUpdate, {
          args: [{ schedule: { times: [newTime], timezone: 'UTC' } }],
        });
        await env.sleep('3 days');
        const times = recorded.reminders.map((r) => r.doseAt.slice(11, 16));
        expect(times.length).toBeGreaterThanOrEqual(3);
        expect(times.every((t) => t === newTime)).toBe(true);
        expect(times).not.toContain(oldTime);
        expect(recorded.projections.at(-1)).toMatchObject({ schedule: { times: [newTime] } });
      },
      { record: 'edit' },
    );
  });

  it('follows the patient across time zones with no duplicate and no gap', async () => {
    // 08:00 and 20:00 in Paris; after the 08:00 dose the patient flies to New York.
    await withSchedule(
      (now) => ({ times: ['08:00', '20:00'], timezone: 'Europe/Paris', startDate: now.plus({ days: 1 }).toISODate()! }),
      async ({ handle, recorded, now }) => {
        const day = now.plus({ days: 1 }).toISODate()!;
        const parisMorning = DateTime.fromISO(`${day}T08:00`, { zone: 'Europe/Paris' });
        await env.sleep(parisMorning.toMillis() - (await env.currentTimeMs()) + minutes(60));
        expect(recorded.reminders.map((r) => r.doseAt)).toEqual([parisMorning.toUTC().toISO()]);
        await handle.executeUpdate(changeTimezoneUpdate, { args: [{ timezone: 'America/New_York' }] });
        await env.sleep('2 days');
        const local = recorded.reminders.map((r) => DateTime.fromISO(r.doseAt).setZone('America/New_York'));
        // The 08:00 New York dose of the same day would repeat the morning dose: it is not sent.
        expect(local.slice(1, 4).map((d) => d.toFormat('yyyy-MM-dd HH:mm'))).toEqual([
          `${day} 20:00`,
          `${DateTime.fromISO(day).plus({ days: 1 }).toISODate()} 08:00`,
          `${DateTime.fromISO(day).plus({ days: 1 }).toISODate()} 20:00`,
        ]);
      },
      { record: 'travel' },
    );
  });

  it('a pause at the moment a dose is armed answers at once', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now, 90)], timezone: 'UTC' }),
      async ({ handle }) => {
        const status = await handle.query(medicationStatusQuery);
        const doseAt = Date.parse(status.nextDoseAt!);
        await env.sleep(doseAt - 60_000 - (await env.currentTimeMs()));
        const paused = await Promise.race([
          handle.executeUpdate(pauseUpdate),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('pause did not answer')), 20_000)),
        ]);
        expect(paused.state).toBe('paused');
      },
    );
  });

  it('a zone change after a pause and resume does not bring back the paused doses', async () => {
    await withSchedule(
      (now) => ({ times: ['08:00', '20:00'], timezone: 'Europe/Paris', startDate: now.plus({ days: 1 }).toISODate()! }),
      async ({ handle, recorded, now }) => {
        const day = now.plus({ days: 1 }).toISODate()!;
        const parisMorning = DateTime.fromISO(`${day}T08:00`, { zone: 'Europe/Paris' });
        await env.sleep(parisMorning.toMillis() - (await env.currentTimeMs()) + minutes(60));
        expect(recorded.reminders).toHaveLength(1);
        await handle.executeUpdate(pauseUpdate);
        await env.sleep('3 days');
        await handle.executeUpdate(resumeUpdate);
        const resumedAt = await env.currentTimeMs();
        await handle.executeUpdate(changeTimezoneUpdate, { args: [{ timezone: 'America/New_York' }] });
        await env.sleep('1 day');
        const after = recorded.reminders.slice(1).map((r) => Date.parse(r.doseAt));
        // Two doses in the day after the resume, none of the six slots of the pause.
        expect(after).toHaveLength(2);
        for (const at of after) expect(at).toBeGreaterThan(resumedAt);
      },
    );
  });

  it('as-needed medications never remind but log doses; scheduled ones refuse that log', async () => {
    await withSchedule(
      () => ({ type: 'as_needed', timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('3 days');
        expect(recorded.reminders).toHaveLength(0);
        const logged = await handle.executeUpdate(logAsNeededDoseUpdate, { args: [{ memberId: 'patient-1' }] });
        expect(Date.parse(logged.takenAt)).toBeGreaterThan(0);
        expect((await handle.describe()).status.name).toBe('RUNNING');
      },
    );
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle }) => {
        expect(await rejection(handle.executeUpdate(logAsNeededDoseUpdate, { args: [{ memberId: 'p' }] }))).toContain(
          'Only as-needed medications',
        );
      },
    );
  });

  it('delivers the refill reminder the acknowledgement asks for', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('11 minutes');
        await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [{ doseAt: recorded.reminders[0]!.doseAt, action: 'taken', memberId: 'patient-1' }],
        });
        expect(recorded.delivered).toContain('refill:caregiver:email');
      },
      { refillAfterTaken: 1 },
    );
  });
});

describe('races around a reminder in flight', () => {
  it('a dose can be taken while its reminder is still being delivered, and nothing follows it', async () => {
    const sending = gate();
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        const doseAt = (await handle.query(medicationStatusQuery)).nextDoseAt!;
        // Just after the arm (60 s ahead), well within the send's 15-second heartbeat timeout.
        await env.sleep(Date.parse(doseAt) - (await env.currentTimeMs()) - 55_000);
        await sending.entered;
        const ack = await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [{ doseAt, action: 'taken', memberId: 'patient-1' }],
        });
        expect(ack).toEqual({ doseAt, status: 'taken', snoozedUntil: null, late: false });
        sending.release();
        await env.sleep('2 hours');
        expect(recorded.followUps).toEqual([]);
        expect(recorded.missed).toEqual([]);
        expect(recorded.armed.map((a) => a.doseAt)).toEqual([doseAt]);
      },
      {
        override: (a) => ({
          remindDoseAtInstant: async (input) => {
            await sending.pass();
            return a.remindDoseAtInstant(input);
          },
        }),
      },
    );
  });
});

describe('a zone change while a reminder whose instant has passed is still being sent', () => {
  it('reminds that slot once, at its own instant, and moves on to the next slot in the new zone', async () => {
    const sending = gate();
    let calls = 0;
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        const doseAt = (await handle.query(medicationStatusQuery)).nextDoseAt!;
        // Armed 1 s ahead; the send is held in flight while the test server's clock, locked by
        // it, runs on in real time past the instant.
        await env.sleep(Date.parse(doseAt) - (await env.currentTimeMs()) - 500);
        await sending.entered;
        while ((await env.currentTimeMs()) <= Date.parse(doseAt) + 200) await new Promise((r) => setTimeout(r, 50));
        // Paris is an hour ahead in winter: the same clock time there was an hour ago.
        await handle.executeUpdate(changeTimezoneUpdate, { args: [{ timezone: 'Europe/Paris' }] });
        sending.release();
        await env.sleep('2 days');
        const armed = recorded.armed.map((a) => a.doseAt);
        // Armed again at its own instant under the new generation (the outbox sends it only if it
        // is not out yet), never at the same clock time in Paris an hour earlier.
        expect(armed.slice(0, 2)).toEqual([doseAt, doseAt]);
        const [first, second] = recorded.armed.slice(0, 2).map((a) => a.generation).sort();
        expect(second).toBeGreaterThan(first!);
        const later = armed.slice(2).map((d) => DateTime.fromISO(d, { zone: 'Europe/Paris' }));
        expect(later.length).toBeGreaterThanOrEqual(2);
        const slot = DateTime.fromISO(doseAt, { zone: 'UTC' }).toFormat('HH:mm');
        expect(later.every((d) => d.toFormat('HH:mm') === slot && d.toMillis() > Date.parse(doseAt))).toBe(true);
      },
      {
        armLeadSeconds: 1,
        override: (a) => ({
          remindDoseAtInstant: async (input) => {
            if (++calls === 1) await sending.pass();
            return a.remindDoseAtInstant(input);
          },
        }),
      },
    );
  });
});

describe('races around a dose window', () => {
  for (const [change, act] of [
    ['a pause', (h: Handle) => h.executeUpdate(pauseUpdate)],
    [
      'an edit',
      (h: Handle, now: DateTime) =>
        h.executeUpdate(changeScheduleUpdate, { args: [{ schedule: { times: [soon(now, 120)], timezone: 'UTC' } }] }),
    ],
  ] as const) {
    for (const step of ['remindDoseAtInstant', 'markDoseReminded'] as const) {
      it(`${change} while a reminder is in flight (${step}) abandons that dose: no second reminder, no repeat reminder, no alert`, async () => {
        const inFlight = gate();
        let calls = 0;
        await withSchedule(
          (now) => ({ times: [soon(now)], timezone: 'UTC' }),
          async ({ handle, recorded, now }) => {
            const doseAt = (await handle.query(medicationStatusQuery)).nextDoseAt!;
            await env.sleep(Date.parse(doseAt) - (await env.currentTimeMs()) - 55_000);
            await inFlight.entered;
            await act(handle, now);
            inFlight.release();
            if (change === 'a pause') {
              await env.sleep('1 day');
              await handle.executeUpdate(resumeUpdate);
            }
            await env.sleep('2 days');
            // The abandoned dose: armed once, never again, and its window never ran.
            expect(recorded.armed.filter((a) => a.doseAt === doseAt)).toHaveLength(1);
            expect(recorded.followUps.filter((f) => f.doseAt === doseAt)).toEqual([]);
            expect(recorded.missed.filter((m) => m.doseAt === doseAt)).toEqual([]);
            const later = recorded.armed.map((a) => a.doseAt).filter((d) => d !== doseAt);
            expect(later.length).toBeGreaterThanOrEqual(1);
            expect(new Set(later).size).toBe(later.length);
            if (change === 'an edit') expect(later.every((d) => d.slice(11, 16) === soon(now, 120))).toBe(true);
            // Nothing written while paused shows an open dose.
            const paused = recorded.projections.filter((p) => p.status === 'paused');
            expect(paused.every((p) => (p.openDoses as unknown[]).length === 0)).toBe(true);
          },
          {
            override: (a) => ({
              [step]: async (input: never) => {
                if (++calls === 1) await inFlight.pass();
                return (a[step] as (i: never) => Promise<unknown>)(input);
              },
            }),
          },
        );
      });
    }
  }

  it('a snooze while the repeat reminder is being delivered earns its own repeat reminder', async () => {
    const delivering = gate();
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        const doseAt = (await handle.query(medicationStatusQuery)).nextDoseAt!;
        // The repeat reminder is due 15 minutes after the dose; it is held in flight 5 s later.
        await env.sleep(Date.parse(doseAt) + minutes(15) + 5_000 - (await env.currentTimeMs()));
        await delivering.entered;
        const snoozed = await handle.executeUpdate(acknowledgeDoseUpdate, {
          args: [{ doseAt, action: 'snoozed', snoozeMinutes: 20, memberId: 'patient-1' }],
        });
        delivering.release();
        const until = Date.parse(snoozed.snoozedUntil!);
        await env.sleep('2 hours');
        expectAtTimes(
          recorded.followUps.map((c) => c.at),
          [Date.parse(doseAt) + minutes(15), until],
        );
        expectAtTimes(
          recorded.missed.map((c) => c.at),
          [until + minutes(15)],
        );
      },
      {
        override: (a) => ({
          planDoseReminder: async (input) => {
            if (input.stage === 'follow_up') await delivering.pass();
            return a.planDoseReminder(input);
          },
        }),
      },
    );
  });

  it('a dose acknowledged in the instant its reminder goes out: taken closes it quietly, snoozed reminds again', async () => {
    for (const action of ['taken', 'snoozed'] as const) {
      await withSchedule(
        (now) => ({ times: [soon(now)], timezone: 'UTC' }),
        async ({ handle, recorded }) => {
          const doseAt = (await handle.query(medicationStatusQuery)).nextDoseAt!;
          await env.sleep(Date.parse(doseAt) - (await env.currentTimeMs()));
          expect(recorded.reminders.map((r) => r.doseAt)).toEqual([doseAt]);
          const ack = await handle.executeUpdate(acknowledgeDoseUpdate, {
            args: [{ doseAt, action, memberId: 'patient-1', ...(action === 'snoozed' ? { snoozeMinutes: 5 } : {}) }],
          });
          expect(ack).toMatchObject({ doseAt, status: action, late: false });
          await env.sleep('2 hours');
          if (action === 'taken') {
            expect(recorded.followUps).toEqual([]);
            expect(recorded.missed).toEqual([]);
          } else {
            const until = Date.parse(ack.snoozedUntil!);
            expectAtTimes(
              recorded.followUps.map((c) => c.at),
              [until],
            );
            expectAtTimes(
              recorded.missed.map((c) => c.at),
              [until + minutes(15)],
            );
          }
        },
      );
    }
  });

  it('a reminder that went out late gets its repeat reminder and caregiver alert counted from when it went out', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ recorded }) => {
        await env.sleep('3 hours');
        const doseAt = Date.parse(recorded.armed[0]!.doseAt);
        const sentAt = doseAt + minutes(20);
        expectAtTimes(
          recorded.followUps.map((c) => c.at),
          [sentAt + minutes(15)],
        );
        expectAtTimes(
          recorded.missed.map((c) => c.at),
          [sentAt + minutes(30)],
        );
      },
      {
        override: (a) => ({
          // The providers took the reminder 20 minutes after the dose (a Retry-After, a backlog).
          remindDoseAtInstant: async (input) => {
            const outcome = await a.remindDoseAtInstant(input);
            return outcome.status === 'sent'
              ? { ...outcome, sentAt: new Date(Date.parse(input.doseAt) + minutes(20)).toISOString() }
              : outcome;
          },
        }),
      },
    );
  });
});

describe('changes the previous version lost', () => {
  it('an edit while the last dose is still open extends the schedule instead of ending it', async () => {
    await withSchedule(
      (now) => ({ type: 'once', at: now.plus({ minutes: 10 }).toFormat("yyyy-MM-dd'T'HH:mm"), timezone: 'UTC' }),
      async ({ handle, recorded, now }) => {
        await env.sleep('15 minutes');
        const last = recorded.reminders[0]!.doseAt;
        expect((await handle.query(medicationStatusQuery)).openDoses.map((d) => d.doseAt)).toEqual([last]);
        // "Extend the antibiotic course": the same time for three more days.
        const time = last.slice(11, 16);
        const endDate = DateTime.fromISO(last, { zone: 'UTC' }).plus({ days: 3 }).toISODate()!;
        await handle.executeUpdate(changeScheduleUpdate, {
          args: [{ schedule: { times: [time], timezone: 'UTC', endDate } }],
        });
        await env.sleep('4 days');
        const day = (n: number) => DateTime.fromISO(last, { zone: 'UTC' }).plus({ days: n }).toUTC().toISO();
        expect(recorded.reminders.map((r) => r.doseAt)).toEqual([last, day(1), day(2), day(3)]);
        expect(now.toMillis()).toBeLessThan(Date.parse(last));
      },
    );
  });

  it('an interval schedule keeps its rhythm across a time-zone change: every 8 h after the last dose', async () => {
    await withSchedule(
      (now) => ({
        type: 'interval',
        everyHours: 8,
        firstDoseTime: soon(now),
        startDate: now.plus({ minutes: 10 }).toISODate()!,
        timezone: 'UTC',
      }),
      async ({ handle, recorded }) => {
        await env.sleep('1 hour');
        expect(recorded.reminders).toHaveLength(1);
        // Kolkata is 5 h 30 ahead: its own 08:00-style grid would put the next dose 2 h 30 off.
        await handle.executeUpdate(changeTimezoneUpdate, { args: [{ timezone: 'Asia/Kolkata' }] });
        await env.sleep('2 days');
        const at = recorded.reminders.map((r) => Date.parse(r.doseAt));
        expect(at.length).toBeGreaterThanOrEqual(6);
        for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBe(8 * 3_600_000);
      },
    );
  });

  it('a deleted schedule says cancelled in the Web UI and the database, and keeps its last dose', async () => {
    await withSchedule(
      (now) => ({ times: [soon(now)], timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('1 hour');
        const last = recorded.reminders[0]!.doseAt;
        await handle.cancel();
        await expect(handle.result()).rejects.toThrow();
        const described = await handle.describe();
        expect(described.status.name).toBe('CANCELLED');
        expect(described.searchAttributes.ScheduleStatus).toEqual(['cancelled']);
        expect(recorded.projections.at(-1)).toMatchObject({ status: 'cancelled', lastDoseAt: last, nextDoseAt: null });
      },
    );
  });
});

/** Event counts of every run of a workflow id, newest first (following continuedExecutionRunId). */
async function runLengths(workflowId: string): Promise<number[]> {
  const runs: number[] = [];
  let runId: string | undefined = (await env.client.workflow.getHandle(workflowId).describe()).runId;
  for (let i = 0; runId && i < 20; i++) {
    const history: Awaited<ReturnType<Handle['fetchHistory']>> = await env.client.workflow
      .getHandle(workflowId, runId)
      .fetchHistory();
    runs.push(history.events?.length ?? 0);
    const previous: string | null | undefined =
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    runId = previous || undefined;
  }
  return runs;
}

const HOURLY = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`);

describe('long life', () => {
  it('hourly doses with a 90-minute window, never confirmed, still hand over; the windows open at the handover finish in the new run', async () => {
    await withSchedule(
      () => ({ times: HOURLY, timezone: 'UTC' }),
      async ({ handle, recorded }) => {
        await env.sleep('112 hours');
        const runs = await runLengths(handle.workflowId);
        expect(runs.length).toBeGreaterThanOrEqual(2);
        expect(Math.max(...runs)).toBeLessThan(6_000);
        const doses = recorded.reminders.map((r) => r.doseAt);
        expect(doses.length).toBeGreaterThanOrEqual(110);
        expect(new Set(doses).size).toBe(doses.length);
        // Every window that has ended ran once: one repeat reminder at 45 min, one alert at 90 min.
        const now = await env.currentTimeMs();
        for (const doseAt of doses.filter((d) => Date.parse(d) + minutes(90) < now - minutes(1))) {
          const at = Date.parse(doseAt);
          const f = recorded.followUps.filter((c) => c.doseAt === doseAt).map((c) => c.at - at);
          const m = recorded.missed.filter((c) => c.doseAt === doseAt).map((c) => c.at - at);
          expectAtTimes(f, [minutes(45)]);
          expectAtTimes(m, [minutes(90)]);
        }
      },
      { escalationWindowMinutes: 90 },
    );
  }, 300_000);

  it('runs a year of daily doses across continue-as-new: every dose once, every run bounded', async () => {
    const { activities, recorded } = recordingActivities();
    const worker = await createWorker(env, { taskQueue: 'year', activities });
    const start = DateTime.fromMillis(await env.currentTimeMs(), { zone: 'America/Chicago' }).plus({ days: 1 });
    const end = start.plus({ days: 364 });
    const result = await worker.runUntil(
      env.client.workflow.execute(medicationReminderWorkflow, {
        workflowId: 'year-long',
        taskQueue: 'year',
        args: [
          {
            medicationId: 'm-year',
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
    const doses = recorded.reminders.map((r) => r.doseAt);
    expect(doses).toHaveLength(365);
    expect(new Set(doses).size).toBe(365);
    expect(doses.every((d) => DateTime.fromISO(d).setZone('America/Chicago').toFormat('HH:mm') === '09:00')).toBe(true);
    expect(result.remindersSent).toBe(365);

    // Walk the chain of runs: several, each with a bounded history.
    const runs: number[] = [];
    const handle = env.client.workflow.getHandle('year-long');
    let runId: string | undefined = (await handle.describe()).runId;
    for (let i = 0; runId && i < 20; i++) {
      const history: Awaited<ReturnType<Handle['fetchHistory']>> = await env.client.workflow
        .getHandle('year-long', runId)
        .fetchHistory();
      runs.push(history.events?.length ?? 0);
      const previous: string | null | undefined =
        history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
      runId = previous || undefined;
    }
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...runs)).toBeLessThan(6_000);
  }, 300_000);
});
