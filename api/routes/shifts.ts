/**
 * Caregiver shifts: POST creates the row and starts workflow `shift:<id>`; PATCH assigns,
 * reassigns, unassigns or swaps assignees with another shift, writing the rows and handing each
 * running workflow its new snapshot as an Update inside one transaction (a swap changes both or
 * neither); DELETE cancels. Caregivers manage shifts; every member of the circle sees them.
 */
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Context } from 'hono';
import { config } from '../../shared/config.ts';
import type { PrismaClient, Shift } from '../../shared/db.ts';
import { shiftWorkflowId } from '../../shared/ids.ts';
import { shiftSnapshot } from '../../shared/snapshots.ts';
import { shiftChangedUpdate, type ShiftReminderStatus } from '../../workflows/shift-messages.ts';
import { shiftWorkflowStart } from '../../workflows/shift-start.ts';
import { authorize } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import {
  beyondSchema,
  createRouter,
  jsonBody,
  jsonResponse,
  problems,
  uuidParams,
  type AppEnv,
  type Router,
} from '../openapi.ts';
import { pageSchema, pageWindow } from '../pagination.ts';
import { notFound, ProblemError, unavailable, validationFailed, type FieldError } from '../problem.ts';
import { circleListQuery, createShiftBody, updateShiftBody } from '../scheduling-schemas.ts';
import { isUuid } from '../validation.ts';
import { startWorkflow, updateWorkflow } from '../workflow-calls.ts';

const ShiftSummarySchema = z
  .object({
    id: z.uuid(),
    careCircleId: z.uuid(),
    title: z.string().nullable(),
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    assigneeId: z.uuid().nullable().openapi({ description: 'The member taking the shift; null while unassigned' }),
    reminderLeadMinutes: z.number().int(),
    unassignedAlertMinutes: z.number().int(),
    status: z.enum(['scheduled', 'cancelled', 'completed']),
    version: z.number().int().openapi({ description: 'Bumped by every change (assign, reassign, swap)' }),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('ShiftSummary');

const ShiftSchema = ShiftSummarySchema.extend({
  next: z
    .object({
      action: z.enum(['remind_assignee', 'alert_circle', 'start', 'end']),
      at: z.iso.datetime(),
    })
    .nullable()
    .openapi({ description: "What the shift's workflow does next, and when; null when unknown or over" }),
  remindedAssignees: z.array(z.uuid()).openapi({ description: 'Assignees reminded so far' }),
}).openapi('Shift');

const ShiftChangeSchema = ShiftSchema.extend({
  swappedWith: z
    .object({ id: z.uuid(), assigneeId: z.uuid().nullable() })
    .optional()
    .openapi({ description: 'After a swap: the other shift and its new assignee' }),
}).openapi('ShiftChange');

const CreatedShiftSchema = z.object({ id: z.uuid(), workflowId: z.string() }).openapi('CreatedShift');

const tags = ['Shifts'];
const params = uuidParams('id');

const createShift = createRoute({
  method: 'post',
  path: '/',
  tags,
  summary: 'Create a caregiver shift and start its reminders (caregivers)',
  request: { body: jsonBody(createShiftBody) },
  responses: {
    201: jsonResponse(CreatedShiftSchema, 'Created; its workflow is running'),
    ...problems(
      beyondSchema(
        400,
        'startsAt: in the future',
        'endsAt: after startsAt, at most 7 days later',
        'assigneeId: a caregiver or family member of the circle',
      ),
      400,
      403,
      404,
      409,
      413,
      415,
      422,
    ),
  },
});

const listShifts = createRoute({
  method: 'get',
  path: '/',
  tags,
  summary: "A care circle's shifts, by start time (earliest first, then id)",
  request: { query: circleListQuery },
  responses: {
    200: jsonResponse(pageSchema(ShiftSummarySchema, 'ShiftPage'), 'A page of shifts'),
    ...problems(400, 404),
  },
});

const getShift = createRoute({
  method: 'get',
  path: '/{id}',
  tags,
  summary: 'A shift, with what its workflow does next',
  request: { params },
  responses: { 200: jsonResponse(ShiftSchema, 'The shift'), ...problems(404) },
});

const updateShift = createRoute({
  method: 'patch',
  path: '/{id}',
  tags,
  summary: 'Assign, reassign or unassign a shift, or swap assignees with another shift (caregivers)',
  request: { params, body: jsonBody(updateShiftBody) },
  responses: {
    200: jsonResponse(ShiftChangeSchema, 'Changed; the running workflows have taken the change'),
    ...problems(
      beyondSchema(
        400,
        'assigneeId: a caregiver or family member of the circle',
        'swapWithShiftId: another shift of the same circle',
      ),
      400,
      403,
      404,
      409,
      413,
      415,
    ),
  },
});

const cancelShift = createRoute({
  method: 'delete',
  path: '/{id}',
  tags,
  summary: 'Cancel a shift and its reminders (caregivers)',
  request: { params },
  responses: {
    200: jsonResponse(ShiftSchema, 'Cancelled (again, if it already was)'),
    ...problems(403, 404, 409),
  },
});

function summary(s: Shift) {
  return {
    id: s.id,
    careCircleId: s.careCircleId,
    title: s.title,
    startsAt: s.startsAt.toISOString(),
    endsAt: s.endsAt.toISOString(),
    assigneeId: s.assigneeId,
    reminderLeadMinutes: s.reminderLeadMinutes,
    unassignedAlertMinutes: s.unassignedAlertMinutes,
    status: s.status,
    version: s.version,
    workflowId: s.workflowId,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

function present(s: Shift, workflow: ShiftReminderStatus | null) {
  return { ...summary(s), next: workflow?.next ?? null, remindedAssignees: workflow?.remindedAssignees ?? [] };
}

/** Who may take a shift: a caregiver or family member of the same circle. */
async function checkAssignee(
  prisma: PrismaClient,
  careCircleId: string,
  assigneeId: string,
  path = 'assigneeId',
): Promise<FieldError[]> {
  const member = await prisma.member.findUnique({ where: { id: assigneeId } });
  if (!member || member.careCircleId !== careCircleId)
    return [{ path, message: 'must be a member of the care circle' }];
  if (member.role === 'patient') return [{ path, message: 'must be a caregiver or family member, not the patient' }];
  return [];
}

/** Changes are allowed until the shift is over. */
function assertChangeable(shift: Shift, what = 'The shift'): void {
  if (shift.status !== 'scheduled') throw new ProblemError(409, 'conflict', 'Conflict', `${what} is ${shift.status}`);
  if (shift.endsAt.getTime() <= Date.now()) throw new ProblemError(409, 'conflict', 'Conflict', `${what} is over`);
}

export function shiftRoutes({ prisma, temporal }: ApiDeps): Router {
  const app = createRouter();

  /** The shift, if the caller's role in its circle allows `action`; 404 to non-members. */
  async function load(c: Context<AppEnv>, id: string, action: 'view' | 'manageCare'): Promise<Shift> {
    const shift = isUuid(id) ? await prisma.shift.findUnique({ where: { id } }) : null;
    if (!shift) throw notFound('Shift', id);
    await authorize(c, prisma, shift.careCircleId, action, { kind: 'Shift', id });
    return shift;
  }

  app.openapi(createShift, async (c) => {
    const body = c.req.valid('json');
    const careCircleId = body.careCircleId;
    await authorize(c, prisma, careCircleId, 'manageCare');
    const errors: FieldError[] = [];
    if (Date.parse(body.startsAt) <= Date.now()) errors.push({ path: 'startsAt', message: 'must be in the future' });
    if (body.assigneeId) errors.push(...(await checkAssignee(prisma, careCircleId, body.assigneeId)));
    if (errors.length > 0) throw validationFailed(errors);

    const cfg = config();
    const id = randomUUID();
    const shift = await prisma.shift.create({
      data: {
        id,
        careCircleId,
        title: body.title ?? null,
        startsAt: new Date(body.startsAt),
        endsAt: new Date(body.endsAt),
        assigneeId: body.assigneeId ?? null,
        reminderLeadMinutes: body.reminderLeadMinutes ?? cfg.SHIFT_REMINDER_LEAD_MINUTES,
        unassignedAlertMinutes: body.unassignedAlertMinutes ?? cfg.SHIFT_UNASSIGNED_ALERT_MINUTES,
        workflowId: shiftWorkflowId(id),
      },
    });
    try {
      await startWorkflow(temporal, shiftWorkflowStart(shift));
    } catch (err) {
      await prisma.shift.delete({ where: { id } });
      throw unavailable('Could not start the shift workflow; nothing was created, retry shortly', err);
    }
    return c.json({ id, workflowId: shift.workflowId }, 201);
  });

  app.openapi(listShifts, async (c) => {
    const { careCircleId, limit, cursor } = c.req.valid('query');
    await authorize(c, prisma, careCircleId, 'view');
    const paging = pageWindow('startsAt', 'asc', { limit, cursor });
    const rows = await prisma.shift.findMany({
      where: { careCircleId, ...paging.where },
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json({ items: page.items.map(summary), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(getShift, async (c) => {
    const shift = await load(c, c.req.valid('param').id, 'view');
    let workflow: ShiftReminderStatus | null = null;
    if (shift.status === 'scheduled') {
      try {
        workflow = await temporal.workflow.getHandle(shift.workflowId).query<ShiftReminderStatus>('status');
      } catch {
        // The workflow's view is a nicety; the shift itself is still worth returning.
      }
    }
    return c.json(present(shift, workflow), 200);
  });

  app.openapi(updateShift, async (c) => {
    const body = c.req.valid('json');
    const shift = await load(c, c.req.valid('param').id, 'manageCare');
    assertChangeable(shift);

    if (body.swapWithShiftId !== undefined) {
      const otherId = body.swapWithShiftId;
      const other = otherId === shift.id ? null : await prisma.shift.findUnique({ where: { id: otherId } });
      if (!other || other.careCircleId !== shift.careCircleId) {
        throw validationFailed([{ path: 'swapWithShiftId', message: 'must be another shift of the same care circle' }]);
      }
      assertChangeable(other, 'The other shift');
      const swapped = await prisma.$transaction(
        async (tx) => {
          // Both rows locked in a fixed order, so two swaps of the same pair cannot deadlock.
          const ids = [shift.id, other.id].sort();
          await tx.$queryRaw`SELECT id FROM shifts WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`;
          const [a, b] = await Promise.all([
            tx.shift.findUniqueOrThrow({ where: { id: shift.id } }),
            tx.shift.findUniqueOrThrow({ where: { id: other.id } }),
          ]);
          if (a.assigneeId === b.assigneeId) {
            throw new ProblemError(409, 'conflict', 'Conflict', 'Both shifts have the same assignee: nothing to swap');
          }
          const [first, second] = await Promise.all([
            tx.shift.update({ where: { id: a.id }, data: { assigneeId: b.assigneeId, version: { increment: 1 } } }),
            tx.shift.update({ where: { id: b.id }, data: { assigneeId: a.assigneeId, version: { increment: 1 } } }),
          ]);
          const [workflow] = await Promise.all([
            updateWorkflow(temporal, first.workflowId, shiftChangedUpdate, [shiftSnapshot(first)]),
            updateWorkflow(temporal, second.workflowId, shiftChangedUpdate, [shiftSnapshot(second)]),
          ]);
          return { first, second, workflow };
        },
        { timeout: 15_000 },
      );
      return c.json(
        {
          ...present(swapped.first, swapped.workflow),
          swappedWith: { id: swapped.second.id, assigneeId: swapped.second.assigneeId },
        },
        200,
      );
    }

    const assigneeId = body.assigneeId ?? null;
    if (assigneeId) {
      const errors = await checkAssignee(prisma, shift.careCircleId, assigneeId);
      if (errors.length > 0) throw validationFailed(errors);
    }
    const { updated, workflow } = await prisma.$transaction(
      async (tx) => {
        const updated = await tx.shift.update({
          where: { id: shift.id },
          data: { assigneeId, version: { increment: 1 } },
        });
        const workflow = await updateWorkflow(temporal, updated.workflowId, shiftChangedUpdate, [
          shiftSnapshot(updated),
        ]);
        return { updated, workflow };
      },
      { timeout: 15_000 },
    );
    return c.json(present(updated, workflow), 200);
  });

  app.openapi(cancelShift, async (c) => {
    const shift = await load(c, c.req.valid('param').id, 'manageCare');
    if (shift.status === 'completed') throw new ProblemError(409, 'conflict', 'Conflict', 'The shift is over');
    const cancelled = await prisma.shift.update({
      where: { id: shift.id },
      data: { status: 'cancelled', version: { increment: shift.status === 'cancelled' ? 0 : 1 } },
    });
    try {
      await temporal.workflow.getHandle(shift.workflowId).cancel();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        throw unavailable('Shift cancelled, but its workflow could not be stopped yet; retry the request', err);
      }
    }
    return c.json(present(cancelled, null), 200);
  });

  return app;
}
