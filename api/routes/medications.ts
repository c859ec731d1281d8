import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import {
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Medication, PrismaClient } from '../../shared/db.ts';
import { medicationWorkflowId } from '../../shared/ids.ts';
import { dayStart } from '../../shared/local-days.ts';
import { nextDoseAfter, scheduleType, type MedicationSchedule } from '../../shared/schedule.ts';
import { CareCircleId, MedicationId, PatientId, ScheduleStatus } from '../../shared/search-attributes.ts';
import {
  acknowledgeDoseUpdate,
  changeScheduleUpdate,
  logAsNeededDoseUpdate,
  medicationStatusQuery,
  pauseUpdate,
  resumeUpdate,
  upcomingDosesQuery,
  type MedicationReminderStatus,
  type UpdateRejection,
} from '../../workflows/medication-messages.ts';
import type { MedicationReminderInput } from '../../workflows/medication-reminder.ts';
import type { ApiDeps } from '../deps.ts';
import {
  acknowledgeDoseBody,
  createMedicationBody,
  dateRangeQuery,
  logDoseBody,
  patchMedicationBody,
  type ScheduleBody,
} from '../medication-schemas.ts';
import { notFound, ProblemError, unavailable, validationFailed } from '../problem.ts';
import { isUuid, readJson, readQuery } from '../validation.ts';

const WORKFLOW_TYPE = 'medicationReminderWorkflow';
const UPCOMING = 5;

/** HTTP answer for each reason the workflow refuses an Update. */
const REJECTION_STATUS: Record<UpdateRejection, ContentfulStatusCode> = {
  InvalidRequest: 400,
  UnknownDose: 404,
  DoseNotDue: 422,
  DoseClosed: 409,
  NotAsNeeded: 409,
  ScheduleEnded: 409,
};

/** Turns an Update that failed into the client's answer: refused (4xx) or Temporal trouble (503). */
function updateProblem(err: unknown): ProblemError {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const type = (err.cause.type ?? 'InvalidRequest') as UpdateRejection;
    const status = REJECTION_STATUS[type] ?? 422;
    const slug = type.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
    return new ProblemError(status, slug, 'Request refused by the schedule', err.cause.message);
  }
  if (err instanceof WorkflowNotFoundError) {
    return new ProblemError(
      409,
      'schedule-not-running',
      'Schedule not running',
      'This medication has no running schedule',
    );
  }
  return unavailable(`Could not reach the schedule: ${(err as Error).message}`);
}

/** The schedule as stored: kind made explicit, time zone resolved to the patient's when not given. */
function resolveSchedule(body: ScheduleBody, patientTimezone: string): MedicationSchedule {
  return { ...body, timezone: body.timezone ?? patientTimezone } as MedicationSchedule;
}

function present(medication: Medication, live: { status: MedicationReminderStatus; upcoming: string[] } | null) {
  return {
    id: medication.id,
    careCircleId: medication.careCircleId,
    patientId: medication.patientId,
    name: medication.name,
    dosage: medication.dosage,
    schedule: medication.schedule as unknown as MedicationSchedule,
    status: medication.status,
    workflowId: medication.workflowId,
    escalationWindowMinutes: medication.escalationWindowMinutes,
    pillCount: medication.pillCount,
    pillsPerDose: medication.pillsPerDose,
    refillThresholdDays: medication.refillThresholdDays,
    nextDoseAt: live?.status.nextDoseAt ?? null,
    upcomingDoses: live?.upcoming ?? [],
    openDoses: live?.status.openDoses ?? [],
    lastDoseAt: live?.status.lastDoseAt ?? null,
    createdAt: medication.createdAt.toISOString(),
  };
}

async function loadMedication(prisma: PrismaClient, id: string): Promise<Medication> {
  const medication = isUuid(id) ? await prisma.medication.findUnique({ where: { id } }) : null;
  if (!medication) throw notFound('Medication', id);
  return medication;
}

function assertRunning(medication: Medication): void {
  if (medication.status === 'cancelled' || medication.status === 'completed') {
    throw new ProblemError(
      409,
      'schedule-not-running',
      'Schedule not running',
      `This medication is ${medication.status}`,
    );
  }
}

/** Only the patient or a caregiver of the medication's circle acknowledges or logs its doses. */
async function assertMayAcknowledge(prisma: PrismaClient, medication: Medication, memberId: string): Promise<void> {
  const member = await prisma.member.findUnique({ where: { id: memberId } });
  const allowed =
    member &&
    member.careCircleId === medication.careCircleId &&
    (member.role === 'caregiver' || member.id === medication.patientId);
  if (!allowed) {
    throw validationFailed([
      { path: 'memberId', message: "must be the patient or a caregiver of this medication's care circle" },
    ]);
  }
}

export function medicationRoutes({ prisma, temporal, taskQueue }: ApiDeps): Hono {
  const app = new Hono();
  const handleOf = (m: Medication): WorkflowHandle => temporal.workflow.getHandle(m.workflowId);

  async function live(medication: Medication) {
    if (medication.status !== 'active' && medication.status !== 'paused') return null;
    try {
      const handle = handleOf(medication);
      const [status, upcoming] = await Promise.all([
        handle.query(medicationStatusQuery),
        handle.query(upcomingDosesQuery, { fromMs: Date.now(), count: UPCOMING }),
      ]);
      return { status, upcoming };
    } catch {
      // The workflow's view is a nicety here; the medication itself is still worth returning.
      return null;
    }
  }

  async function runUpdate<T>(medication: Medication, run: (handle: WorkflowHandle) => Promise<T>): Promise<T> {
    try {
      return await run(handleOf(medication));
    } catch (err) {
      throw updateProblem(err);
    }
  }

  const respond = async (c: Context, id: string) => {
    const fresh = await loadMedication(prisma, id);
    return c.json(present(fresh, await live(fresh)));
  };

  app.post('/', async (c) => {
    const body = await readJson(c, createMedicationBody);
    const circle = await prisma.careCircle.findUnique({ where: { id: body.careCircleId } });
    if (!circle) throw notFound('Care circle', body.careCircleId);
    const patient = await prisma.member.findUnique({ where: { id: body.patientId } });
    if (!patient || patient.careCircleId !== circle.id) {
      throw validationFailed([{ path: 'patientId', message: 'must be a member of the care circle' }]);
    }
    if (patient.role !== 'patient') {
      throw validationFailed([
        { path: 'patientId', message: `must be a member with role patient (is ${patient.role})` },
      ]);
    }

    const schedule = resolveSchedule(body.schedule, patient.timezone);
    const nextDose = nextDoseAfter(schedule, Date.now());
    if (!nextDose && scheduleType(schedule) !== 'as_needed') {
      throw validationFailed([{ path: 'schedule', message: 'has no dose in the future (check its dates)' }]);
    }

    const id = randomUUID();
    const workflowId = medicationWorkflowId(id);
    const medication = await prisma.medication.create({
      data: {
        id,
        careCircleId: circle.id,
        patientId: patient.id,
        name: body.name,
        dosage: body.dosage ?? null,
        schedule: schedule as object,
        workflowId,
        followPatientTimezone: body.schedule.timezone === undefined,
        ...(body.escalationWindowMinutes !== undefined
          ? { escalationWindowMinutes: body.escalationWindowMinutes }
          : {}),
        ...(body.pillCount !== undefined ? { pillCount: body.pillCount } : {}),
        ...(body.pillsPerDose !== undefined ? { pillsPerDose: body.pillsPerDose } : {}),
        ...(body.refillThresholdDays !== undefined ? { refillThresholdDays: body.refillThresholdDays } : {}),
      },
    });
    try {
      await temporal.workflow.start<(input: MedicationReminderInput) => Promise<MedicationReminderStatus>>(
        WORKFLOW_TYPE,
        {
          workflowId,
          taskQueue,
          args: [{ medicationId: id, schedule, escalationWindowMinutes: medication.escalationWindowMinutes }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: CareCircleId, value: circle.id },
            { key: PatientId, value: patient.id },
            { key: MedicationId, value: id },
            { key: ScheduleStatus, value: 'active' },
          ],
          // What operators read in the Web UI's list; no personal health data (names) in it.
          staticSummary: `Medication schedule (${scheduleType(schedule)}) in ${schedule.timezone}`,
        },
      );
    } catch (err) {
      // Nothing half-done: without its workflow the medication must not exist either.
      await prisma.medication.delete({ where: { id } });
      throw unavailable(`Could not start the reminder workflow: ${(err as Error).message}`);
    }
    return c.json({ id: medication.id, workflowId, nextDoseAt: nextDose?.toISOString() ?? null }, 201);
  });

  app.get('/:id', (c) => respond(c, c.req.param('id')));

  app.patch('/:id', async (c) => {
    const body = await readJson(c, patchMedicationBody);
    const medication = await loadMedication(prisma, c.req.param('id'));
    assertRunning(medication);
    if (body.schedule || body.escalationWindowMinutes !== undefined) {
      const patient = await prisma.member.findUniqueOrThrow({ where: { id: medication.patientId } });
      const schedule = body.schedule ? resolveSchedule(body.schedule, patient.timezone) : undefined;
      if (schedule && !nextDoseAfter(schedule, Date.now()) && scheduleType(schedule) !== 'as_needed') {
        throw validationFailed([{ path: 'schedule', message: 'has no dose in the future (check its dates)' }]);
      }
      // The workflow owns the schedule: it validates the change, applies it and saves it.
      await runUpdate(medication, (h) =>
        h.executeUpdate(changeScheduleUpdate, {
          args: [
            {
              ...(schedule ? { schedule } : {}),
              ...(body.escalationWindowMinutes !== undefined
                ? { escalationWindowMinutes: body.escalationWindowMinutes }
                : {}),
            },
          ],
        }),
      );
      if (body.schedule) {
        await prisma.medication.update({
          where: { id: medication.id },
          data: { followPatientTimezone: body.schedule.timezone === undefined },
        });
      }
    }
    await prisma.medication.update({
      where: { id: medication.id },
      data: {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.dosage !== undefined ? { dosage: body.dosage } : {}),
        ...(body.pillsPerDose !== undefined ? { pillsPerDose: body.pillsPerDose } : {}),
        ...(body.refillThresholdDays !== undefined ? { refillThresholdDays: body.refillThresholdDays } : {}),
        // A new supply: its refill reminder has not been sent yet.
        ...(body.pillCount !== undefined ? { pillCount: body.pillCount, refillAlertedAt: null } : {}),
      },
    });
    return respond(c, medication.id);
  });

  app.post('/:id/pause', async (c) => {
    const medication = await loadMedication(prisma, c.req.param('id'));
    assertRunning(medication);
    await runUpdate(medication, (h) => h.executeUpdate(pauseUpdate));
    return respond(c, medication.id);
  });

  app.post('/:id/resume', async (c) => {
    const medication = await loadMedication(prisma, c.req.param('id'));
    assertRunning(medication);
    await runUpdate(medication, (h) => h.executeUpdate(resumeUpdate));
    return respond(c, medication.id);
  });

  app.post('/:id/doses/acknowledge', async (c) => {
    const body = await readJson(c, acknowledgeDoseBody);
    const medication = await loadMedication(prisma, c.req.param('id'));
    assertRunning(medication);
    await assertMayAcknowledge(prisma, medication, body.memberId);
    const result = await runUpdate(medication, (h) =>
      h.executeUpdate(acknowledgeDoseUpdate, {
        args: [
          {
            doseAt: body.doseAt,
            action: body.action,
            memberId: body.memberId,
            ...(body.snoozeMinutes !== undefined ? { snoozeMinutes: body.snoozeMinutes } : {}),
          },
        ],
      }),
    );
    return c.json(result);
  });

  /** As-needed (PRN) doses: logged when taken, never reminded. */
  app.post('/:id/doses', async (c) => {
    const body = await readJson(c, logDoseBody);
    const medication = await loadMedication(prisma, c.req.param('id'));
    assertRunning(medication);
    await assertMayAcknowledge(prisma, medication, body.memberId);
    const result = await runUpdate(medication, (h) =>
      h.executeUpdate(logAsNeededDoseUpdate, {
        args: [{ memberId: body.memberId, ...(body.takenAt ? { takenAt: body.takenAt } : {}) }],
      }),
    );
    return c.json(result, 201);
  });

  /** Dose history: what happened to each dose and who acknowledged it. */
  app.get('/:id/doses', async (c) => {
    const query = readQuery(c, dateRangeQuery);
    const medication = await loadMedication(prisma, c.req.param('id'));
    const zone = (medication.schedule as unknown as MedicationSchedule).timezone;
    const doses = await prisma.doseEvent.findMany({
      where: {
        medicationId: medication.id,
        scheduledAt: {
          ...(query.from ? { gte: dayStart(query.from, zone) } : {}),
          ...(query.to ? { lt: dayStart(query.to, zone, 1) } : {}),
        },
      },
      include: { acknowledgedBy: { select: { id: true, name: true, role: true } } },
      orderBy: { scheduledAt: 'desc' },
      take: 500,
    });
    return c.json({
      items: doses.map((d) => ({
        doseAt: d.scheduledAt.toISOString(),
        status: d.status,
        source: d.source,
        remindedAt: d.remindedAt?.toISOString() ?? null,
        acknowledgedAt: d.acknowledgedAt?.toISOString() ?? null,
        acknowledgedBy: d.acknowledgedBy,
        snoozedUntil: d.snoozedUntil?.toISOString() ?? null,
        late: d.late,
      })),
    });
  });

  app.delete('/:id', async (c) => {
    const medication = await loadMedication(prisma, c.req.param('id'));
    // Recorded first: deliveries check this status, so no reminder goes out from here on, even if
    // Temporal cannot be told right now.
    const cancelled = await prisma.medication.update({ where: { id: medication.id }, data: { status: 'cancelled' } });
    try {
      await handleOf(medication).cancel();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        throw unavailable(
          `Medication cancelled, but its workflow could not be stopped yet; retry the request: ${(err as Error).message}`,
        );
      }
    }
    return c.json(present(cancelled, null));
  });

  return app;
}
