/**
 * Patients and members: profile changes that reach running schedules (a new time zone moves the
 * patient's future doses), and adherence over a date range.
 */
import { Hono } from 'hono';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { MedicationSchedule } from '../../shared/schedule.ts';
import { dayStart } from '../../shared/local-days.ts';
import { changeTimezoneUpdate } from '../../workflows/medication-messages.ts';
import type { ApiDeps } from '../deps.ts';
import { adherenceQuery, patchMemberBody } from '../medication-schemas.ts';
import { notFound, unavailable } from '../problem.ts';
import { isUuid, readJson, readQuery } from '../validation.ts';

export function memberRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();

  app.patch('/:id', async (c) => {
    const body = await readJson(c, patchMemberBody);
    const id = c.req.param('id');
    const member = isUuid(id) ? await prisma.member.findUnique({ where: { id } }) : null;
    if (!member) throw notFound('Member', id);
    const updated = await prisma.member.update({
      where: { id },
      data: {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.email !== undefined ? { email: body.email } : {}),
        ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
      },
    });
    // Travel or a move: every schedule that follows the patient's zone moves with them.
    const moved: string[] = [];
    if (body.timezone && body.timezone !== member.timezone) {
      const medications = await prisma.medication.findMany({
        where: { patientId: id, followPatientTimezone: true, status: { in: ['active', 'paused'] } },
      });
      for (const medication of medications) {
        try {
          await temporal.workflow
            .getHandle(medication.workflowId)
            .executeUpdate(changeTimezoneUpdate, { args: [{ timezone: body.timezone }] });
          moved.push(medication.id);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) continue;
          throw unavailable(
            `The new time zone is saved, but not every schedule could be moved yet; retry the request: ${(err as Error).message}`,
          );
        }
      }
    }
    return c.json({
      id: updated.id,
      name: updated.name,
      timezone: updated.timezone,
      email: updated.email,
      movedSchedules: moved,
    });
  });

  return app;
}

export function patientRoutes({ prisma }: ApiDeps): Hono {
  const app = new Hono();

  /** Share of closed doses taken, per medication and overall, over local days [from, to]. */
  app.get('/:id/adherence', async (c) => {
    const { from, to } = readQuery(c, adherenceQuery);
    const id = c.req.param('id');
    const patient = isUuid(id) ? await prisma.member.findUnique({ where: { id } }) : null;
    if (!patient || patient.role !== 'patient') throw notFound('Patient', id);
    const medications = await prisma.medication.findMany({ where: { patientId: id }, orderBy: { createdAt: 'asc' } });
    const perMedication = [];
    const total = { taken: 0, skipped: 0, missed: 0, open: 0 };
    for (const medication of medications) {
      const zone = (medication.schedule as unknown as MedicationSchedule).timezone ?? patient.timezone;
      const groups = await prisma.doseEvent.groupBy({
        by: ['status'],
        where: { medicationId: medication.id, scheduledAt: { gte: dayStart(from, zone), lt: dayStart(to, zone, 1) } },
        _count: { _all: true },
      });
      const counts = { taken: 0, skipped: 0, missed: 0, open: 0 };
      for (const g of groups) {
        const key = g.status === 'taken' || g.status === 'skipped' || g.status === 'missed' ? g.status : 'open';
        counts[key] += g._count._all;
      }
      for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += counts[k];
      perMedication.push({ medicationId: medication.id, name: medication.name, ...counts, adherence: rate(counts) });
    }
    return c.json({ patientId: id, from, to, ...total, adherence: rate(total), medications: perMedication });
  });

  return app;
}

/** Taken ÷ (taken + skipped + missed); null when no dose is closed yet. */
function rate(c: { taken: number; skipped: number; missed: number }): number | null {
  const closed = c.taken + c.skipped + c.missed;
  return closed === 0 ? null : Math.round((c.taken / closed) * 1000) / 1000;
}
