import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { WorkflowIdReusePolicy, WorkflowNotFoundError } from '@temporalio/client';
import type { MedicationReminderInput, MedicationReminderStatus } from '../../workflows/index.ts';
import type { Medication } from '../../shared/db.ts';
import { medicationWorkflowId } from '../../shared/ids.ts';
import { nextDoseAfter, type MedicationSchedule } from '../../shared/schedule.ts';
import { CareCircleId, PatientId } from '../../shared/search-attributes.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, unavailable, validationFailed } from '../problem.ts';
import { createMedicationBody } from '../schemas.ts';
import { isUuid, readJson } from '../validation.ts';

const WORKFLOW_TYPE = 'medicationReminderWorkflow';

function present(medication: Medication, nextDoseAt: string | null) {
  return {
    id: medication.id,
    careCircleId: medication.careCircleId,
    patientId: medication.patientId,
    name: medication.name,
    dosage: medication.dosage,
    schedule: medication.schedule as unknown as MedicationSchedule,
    status: medication.status,
    workflowId: medication.workflowId,
    nextDoseAt,
    createdAt: medication.createdAt.toISOString(),
  };
}

export function medicationRoutes({ prisma, temporal, taskQueue }: ApiDeps): Hono {
  const app = new Hono();

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

    const schedule: MedicationSchedule = { ...body.schedule, timezone: body.schedule.timezone ?? patient.timezone };
    const nextDose = nextDoseAfter(schedule, Date.now());
    if (!nextDose) throw validationFailed([{ path: 'schedule', message: 'has no dose in the future (check endDate)' }]);

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
      },
    });
    try {
      await temporal.workflow.start<(input: MedicationReminderInput) => Promise<MedicationReminderStatus>>(
        WORKFLOW_TYPE,
        {
          workflowId,
          taskQueue,
          args: [{ medicationId: id, schedule }],
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: [
            { key: CareCircleId, value: circle.id },
            { key: PatientId, value: patient.id },
          ],
        },
      );
    } catch (err) {
      // Nothing half-done: without its workflow the medication must not exist either.
      await prisma.medication.delete({ where: { id } });
      throw unavailable(`Could not start the reminder workflow: ${(err as Error).message}`);
    }
    return c.json({ id: medication.id, workflowId, nextDoseAt: nextDose.toISOString() }, 201);
  });

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    const medication = isUuid(id) ? await prisma.medication.findUnique({ where: { id } }) : null;
    if (!medication) throw notFound('Medication', id);
    let nextDoseAt: string | null = null;
    if (medication.status === 'active') {
      try {
        const status = await temporal.workflow
          .getHandle(medication.workflowId)
          .query<MedicationReminderStatus>('status');
        nextDoseAt = status.nextDoseAt;
      } catch {
        // The workflow's answer is a nicety here; the medication itself is still worth returning.
        nextDoseAt = null;
      }
    }
    return c.json(present(medication, nextDoseAt));
  });

  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    const medication = isUuid(id) ? await prisma.medication.findUnique({ where: { id } }) : null;
    if (!medication) throw notFound('Medication', id);
    // Recorded first: deliveries check this status, so no reminder goes out from here on, even if
    // Temporal cannot be told right now.
    const cancelled = await prisma.medication.update({ where: { id }, data: { status: 'cancelled' } });
    try {
      await temporal.workflow.getHandle(medication.workflowId).cancel();
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
