/**
 * Patients and members: profile changes that reach running schedules (a new time zone moves the
 * patient's future doses), and adherence over a date range.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { MedicationSchedule } from '../../shared/schedule.ts';
import { dayStart } from '../../shared/local-days.ts';
import { changeTimezoneUpdate } from '../../workflows/medication-messages.ts';
import { authorize } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import { adherenceQuery, patchMemberBody } from '../medication-schemas.ts';
import { registerPushTokenBody } from '../schemas.ts';
import { beyondSchema, createRouter, jsonBody, jsonResponse, problems, uuidParams, type Router } from '../openapi.ts';
import { notFound, unavailable } from '../problem.ts';
import { isUuid } from '../validation.ts';

const params = uuidParams('id');

const UpdatedMemberSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    timezone: z.string(),
    email: z.string().nullable(),
    movedSchedules: z
      .array(z.uuid())
      .openapi({ description: 'Medications whose schedules moved to the new time zone' }),
  })
  .openapi('UpdatedMember');

const PushTokenSchema = z
  .object({
    id: z.uuid(),
    memberId: z.uuid(),
    active: z.boolean(),
    createdAt: z.iso.datetime().openapi({ description: 'When this member first registered the device' }),
  })
  .openapi('PushTokenRegistration');

const doseCounts = {
  taken: z.number().int(),
  skipped: z.number().int(),
  missed: z.number().int(),
  open: z.number().int().openapi({ description: 'Doses not closed yet' }),
  adherence: z
    .number()
    .nullable()
    .openapi({ description: 'taken ÷ (taken + skipped + missed), 3 decimals; null when no dose is closed' }),
};

const AdherenceSchema = z
  .object({
    patientId: z.uuid(),
    from: z.string(),
    to: z.string(),
    ...doseCounts,
    medications: z.array(z.object({ medicationId: z.uuid(), name: z.string(), ...doseCounts })),
  })
  .openapi('Adherence');

const patchMember = createRoute({
  method: 'patch',
  path: '/{id}',
  tags: ['Members'],
  summary: "Change a member's name, email or time zone (yourself, or caregivers)",
  description: "A new time zone moves the future doses of every schedule that follows the patient's zone.",
  request: { params, body: jsonBody(patchMemberBody) },
  responses: {
    200: jsonResponse(UpdatedMemberSchema, 'The member as changed'),
    ...problems(400, 403, 404, 413, 415),
  },
});

const registerPushToken = createRoute({
  method: 'post',
  path: '/{id}/push-tokens',
  tags: ['Members'],
  summary: "Register a device for a member's push notifications (yourself, or caregivers)",
  description:
    'Idempotent: a token this member already has answers 200 (and is active again). One device may ' +
    'serve several members, in one circle or in several; whether another member has it is never told.',
  request: { params, body: jsonBody(registerPushTokenBody) },
  responses: {
    201: jsonResponse(PushTokenSchema, 'Registered'),
    200: jsonResponse(PushTokenSchema, 'Already registered for this member'),
    ...problems(400, 403, 404, 413, 415),
  },
});

const adherence = createRoute({
  method: 'get',
  path: '/{id}/adherence',
  tags: ['Patients'],
  summary: "A patient's adherence over local days [from, to], per medication and overall",
  request: { params, query: adherenceQuery },
  responses: {
    200: jsonResponse(AdherenceSchema, 'Adherence'),
    ...problems(beyondSchema(400, 'to: not before from'), 404),
  },
});

export function memberRoutes({ prisma, temporal }: ApiDeps): Router {
  const app = createRouter();

  /** The member the path names, if the caller is that member or a caregiver of their circle. */
  async function changeableMember(c: Parameters<typeof authorize>[0], id: string) {
    const member = isUuid(id) ? await prisma.member.findUnique({ where: { id } }) : null;
    if (!member) throw notFound('Member', id);
    // Members change their own profile; caregivers change anyone's in their circle.
    if (member.userId === null || member.userId !== c.get('principal').userId) {
      await authorize(c, prisma, member.careCircleId, 'manageMembers', { kind: 'Member', id });
    }
    return member;
  }

  app.openapi(patchMember, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    await changeableMember(c, id);
    // Travel or a move: every schedule that follows the patient's zone moves with them. Schedules
    // move before the member's zone is saved, and any still in another zone moves on every call,
    // so a retry after a failure finishes the move instead of finding nothing left to do.
    const moved: string[] = [];
    if (body.timezone !== undefined) {
      const medications = await prisma.medication.findMany({
        where: { patientId: id, followPatientTimezone: true, status: { in: ['active', 'paused'] } },
        orderBy: { id: 'asc' },
      });
      for (const medication of medications) {
        if ((medication.schedule as unknown as MedicationSchedule).timezone === body.timezone) continue;
        try {
          await temporal.workflow
            .getHandle(medication.workflowId)
            .executeUpdate(changeTimezoneUpdate, { args: [{ timezone: body.timezone }] });
          moved.push(medication.id);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) continue;
          throw unavailable(
            'Not every schedule could be moved to the new time zone yet, so the profile is unchanged; retry the request',
            err,
          );
        }
      }
    }
    const updated = await prisma.member.update({
      where: { id },
      data: {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.email !== undefined ? { email: body.email } : {}),
        ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
      },
    });
    return c.json(
      {
        id: updated.id,
        name: updated.name,
        timezone: updated.timezone,
        email: updated.email,
        movedSchedules: moved,
      },
      200,
    );
  });

  /** A device registers (again) for a member; whether it serves other members too is theirs to know. */
  app.openapi(registerPushToken, async (c) => {
    const { id } = c.req.valid('param');
    const { token } = c.req.valid('json');
    await changeableMember(c, id);
    const { count } = await prisma.pushToken.createMany({ data: [{ memberId: id, token }], skipDuplicates: true });
    // Registered again: the app believes the device is reachable, so it is used again.
    const row =
      count === 1
        ? await prisma.pushToken.findUniqueOrThrow({ where: { memberId_token: { memberId: id, token } } })
        : await prisma.pushToken.update({
            where: { memberId_token: { memberId: id, token } },
            data: { active: true, deactivatedAt: null },
          });
    return c.json(
      { id: row.id, memberId: row.memberId, active: row.active, createdAt: row.createdAt.toISOString() },
      count === 1 ? 201 : 200,
    );
  });

  return app;
}

export function patientRoutes({ prisma }: ApiDeps): Router {
  const app = createRouter();

  /** Share of closed doses taken, per medication and overall, over local days [from, to]. */
  app.openapi(adherence, async (c) => {
    const { id } = c.req.valid('param');
    const { from, to } = c.req.valid('query');
    const patient = isUuid(id) ? await prisma.member.findUnique({ where: { id } }) : null;
    if (!patient || patient.role !== 'patient') throw notFound('Patient', id);
    await authorize(c, prisma, patient.careCircleId, 'view', { kind: 'Patient', id });
    const medications = await prisma.medication.findMany({
      where: { patientId: id },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
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
    return c.json({ patientId: id, from, to, ...total, adherence: rate(total), medications: perMedication }, 200);
  });

  return app;
}

/** Taken ÷ (taken + skipped + missed); null when no dose is closed yet. */
function rate(c: { taken: number; skipped: number; missed: number }): number | null {
  const closed = c.taken + c.skipped + c.missed;
  return closed === 0 ? null : Math.round((c.taken / closed) * 1000) / 1000;
}
