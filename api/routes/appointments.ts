/**
 * Appointments: POST creates the row and starts workflow `appointment:<id>`; PATCH (reschedule,
 * attendees, offsets, wording) writes the row and hands the new snapshot to the running workflow as
 * an Update, inside one transaction, so a refusal or an unreachable Temporal changes nothing;
 * DELETE cancels.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { WorkflowNotFoundError } from '@temporalio/client';
import { appointmentSnapshot, appointmentWorkflowStart } from '../../activities/appointments.ts';
import { config } from '../../shared/config.ts';
import type { Appointment, Member, PrismaClient } from '../../shared/db.ts';
import { appointmentWorkflowId } from '../../shared/ids.ts';
import { appointmentChangedUpdate, type AppointmentReminderStatus } from '../../workflows/appointment-messages.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, ProblemError, unavailable, validationFailed, type FieldError } from '../problem.ts';
import { createAppointmentBody, updateAppointmentBody } from '../scheduling-schemas.ts';
import { isUuid, readJson } from '../validation.ts';
import { startWorkflow, updateWorkflow } from '../workflow-calls.ts';

const MINUTE = 60_000;

/** The earliest reminder still ahead, as the workflow will compute it. */
function nextReminder(startsAt: Date, offsets: number[], now = Date.now()): string | null {
  const upcoming = offsets.map((o) => startsAt.getTime() - o * MINUTE).filter((t) => t > now);
  return upcoming.length > 0 ? new Date(Math.min(...upcoming)).toISOString() : null;
}

function present(a: Appointment, workflow: AppointmentReminderStatus | null) {
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
    nextReminderAt: workflow ? workflow.nextReminderAt : null,
    reminders: workflow?.reminders ?? [],
    createdAt: a.createdAt.toISOString(),
    updatedAt: a.updatedAt.toISOString(),
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

export function appointmentRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();

  async function load(id: string): Promise<Appointment> {
    const appointment = isUuid(id) ? await prisma.appointment.findUnique({ where: { id } }) : null;
    if (!appointment) throw notFound('Appointment', id);
    return appointment;
  }

  app.post('/', async (c) => {
    const body = await readJson(c, createAppointmentBody);
    const circle = await prisma.careCircle.findUnique({ where: { id: body.careCircleId } });
    if (!circle) throw notFound('Care circle', body.careCircleId);
    const patient = await prisma.member.findUnique({ where: { id: body.patientId } });
    const errors: FieldError[] = [...inFuture(body.startsAt)];
    if (!patient || patient.careCircleId !== circle.id) {
      errors.push({ path: 'patientId', message: 'must be a member of the care circle' });
    } else if (patient.role !== 'patient') {
      errors.push({ path: 'patientId', message: `must be a member with role patient (is ${patient.role})` });
    }
    const caregiverIds = body.caregiverIds ?? [];
    errors.push(...(await checkCaregivers(prisma, circle.id, body.patientId, caregiverIds)));
    if (errors.length > 0 || !patient) throw validationFailed(errors);

    const id = randomUUID();
    const appointment = await prisma.appointment.create({
      data: {
        id,
        careCircleId: circle.id,
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
      throw unavailable(`Could not start the reminder workflow: ${(err as Error).message}`);
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

  app.get('/:id', async (c) => {
    const appointment = await load(c.req.param('id'));
    let workflow: AppointmentReminderStatus | null = null;
    if (appointment.status === 'scheduled') {
      try {
        workflow = await temporal.workflow.getHandle(appointment.workflowId).query<AppointmentReminderStatus>('status');
      } catch {
        // The workflow's view is a nicety; the appointment itself is still worth returning.
      }
    }
    return c.json(present(appointment, workflow));
  });

  app.patch('/:id', async (c) => {
    const body = await readJson(c, updateAppointmentBody);
    const current = await load(c.req.param('id'));
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
    return c.json(present(updated, workflow));
  });

  app.delete('/:id', async (c) => {
    const appointment = await load(c.req.param('id'));
    if (appointment.status === 'completed') {
      throw new ProblemError(409, 'conflict', 'Conflict', 'The appointment has already taken place');
    }
    // Recorded first: planning checks it, so no reminder goes out from here on even if Temporal
    // cannot be told right now.
    const cancelled = await prisma.appointment.update({
      where: { id: appointment.id },
      data: { status: 'cancelled', version: { increment: appointment.status === 'cancelled' ? 0 : 1 } },
    });
    try {
      await temporal.workflow.getHandle(appointment.workflowId).cancel();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        throw unavailable(
          `Appointment cancelled, but its workflow could not be stopped yet; retry the request: ${(err as Error).message}`,
        );
      }
    }
    return c.json(present(cancelled, null));
  });

  return app;
}
