/**
 * Medications and their doses: the handlers of the routes in medications.routes.ts. Each
 * medication has a reminder workflow that owns its schedule: edits, pauses and acknowledgements
 * are Updates the workflow validates and applies. Caregivers manage medications; the patient and
 * caregivers record doses; every member of the circle reads.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { config } from '../../shared/config.ts';
import type { Medication, Prisma, PrismaClient } from '../../shared/db.ts';
import { medicationWorkflowId } from '../../shared/ids.ts';
import { dayStart } from '../../shared/local-days.ts';
import { nextDoseAfter, scheduleType, upcomingDoses, type MedicationSchedule } from '../../shared/schedule.ts';
import {
  acknowledgeDoseUpdate,
  changeScheduleUpdate,
  logAsNeededDoseUpdate,
  pauseUpdate,
  resumeUpdate,
  type OpenDoseView,
  type UpdateRejection,
} from '../../workflows/medication-messages.ts';
import { medicationWorkflowStart } from '../../workflows/medication-start.ts';
import { assertAllowed, authorize } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import {
  medicationPageWithRole,
  medicationWithRole,
  upcomingDosesMemo,
  type MedicationRow,
} from '../medication-reads.ts';
import type { ScheduleBody } from '../medication-schemas.ts';
import { createRouter, type Router } from '../openapi.ts';
import { decodeCursor, pageWindow } from '../pagination.ts';
import { notFound, ProblemError, unavailable, validationFailed } from '../problem.ts';
import { isUuid } from '../validation.ts';
import { cancelWorkflow, executeUpdate, startWorkflow, type UpdateAnswers } from '../workflow-calls.ts';
import {
  acknowledgeDose,
  createMedication,
  deleteMedication,
  doseHistory,
  getMedication,
  listMedications,
  logDose,
  patchMedication,
  pauseMedication,
  resumeMedication,
  type MedicationView,
} from './medications.routes.ts';

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

/** How the schedule answers an Update it does not take: its reason for refusing (4xx), or 503. */
const scheduleUpdateAnswers: UpdateAnswers = {
  refused(err) {
    if (!(err.cause instanceof ApplicationFailure))
      return unavailable('Could not reach the schedule; retry shortly', err);
    const type = (err.cause.type ?? 'InvalidRequest') as UpdateRejection;
    const status = REJECTION_STATUS[type] ?? 422;
    const slug = type.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
    return new ProblemError(status, slug, 'Request refused by the schedule', err.cause.message);
  },
  notRunning: () =>
    new ProblemError(409, 'schedule-not-running', 'Schedule not running', 'This medication has no running schedule'),
  unreachable: 'Could not reach the schedule; retry shortly',
};

/** The schedule as stored: kind made explicit, time zone resolved to the patient's when not given. */
function resolveSchedule(body: ScheduleBody, patientTimezone: string): MedicationSchedule {
  return { ...body, type: body.type ?? 'times', timezone: body.timezone ?? patientTimezone } as MedicationSchedule;
}

/**
 * The medication as reads see it: the row and the workflow's projection in it (status, next and
 * last dose, open doses), written by the workflow after every change. Upcoming doses are a pure
 * function of the schedule. No request waits for Temporal, and reads keep answering while it is
 * unavailable.
 */
function present(medication: MedicationRow): MedicationView {
  const schedule = medication.schedule as unknown as MedicationSchedule;
  return {
    id: medication.id,
    careCircleId: medication.careCircleId,
    patientId: medication.patientId,
    name: medication.name,
    dosage: medication.dosage,
    schedule,
    status: medication.status,
    workflowId: medication.workflowId,
    escalationWindowMinutes: medication.escalationWindowMinutes,
    pillCount: medication.pillCount,
    pillsPerDose: medication.pillsPerDose,
    refillThresholdDays: medication.refillThresholdDays,
    nextDoseAt: medication.status === 'active' ? (medication.nextDoseAt?.toISOString() ?? null) : null,
    upcomingDoses: upcomingOf(medication, schedule),
    openDoses: medication.status === 'active' ? (medication.openDoses as unknown as OpenDoseView[]) : [],
    lastDoseAt: medication.lastDoseAt?.toISOString() ?? null,
    createdAt: medication.createdAt.toISOString(),
  };
}

/** The next doses from the projection's next dose on (or from now, before the workflow wrote one). */
function upcomingOf(medication: MedicationRow, schedule: MedicationSchedule): string[] {
  if (medication.status !== 'active') return [];
  if (medication.nextDoseAt) return upcomingDosesMemo(schedule, medication.nextDoseAt.getTime() - 1, UPCOMING);
  return upcomingDoses(schedule, Date.now(), UPCOMING).map((d) => d.toISOString());
}

/**
 * Not a create the API gave up on: its caller was told nothing was created, and the row stays
 * only until the reconciliation has made sure its workflow is gone (activities/maintenance.ts).
 */
const notAbandoned = {
  OR: [{ workflowSync: null }, { workflowSync: 'cancelling' }, { status: { not: 'cancelled' } }],
} satisfies Prisma.MedicationWhereInput;

async function loadMedication(prisma: PrismaClient, id: string): Promise<Medication> {
  const medication = isUuid(id) ? await prisma.medication.findFirst({ where: { id, ...notAbandoned } }) : null;
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

export function medicationRoutes({ prisma, temporal, taskQueue }: ApiDeps): Router {
  const app = createRouter();
  const handleOf = (m: Medication): WorkflowHandle => temporal.workflow.getHandle(m.workflowId);

  /**
   * The medication the path names, if the caller's role in its circle allows `action`; to anyone
   * outside the circle it does not exist (404), before anything is written or asked of Temporal.
   */
  async function authorized(c: Parameters<typeof authorize>[0], id: string, action: Parameters<typeof authorize>[3]) {
    const medication = await loadMedication(prisma, id);
    const member = await authorize(c, prisma, medication.careCircleId, action, { kind: 'Medication', id });
    return { medication, member };
  }

  /**
   * Doses are recorded by the patient themself or a caregiver: another patient of the same circle
   * may not record this one's doses.
   */
  async function authorizedToRecord(c: Parameters<typeof authorize>[0], id: string) {
    const { medication, member } = await authorized(c, id, 'recordDoses');
    if (member.role === 'patient' && member.id !== medication.patientId) {
      throw new ProblemError(
        403,
        'forbidden',
        'Forbidden',
        "Only this medication's patient or a caregiver may record its doses",
      );
    }
    return { medication, member };
  }

  /** An Update of the medication's workflow; the workflow writes its projection before it answers. */
  const runUpdate = <Ret, Args extends unknown[]>(m: Medication, update: UpdateDefinition<Ret, Args>, ...args: Args) =>
    executeUpdate(temporal, m.workflowId, update, args, scheduleUpdateAnswers);

  /** The medication as it is now (after an Update, the workflow has written its projection). */
  const view = async (id: string) => present(await loadMedication(prisma, id));

  /**
   * Nothing half-done: a medication whose workflow did not start must not exist. A start that
   * failed may still reach Temporal later (a timeout: the request may be in flight), so the row
   * stays, cancelled, `starting` and hidden from every read, until the reconciliation has made sure
   * past a grace period that no workflow runs for it and removes it (activities/maintenance.ts).
   * A workflow that did start is told to stop now.
   */
  async function abandonCreate(medication: Medication): Promise<void> {
    await prisma.medication.update({ where: { id: medication.id }, data: { status: 'cancelled' } });
    try {
      await handleOf(medication).cancel();
    } catch {
      // Not there (yet), or Temporal unreachable: the reconciliation tries again.
    }
  }

  app.openapi(createMedication, async (c) => {
    const body = c.req.valid('json');
    // Not a member of the circle (or no such circle): 404; not a caregiver: 403.
    await authorize(c, prisma, body.careCircleId, 'manageMedications');
    const patient = await prisma.member.findUnique({ where: { id: body.patientId } });
    if (!patient || patient.careCircleId !== body.careCircleId) {
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
        careCircleId: body.careCircleId,
        patientId: patient.id,
        name: body.name,
        dosage: body.dosage ?? null,
        schedule: schedule as object,
        workflowId,
        // Until Temporal confirms the start; the reconciliation leaves such a row to us.
        workflowSync: 'starting',
        // What reads show until the workflow writes its first projection (revision 0 yields to it).
        nextDoseAt: nextDose,
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
      await startWorkflow(temporal, medicationWorkflowStart(medication, taskQueue, config().DOSE_ARM_LEAD_SECONDS));
    } catch (err) {
      await abandonCreate(medication);
      throw unavailable('Could not start the reminder workflow; nothing was created, retry shortly', err);
    }
    // The medication exists and its workflow runs: if the database goes away just now, the flag is
    // the reconciliation's to clear (it keeps a starting row whose workflow runs), and the caller
    // must hear 201, not a 503 that would make them create the medication twice.
    await prisma.medication
      .updateMany({ where: { id, workflowSync: 'starting' }, data: { workflowSync: null } })
      .catch(() => undefined);
    return c.json({ id: medication.id, workflowId, nextDoseAt: nextDose?.toISOString() ?? null }, 201);
  });

  app.openapi(listMedications, async (c) => {
    const { careCircleId, limit, cursor } = c.req.valid('query');
    let paging: ReturnType<typeof pageWindow<'createdAt'>>;
    try {
      paging = pageWindow('createdAt', 'desc', { limit, cursor });
    } catch (err) {
      // An outsider's bad cursor is still the circle's 404, as the membership is checked first.
      await authorize(c, prisma, careCircleId, 'view');
      throw err;
    }
    // As authorize(c, prisma, careCircleId, 'view') and the page, in one query.
    const found = await medicationPageWithRole(
      prisma,
      careCircleId,
      c.get('principal').userId,
      decodeCursor(cursor),
      paging.take,
    );
    if (!found) throw notFound('Care circle', careCircleId);
    assertAllowed(found.role, 'view');
    const page = paging.page(found.rows);
    return c.json(
      {
        items: page.items.map((m) => ({
          id: m.id,
          name: m.name,
          dosage: m.dosage,
          patientId: m.patientId,
          status: m.status,
          createdAt: m.createdAt.toISOString(),
        })),
        nextCursor: page.nextCursor,
      },
      200,
    );
  });

  app.openapi(getMedication, async (c) => {
    const { id } = c.req.valid('param');
    // As authorized(c, id, 'view'), in one query: not a member of its circle is the same 404.
    const found = isUuid(id) ? await medicationWithRole(prisma, id, c.get('principal').userId) : null;
    if (!found?.role) throw notFound('Medication', id);
    assertAllowed(found.role, 'view');
    return c.json(present(found.medication), 200);
  });

  app.openapi(patchMedication, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const { medication } = await authorized(c, id, 'manageMedications');
    assertRunning(medication);
    if (body.schedule || body.escalationWindowMinutes !== undefined) {
      const patient = await prisma.member.findUniqueOrThrow({ where: { id: medication.patientId } });
      const schedule = body.schedule ? resolveSchedule(body.schedule, patient.timezone) : undefined;
      if (schedule && !nextDoseAfter(schedule, Date.now()) && scheduleType(schedule) !== 'as_needed') {
        throw validationFailed([{ path: 'schedule', message: 'has no dose in the future (check its dates)' }]);
      }
      // The workflow owns the schedule: it validates the change, applies it and saves it.
      await runUpdate(medication, changeScheduleUpdate, {
        ...(schedule ? { schedule } : {}),
        ...(body.escalationWindowMinutes !== undefined
          ? { escalationWindowMinutes: body.escalationWindowMinutes }
          : {}),
      });
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
    return c.json(await view(medication.id), 200);
  });

  app.openapi(pauseMedication, async (c) => {
    const { medication } = await authorized(c, c.req.valid('param').id, 'manageMedications');
    assertRunning(medication);
    await runUpdate(medication, pauseUpdate);
    return c.json(await view(medication.id), 200);
  });

  app.openapi(resumeMedication, async (c) => {
    const { medication } = await authorized(c, c.req.valid('param').id, 'manageMedications');
    assertRunning(medication);
    await runUpdate(medication, resumeUpdate);
    return c.json(await view(medication.id), 200);
  });

  app.openapi(acknowledgeDose, async (c) => {
    const body = c.req.valid('json');
    const { medication, member } = await authorizedToRecord(c, c.req.valid('param').id);
    assertRunning(medication);
    const result = await runUpdate(medication, acknowledgeDoseUpdate, {
      doseAt: body.doseAt,
      action: body.action,
      memberId: member.id,
      ...(body.snoozeMinutes !== undefined ? { snoozeMinutes: body.snoozeMinutes } : {}),
    });
    return c.json(result, 200);
  });

  /** As-needed (PRN) doses: logged when taken, never reminded. */
  app.openapi(logDose, async (c) => {
    const body = c.req.valid('json');
    const { medication, member } = await authorizedToRecord(c, c.req.valid('param').id);
    assertRunning(medication);
    const result = await runUpdate(medication, logAsNeededDoseUpdate, {
      memberId: member.id,
      ...(body.takenAt ? { takenAt: body.takenAt } : {}),
    });
    return c.json(result, 201);
  });

  /** Dose history: what happened to each dose and who acknowledged it. */
  app.openapi(doseHistory, async (c) => {
    const { from, to, limit, cursor } = c.req.valid('query');
    const { medication } = await authorized(c, c.req.valid('param').id, 'view');
    const zone = (medication.schedule as unknown as MedicationSchedule).timezone;
    const paging = pageWindow('scheduledAt', 'desc', { limit, cursor });
    const rows = await prisma.doseEvent.findMany({
      where: {
        medicationId: medication.id,
        scheduledAt: {
          ...(from ? { gte: dayStart(from, zone) } : {}),
          ...(to ? { lt: dayStart(to, zone, 1) } : {}),
        },
        ...paging.where,
      },
      include: { acknowledgedBy: { select: { id: true, name: true, role: true } } },
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json(
      {
        items: page.items.map((d) => ({
          doseAt: d.scheduledAt.toISOString(),
          status: d.status,
          source: d.source,
          remindedAt: d.remindedAt?.toISOString() ?? null,
          acknowledgedAt: d.acknowledgedAt?.toISOString() ?? null,
          acknowledgedBy: d.acknowledgedBy,
          snoozedUntil: d.snoozedUntil?.toISOString() ?? null,
          late: d.late,
        })),
        nextCursor: page.nextCursor,
      },
      200,
    );
  });

  app.openapi(deleteMedication, async (c) => {
    const { medication } = await authorized(c, c.req.valid('param').id, 'manageMedications');
    // Recorded first: deliveries check this status, so no reminder goes out from here on, even if
    // Temporal cannot be told right now; `cancelling` tells the reconciliation to finish the
    // cancel if this request cannot, and never to restart the workflow.
    const marked = await prisma.medication.updateMany({
      where: { id: medication.id, OR: [{ workflowSync: null }, { workflowSync: 'cancelling' }] },
      data: { status: 'cancelled', workflowSync: 'cancelling' },
    });
    if (marked.count === 0) {
      throw new ProblemError(
        409,
        'schedule-starting',
        'Schedule starting',
        'This medication is still being created; retry shortly',
      );
    }
    await cancelWorkflow(
      temporal,
      medication.workflowId,
      'Medication cancelled; its workflow could not be stopped yet and will be stopped automatically (retrying the request also does it)',
    );
    await prisma.medication.updateMany({
      where: { id: medication.id, workflowSync: 'cancelling' },
      data: { workflowSync: null },
    });
    const cancelled = await loadMedication(prisma, medication.id);
    return c.json(present(cancelled), 200);
  });

  return app;
}
