/**
 * Caregiver shifts: POST creates the row and starts workflow `shift:<id>`; PATCH assigns,
 * reassigns, unassigns or swaps assignees with another shift, writing the rows and handing each
 * running workflow its new snapshot as an Update inside one transaction (a swap changes both or
 * neither); DELETE cancels. Caregivers manage shifts; every member of the circle sees them.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { config } from '../../shared/config.ts';
import type { PrismaClient, Shift } from '../../shared/db.ts';
import { shiftWorkflowId } from '../../shared/ids.ts';
import { shiftSnapshot } from '../../shared/snapshots.ts';
import { shiftChangedUpdate, type ShiftReminderStatus } from '../../workflows/shift-messages.ts';
import { shiftWorkflowStart } from '../../workflows/shift-start.ts';
import { authorize } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import { createRouter, type AppEnv, type Router } from '../openapi.ts';
import { pageWindow } from '../pagination.ts';
import { notFound, ProblemError, unavailable, validationFailed, type FieldError } from '../problem.ts';
import { isUuid } from '../validation.ts';
import { cancelWorkflow, queryWorkflowStatus, startWorkflow, updateWorkflow } from '../workflow-calls.ts';
import { cancelShift, createShift, getShift, listShifts, updateShift } from './shifts.routes.ts';

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
    const workflow =
      shift.status === 'scheduled' ? await queryWorkflowStatus<ShiftReminderStatus>(temporal, shift.workflowId) : null;
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
    await cancelWorkflow(
      temporal,
      shift.workflowId,
      'Shift cancelled, but its workflow could not be stopped yet; retry the request',
    );
    return c.json(present(cancelled, null), 200);
  });

  return app;
}
