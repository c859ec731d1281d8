/**
 * The shift workflow on the time-skipping server with the real activities: the circle alerted
 * while the shift is unassigned 24 h ahead, the assignee reminded 2 h ahead, a reassignment after
 * that time reminding the new assignee at once, a shift left unassigned again alerting again, and
 * the shift completed at its end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shiftSnapshot } from '../shared/snapshots.ts';
import { shiftWorkflowStart } from '../workflows/shift-start.ts';
import { shiftChangedUpdate, shiftStatusQuery, type ShiftReminderStatus } from '../workflows/shift-messages.ts';
import { createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { seedCircle, seedShift } from './helpers/care-seed.ts';
import { waitFor } from './helpers/wait.ts';

let care: CareEnv;

beforeAll(async () => {
  care = await createCareEnv();
}, 120_000);

afterAll(async () => {
  await care?.teardown();
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('shiftReminderWorkflow', () => {
  it('alerts the circle while unassigned, reminds each assignee, and follows reassignments', async () => {
    const prisma = care.db.prisma;
    const { circle, members } = await seedCircle(prisma, [
      { role: 'patient', name: 'Ada', pushTokens: ['patient-device'] },
      { role: 'caregiver', name: 'Ben', pushTokens: ['ben-device'] },
      { role: 'caregiver', name: 'Cleo', channels: ['email'] },
      { role: 'family', name: 'Dan', channels: ['in_app'] },
    ]);
    const [patient, ben, cleo, dan] = members as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ];
    const now = await care.env.currentTimeMs();
    const startsAt = new Date(Math.ceil((now + 3 * DAY) / MINUTE) * MINUTE);
    const shift = await seedShift(prisma, {
      careCircleId: circle.id,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 8 * HOUR),
    });

    const recipientsOf = async (kind: string, after = new Date(0)) =>
      (
        await prisma.notificationLog.findMany({
          where: { kind, dedupeKey: { startsWith: `shift:${shift.id}:` }, status: 'sent', createdAt: { gt: after } },
        })
      )
        .map((n) => `${n.recipientId}:${n.channel}`)
        .sort();

    let version = 1;
    const change = async (assigneeId: string | null) => {
      const row = await prisma.shift.update({ where: { id: shift.id }, data: { assigneeId, version: ++version } });
      return care.env.client.workflow
        .getHandle(shift.workflowId)
        .executeUpdate(shiftChangedUpdate, { args: [shiftSnapshot(row)] });
    };
    const sleepUntil = async (at: number) => care.env.sleep(at - (await care.env.currentTimeMs()));

    await care.run(async () => {
      const target = shiftWorkflowStart(shift);
      const handle = await care.env.client.workflow.start('shiftReminderWorkflow', {
        workflowId: target.options.workflowId,
        taskQueue: target.options.taskQueue,
        args: target.options.args,
      });
      const status = () => handle.query(shiftStatusQuery);
      await waitFor('the first timer', async () => ((await status()).next ? true : undefined));
      expect((await status()).next).toEqual({
        action: 'alert_circle',
        at: new Date(startsAt.getTime() - DAY).toISOString(),
      });

      // 24 h before: nobody assigned, so the caregivers and family (not the patient) hear of it.
      await sleepUntil(startsAt.getTime() - DAY - MINUTE);
      expect(await recipientsOf('shift_unassigned')).toEqual([]);
      await sleepUntil(startsAt.getTime() - DAY + MINUTE);
      await waitFor('the unassigned alert', async () =>
        (await recipientsOf('shift_unassigned')).length === 5 ? true : undefined,
      );
      expect((await status()).unassignedAlerts).toEqual([1]);
      expect(await recipientsOf('shift_unassigned')).toEqual(
        [`${ben.id}:push`, `${ben.id}:email`, `${ben.id}:in_app`, `${cleo.id}:email`, `${dan.id}:in_app`].sort(),
      );
      expect((await recipientsOf('shift_unassigned')).some((r) => r.startsWith(patient.id))).toBe(false);

      // Ben takes it: his reminder is set for 2 h before.
      const assigned: ShiftReminderStatus = await change(ben.id);
      expect(assigned.assigneeId).toBe(ben.id);
      await waitFor('the reminder timer', async () =>
        (await status()).next?.action === 'remind_assignee' ? true : undefined,
      );
      expect((await status()).next?.at).toBe(new Date(startsAt.getTime() - 2 * HOUR).toISOString());
      await sleepUntil(startsAt.getTime() - 2 * HOUR + MINUTE);
      await waitFor('Ben reminded', async () =>
        (await recipientsOf('shift_reminder')).length === 3 ? true : undefined,
      );
      expect(await recipientsOf('shift_reminder')).toEqual(
        [`${ben.id}:email`, `${ben.id}:in_app`, `${ben.id}:push`].sort(),
      );

      // An hour before, Cleo takes over: she is reminded at once, Ben not again.
      await sleepUntil(startsAt.getTime() - HOUR);
      await change(cleo.id);
      await waitFor('Cleo reminded', async () =>
        (await recipientsOf('shift_reminder')).length === 4 ? true : undefined,
      );
      expect((await status()).remindedAssignees).toEqual([ben.id, cleo.id]);
      expect(await recipientsOf('shift_reminder')).toEqual(
        [`${ben.id}:email`, `${ben.id}:in_app`, `${ben.id}:push`, `${cleo.id}:email`].sort(),
      );

      // Cleo drops out half an hour before: the circle is alerted again, straight away.
      await sleepUntil(startsAt.getTime() - 30 * MINUTE);
      await change(null);
      await waitFor('the second alert', async () =>
        (await recipientsOf('shift_unassigned')).length === 10 ? true : undefined,
      );
      expect((await status()).unassignedAlerts).toEqual([1, 4]);

      const result = (await handle.result()) as ShiftReminderStatus;
      expect(result.state).toBe('completed');
      expect((await prisma.shift.findUniqueOrThrow({ where: { id: shift.id } })).status).toBe('completed');
      expect(await recipientsOf('shift_unassigned')).toHaveLength(10);
    });
  });
});
