/**
 * Caregiver shifts: POST creates the row and starts workflow `shift:<id>`; PATCH assigns,
 * reassigns, unassigns or swaps assignees with another shift, writing the rows and handing each
 * running workflow its new snapshot as an Update inside one transaction (a swap changes both or
 * neither); DELETE cancels.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { WorkflowNotFoundError } from '@temporalio/client';
import { shiftSnapshot, shiftWorkflowStart } from '../../activities/shifts.ts';
import { config } from '../../shared/config.ts';
import type { PrismaClient, Shift } from '../../shared/db.ts';
import { shiftWorkflowId } from '../../shared/ids.ts';
import { shiftChangedUpdate, type ShiftReminderStatus } from '../../workflows/shift-messages.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, ProblemError, unavailable, validationFailed, type FieldError } from '../problem.ts';
import { createShiftBody, updateShiftBody } from '../scheduling-schemas.ts';
import { isUuid, readJson } from '../validation.ts';
import { startWorkflow, updateWorkflow } from '../workflow-calls.ts';

function present(s: Shift, workflow: ShiftReminderStatus | null) {
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
    next: workflow?.next ?? null,
    remindedAssignees: workflow?.remindedAssignees ?? [],
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
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

export function shiftRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();

  async function load(id: string): Promise<Shift> {
    const shift = isUuid(id) ? await prisma.shift.findUnique({ where: { id } }) : null;
    if (!shift) throw notFound('Shift', id);
    return shift;
  }

  app.post('/', async (c) => {
    const body = await readJson(c, createShiftBody);
    const circle = await prisma.careCircle.findUnique({ where: { id: body.careCircleId } });
    if (!circle) throw notFound('Care circle', body.careCircleId);
    const errors: FieldError[] = [];
    if (Date.parse(body.startsAt) <= Date.now()) errors.push({ path: 'startsAt', message: 'must be in the future' });
    if (body.assigneeId) errors.push(...(await checkAssignee(prisma, circle.id, body.assigneeId)));
    if (errors.length > 0) throw validationFailed(errors);

    const cfg = config();
    const id = randomUUID();
    const shift = await prisma.shift.create({
      data: {
        id,
        careCircleId: circle.id,
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
      throw unavailable(`Could not start the shift workflow: ${(err as Error).message}`);
    }
    return c.json({ id, workflowId: shift.workflowId }, 201);
  });

  app.get('/:id', async (c) => {
    const shift = await load(c.req.param('id'));
    let workflow: ShiftReminderStatus | null = null;
    if (shift.status === 'scheduled') {
      try {
        workflow = await temporal.workflow.getHandle(shift.workflowId).query<ShiftReminderStatus>('status');
      } catch {
        // The workflow's view is a nicety; the shift itself is still worth returning.
      }
    }
    return c.json(present(shift, workflow));
  });

  app.patch('/:id', async (c) => {
    const body = await readJson(c, updateShiftBody);
    const shift = await load(c.req.param('id'));
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
      return c.json({
        ...present(swapped.first, swapped.workflow),
        swappedWith: { id: swapped.second.id, assigneeId: swapped.second.assigneeId },
      });
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
    return c.json(present(updated, workflow));
  });

  app.delete('/:id', async (c) => {
    const shift = await load(c.req.param('id'));
    if (shift.status === 'completed') throw new ProblemError(409, 'conflict', 'Conflict', 'The shift is over');
    const cancelled = await prisma.shift.update({
      where: { id: shift.id },
      data: { status: 'cancelled', version: { increment: shift.status === 'cancelled' ? 0 : 1 } },
    });
    try {
      await temporal.workflow.getHandle(shift.workflowId).cancel();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        throw unavailable(
          `Shift cancelled, but its workflow could not be stopped yet; retry the request: ${(err as Error).message}`,
        );
      }
    }
    return c.json(present(cancelled, null));
  });

  return app;
}
