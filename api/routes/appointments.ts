/**
 * Appointments, the handlers of appointments.routes.ts: POST creates the row and starts workflow `appointment:<id>`; PATCH (reschedule,
 * attendees, offsets, wording) writes the row and hands the new snapshot to the running workflow as
 * an Update, inside one transaction, so a refusal or an unreachable Temporal changes nothing;
 * DELETE cancels. Caregivers manage appointments; every member of the circle sees them.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { config } from '../../shared/config.ts';
import type { Appointment, Member, PrismaClient } from '../../shared/db.ts';
import { appointmentWorkflowId } from '../../shared/ids.ts';
import { appointmentSnapshot } from '../../shared/snapshots.ts';
import { appointmentChangedUpdate, type AppointmentReminderStatus } from '../../workflows/appointment-messages.ts';
import { appointmentWorkflowStart } from '../../workflows/appointment-start.ts';
import { authorize } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import { createRouter, type AppEnv, type Router } from '../openapi.ts';
import { pageWindow } from '../pagination.ts';
import { notFound, ProblemError, unavailable, validationFailed, type FieldError } from '../problem.ts';
import { isUuid } from '../validation.ts';
import { cancelWorkflow, queryWorkflowStatus, startWorkflow, updateWorkflow } from '../workflow-calls.ts';
import {
  cancelAppointment,
  createAppointment,
  getAppointment,
  listAppointments,
  updateAppointment,
} from './appointments.routes.ts';

const MINUTE = 60_000;

/** The earliest reminder still ahead, as the workflow will compute it. */
function nextReminder(startsAt: Date, offsets: number[], now = Date.now()): string | null {
  const upcoming = offsets.map((o) => startsAt.getTime() - o * MINUTE).filter((t) => t > now);
  return upcoming.length > 0 ? new Date(Math.min(...upcoming)).toISOString() : null;
}

function summary(a: Appointment) {
  return {
    id: a.id,
    careCircleId: a.careCircleId,
    patientId: a.patientId,
    title: a.title,
    location: a.location,
    startsAt: a.startsAt.toISOString(),
    timezone: a.timezone,
    attendeeIds: a.attendeeIds,
    reminderOffsetsMinutes: a.reminderOffsetsMinutes,
    status: a.status,
    version: a.version,
    workflowId: a.workflowId,
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
  };
}

function present(a: Appointment, workflow: AppointmentReminderStatus | null) {
  return {
    ...summary(a),
    nextReminderAt: workflow ? workflow.nextReminderAt : null,
    reminders: workflow?.reminders ?? [],
  };
}

/** Caregivers must be members of the circle other than the patient; field errors otherwise. */
async function checkCaregivers(
  prisma: PrismaClient,
  careCircleId: string,
  patientId: string,
  caregiverIds: string[],
): Promise<FieldError[]> {
  const found = await prisma.member.findMany({ where: { id: { in: caregiverIds }, careCircleId } });
  const byId = new Map(found.map((m: Member) => [m.id, m]));
  return caregiverIds.flatMap((id, i): FieldError[] => {
    const member = byId.get(id);
    if (!member) return [{ path: `caregiverIds.${i}`, message: 'must be a member of the care circle' }];
    if (member.id === patientId || member.role === 'patient') {
      return [{ path: `caregiverIds.${i}`, message: 'must be a caregiver or family member, not the patient' }];
    }
    return [];
  });
}

function inFuture(startsAt: string | undefined): FieldError[] {
  return startsAt !== undefined && Date.parse(startsAt) <= Date.now()
    ? [{ path: 'startsAt', message: 'must be in the future' }]
    : [];
}

export function appointmentRoutes({ prisma, temporal }: ApiDeps): Router {
  const app = createRouter();

  /** The appointment, if the caller's role in its circle allows `action`; 404 to non-members. */
  async function load(c: Context<AppEnv>, id: string, action: 'view' | 'manageCare'): Promise<Appointment> {
    const appointment = isUuid(id) ? await prisma.appointment.findUnique({ where: { id } }) : null;
    if (!appointment) throw notFound('Appointment', id);
    await authorize(c, prisma, appointment.careCircleId, action, { kind: 'Appointment', id });
    return appointment;
  }

  app.openapi(createAppointment, async (c) => {
    const body = c.req.valid('json');
    const careCircleId = body.careCircleId;
    await authorize(c, prisma, careCircleId, 'manageCare');
    const patient = await prisma.member.findUnique({ where: { id: body.patientId } });
    const errors: FieldError[] = [...inFuture(body.startsAt)];
    if (!patient || patient.careCircleId !== careCircleId) {
      errors.push({ path: 'patientId', message: 'must be a member of the care circle' });
    } else if (patient.role !== 'patient') {
      errors.push({ path: 'patientId', message: `must be a member with role patient (is ${patient.role})` });
    }
    const caregiverIds = body.caregiverIds ?? [];
    errors.push(...(await checkCaregivers(prisma, careCircleId, body.patientId, caregiverIds)));
    if (errors.length > 0 || !patient) throw validationFailed(errors);

    const id = randomUUID();
    const appointment = await prisma.appointment.create({
      data: {
        id,
        careCircleId,
        patientId: patient.id,
        title: body.title,
        location: body.location ?? null,
        startsAt: new Date(body.startsAt),
        timezone: body.timezone ?? patient.timezone,
        attendeeIds: [patient.id, ...caregiverIds],
        reminderOffsetsMinutes: body.reminderOffsetsMinutes ?? config().APPOINTMENT_REMINDER_OFFSETS_MINUTES,
        workflowId: appointmentWorkflowId(id),
      },
    });
    try {
      await startWorkflow(temporal, appointmentWorkflowStart(appointment));
    } catch (err) {
      // Nothing half-done: without its workflow the appointment must not exist either.
      await prisma.appointment.delete({ where: { id } });
      throw unavailable('Could not start the reminder workflow; nothing was created, retry shortly', err);
    }
    return c.json(
      {
        id,
        workflowId: appointment.workflowId,
        startsAt: appointment.startsAt.toISOString(),
        nextReminderAt: nextReminder(appointment.startsAt, appointment.reminderOffsetsMinutes),
      },
      201,
    );
  });

  app.openapi(listAppointments, async (c) => {
    const { careCircleId, limit, cursor } = c.req.valid('query');
    await authorize(c, prisma, careCircleId, 'view');
    const paging = pageWindow('startsAt', 'asc', { limit, cursor });
    const rows = await prisma.appointment.findMany({
      where: { careCircleId, ...paging.where },
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json({ items: page.items.map(summary), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(getAppointment, async (c) => {
    const appointment = await load(c, c.req.valid('param').id, 'view');
    const workflow =
      appointment.status === 'scheduled'
        ? await queryWorkflowStatus<AppointmentReminderStatus>(temporal, appointment.workflowId)
        : null;
    return c.json(present(appointment, workflow), 200);
  });

  app.openapi(updateAppointment, async (c) => {
    const body = c.req.valid('json');
    const current = await load(c, c.req.valid('param').id, 'manageCare');
    if (current.status !== 'scheduled') {
      throw new ProblemError(409, 'conflict', 'Conflict', `The appointment is ${current.status}`);
    }
    if (current.startsAt.getTime() <= Date.now()) {
      throw new ProblemError(409, 'conflict', 'Conflict', 'The appointment has already started');
    }
    const errors = [...inFuture(body.startsAt)];
    if (body.caregiverIds) {
      errors.push(...(await checkCaregivers(prisma, current.careCircleId, current.patientId, body.caregiverIds)));
    }
    if (errors.length > 0) throw validationFailed(errors);

    const { updated, workflow } = await prisma.$transaction(
      async (tx) => {
        // The row stays locked until Temporal has answered: the workflow's activities wait for it.
        const updated = await tx.appointment.update({
          where: { id: current.id },
          data: {
            ...(body.title !== undefined ? { title: body.title } : {}),
            ...(body.location !== undefined ? { location: body.location } : {}),
            ...(body.startsAt !== undefined ? { startsAt: new Date(body.startsAt) } : {}),
            ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
            ...(body.caregiverIds !== undefined ? { attendeeIds: [current.patientId, ...body.caregiverIds] } : {}),
            ...(body.reminderOffsetsMinutes !== undefined
              ? { reminderOffsetsMinutes: body.reminderOffsetsMinutes }
              : {}),
            version: { increment: 1 },
          },
        });
        if (updated.status !== 'scheduled') {
          throw new ProblemError(409, 'conflict', 'Conflict', `The appointment is ${updated.status}`);
        }
        const workflow = await updateWorkflow(temporal, updated.workflowId, appointmentChangedUpdate, [
          appointmentSnapshot(updated),
        ]);
        return { updated, workflow };
      },
      { timeout: 15_000 },
    );
    return c.json(present(updated, workflow), 200);
  });

  app.openapi(cancelAppointment, async (c) => {
    const appointment = await load(c, c.req.valid('param').id, 'manageCare');
    if (appointment.status === 'completed') {
      throw new ProblemError(409, 'conflict', 'Conflict', 'The appointment has already taken place');
    }
    // Recorded first: planning checks it, so no reminder goes out from here on even if Temporal
    // cannot be told right now.
    const cancelled = await prisma.appointment.update({
      where: { id: appointment.id },
      data: { status: 'cancelled', version: { increment: appointment.status === 'cancelled' ? 0 : 1 } },
    });
    await cancelWorkflow(
      temporal,
      appointment.workflowId,
      'Appointment cancelled, but its workflow could not be stopped yet; retry the request',
    );
    return c.json(present(cancelled, null), 200);
  });

  return app;
}
