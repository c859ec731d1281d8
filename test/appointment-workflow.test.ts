/**
 * The appointment workflow on the time-skipping server with the real activities, PostgreSQL and
 * the dev outbox: reminders at their offsets, a reschedule by Update moving the timers of the
 * running workflow, the validator refusing stale or past changes, a change the workflow missed
 * being caught up from the database, a late booking, and cancellation.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appointmentSnapshot } from '../shared/snapshots.ts';
import { appointmentWorkflowStart } from '../workflows/appointment-start.ts';
import type { Appointment } from '../shared/db.ts';
import {
  appointmentChangedUpdate,
  appointmentStatusQuery,
  type AppointmentReminderStatus,
} from '../workflows/appointment-messages.ts';
import { createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { seedAppointment, seedCircle } from './helpers/care-seed.ts';
import { waitFor } from './helpers/wait.ts';

let care: CareEnv;

beforeAll(async () => {
  care = await createCareEnv();
}, 120_000);

afterAll(async () => {
  await care?.teardown();
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function setup(startsInMs: number) {
  const prisma = care.db.prisma;
  const { circle, members } = await seedCircle(prisma, [
    { role: 'patient', pushTokens: [`patient-${Math.random()}`] },
    { role: 'caregiver', channels: ['email'] },
  ]);
  const [patient, caregiver] = members as [(typeof members)[0], (typeof members)[0]];
  const now = await care.env.currentTimeMs();
  // A whole minute, so reminder instants are easy to reason about.
  const startsAt = new Date(Math.ceil((now + startsInMs) / 60_000) * 60_000);
  const appointment = await seedAppointment(prisma, {
    careCircleId: circle.id,
    patientId: patient.id,
    attendeeIds: [patient.id, caregiver.id],
    startsAt,
  });
  return { appointment, patient, caregiver };
}

async function start(appointment: Appointment) {
  const target = appointmentWorkflowStart(appointment);
  return care.env.client.workflow.start('appointmentReminderWorkflow', {
    workflowId: target.options.workflowId,
    taskQueue: target.options.taskQueue,
    args: target.options.args,
  });
}

const sentKeys = async (appointmentId: string) =>
  (
    await care.db.prisma.notificationLog.findMany({
      where: { dedupeKey: { startsWith: `appointment:${appointmentId}:` }, status: 'sent' },
      orderBy: { dedupeKey: 'asc' },
    })
  ).map((n) => n.dedupeKey.split(':').slice(2).join(':'));

describe('appointmentReminderWorkflow', () => {
  it('reminds 24 h and 1 h before, and a reschedule by Update moves the timers of the running workflow', async () => {
    const { appointment, patient, caregiver } = await setup(3 * DAY);
    const oldStart = appointment.startsAt.toISOString();
    await care.run(async () => {
      const handle = await start(appointment);
      const status = () => handle.query(appointmentStatusQuery);
      await waitFor('the first timer', async () => ((await status()).nextReminderAt ? true : undefined));
      expect((await status()).nextReminderAt).toBe(new Date(appointment.startsAt.getTime() - DAY).toISOString());

      // One minute before the 24 h reminder nothing has gone out; two minutes later it has.
      await care.env.sleep(appointment.startsAt.getTime() - DAY - (await care.env.currentTimeMs()) - 60_000);
      expect((await status()).reminders).toEqual([]);
      await care.env.sleep(120_000);
      await waitFor('the 24 h reminder', async () => ((await status()).reminders.length === 1 ? true : undefined));
      expect(await sentKeys(appointment.id)).toEqual(
        [
          `${oldStart}:1440m:${caregiver.id}:email`,
          `${oldStart}:1440m:${patient.id}:email`,
          `${oldStart}:1440m:${patient.id}:in_app`,
          `${oldStart}:1440m:${patient.id}:push`,
        ].sort(),
      );

      // Rescheduled two days later, as the API does it: the row first (version 2), then the Update.
      const newStart = new Date(appointment.startsAt.getTime() + 2 * DAY);
      const moved = await care.db.prisma.appointment.update({
        where: { id: appointment.id },
        data: { startsAt: newStart, version: 2 },
      });
      const after: AppointmentReminderStatus = await handle.executeUpdate(appointmentChangedUpdate, {
        args: [appointmentSnapshot(moved)],
      });
      expect(after).toMatchObject({
        version: 2,
        startsAt: newStart.toISOString(),
        nextReminderAt: new Date(newStart.getTime() - DAY).toISOString(),
      });

      const result = (await handle.result()) as AppointmentReminderStatus;
      expect(result.state).toBe('completed');
      expect(result.reminders.map((r) => `${r.startsAt}:${r.offsetMinutes}:${r.status}`)).toEqual([
        `${oldStart}:1440:sent`,
        `${newStart.toISOString()}:1440:sent`,
        `${newStart.toISOString()}:60:sent`,
      ]);
      // The old 1 h reminder never went out; the new time got both.
      const keys = await sentKeys(appointment.id);
      expect(keys.filter((k) => k.startsWith(`${oldStart}:60m`))).toEqual([]);
      expect(keys.filter((k) => k.startsWith(newStart.toISOString())).length).toBe(8);
      expect((await care.db.prisma.appointment.findUniqueOrThrow({ where: { id: appointment.id } })).status).toBe(
        'completed',
      );
      const titles = await care.db.prisma.devOutboxMessage.findMany({
        where: { dedupeKey: { startsWith: `appointment:${appointment.id}:${newStart.toISOString()}:60m` } },
      });
      expect(titles.map((t) => t.title)).toContain('Cardiology check-up in 1 hour');
    });
  });

  it('rejects a stale or past change in its validator and keeps its timers', async () => {
    const { appointment } = await setup(3 * DAY);
    await care.run(async () => {
      const handle = await start(appointment);
      const moved = await care.db.prisma.appointment.update({
        where: { id: appointment.id },
        data: { startsAt: new Date(appointment.startsAt.getTime() + HOUR), version: 3 },
      });
      await handle.executeUpdate(appointmentChangedUpdate, { args: [appointmentSnapshot(moved)] });

      const stale = { ...appointmentSnapshot(appointment), version: 2 };
      await expect(handle.executeUpdate(appointmentChangedUpdate, { args: [stale] })).rejects.toBeInstanceOf(
        WorkflowUpdateFailedError,
      );
      const past = { ...appointmentSnapshot(moved), version: 4, startsAt: new Date(Date.now() - DAY).toISOString() };
      const rejected = await handle.executeUpdate(appointmentChangedUpdate, { args: [past] }).catch((e: unknown) => e);
      expect(rejected).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((rejected as WorkflowUpdateFailedError).cause?.message).toMatch(/startsAt must be in the future/);
      const status = await handle.query(appointmentStatusQuery);
      expect(status).toMatchObject({ version: 3, startsAt: moved.startsAt.toISOString() });
      // A rejected update leaves no trace in the history.
      const history = await handle.fetchHistory();
      const accepted = history.events?.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes) ?? [];
      expect(accepted).toHaveLength(1);
      await handle.terminate();
    });
  });

  it('catches up with a change it was never told about before reminding', async () => {
    const { appointment } = await setup(3 * DAY);
    await care.run(async () => {
      const handle = await start(appointment);
      // The row moves a week later but the Update is lost (say Temporal was unreachable).
      const newStart = new Date(appointment.startsAt.getTime() + 7 * DAY);
      await care.db.prisma.appointment.update({
        where: { id: appointment.id },
        data: { startsAt: newStart, version: 2 },
      });
      const result = (await handle.result()) as AppointmentReminderStatus;
      expect(result.version).toBe(2);
      expect(result.reminders.map((r) => `${r.startsAt}:${r.offsetMinutes}`)).toEqual([
        `${newStart.toISOString()}:1440`,
        `${newStart.toISOString()}:60`,
      ]);
      expect((await sentKeys(appointment.id)).filter((k) => k.startsWith(appointment.startsAt.toISOString()))).toEqual(
        [],
      );
    });
  });

  it('booked 5 hours ahead: the passed 24 h reminder becomes one reminder now, then the 1 h one', async () => {
    const { appointment, patient } = await setup(5 * HOUR);
    await care.run(async () => {
      const handle = await start(appointment);
      const result = (await handle.result()) as AppointmentReminderStatus;
      expect(result.reminders.map((r) => `${r.offsetMinutes}:${r.status}`)).toEqual(['1440:sent', '60:sent']);
      const first = await care.db.prisma.devOutboxMessage.findFirstOrThrow({
        where: { dedupeKey: { startsWith: `appointment:${appointment.id}:` }, to: patient.email! },
        orderBy: { createdAt: 'asc' },
      });
      expect(first.title).toBe('Cardiology check-up in 5 hours');
    });
  });

  it('sends nothing more once cancelled', async () => {
    const { appointment } = await setup(3 * DAY);
    await care.run(async () => {
      const handle = await start(appointment);
      await care.env.sleep(2 * DAY + HOUR); // the 24 h reminder went out
      await waitFor('the 24 h reminder', async () =>
        (await handle.query(appointmentStatusQuery)).reminders.length === 1 ? true : undefined,
      );
      await care.db.prisma.appointment.update({ where: { id: appointment.id }, data: { status: 'cancelled' } });
      await handle.cancel();
      await expect(handle.result()).rejects.toThrow();
      await care.env.sleep(2 * DAY);
      expect((await sentKeys(appointment.id)).filter((k) => k.includes(':60m:'))).toEqual([]);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
    });
  });
});
