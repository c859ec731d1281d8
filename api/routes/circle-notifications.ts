/**
 * Under /v1/care-circles: messages to the whole circle (fan-out by workflow
 * `circle-notification:<id>`), their progress, and each member's notification preferences
 * (quiet hours, channels).
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { CircleNotification, CircleNotificationRecipient } from '../../shared/db.ts';
import { config } from '../../shared/config.ts';
import { circleNotificationWorkflowId } from '../../shared/ids.ts';
import { CareCircleId } from '../../shared/search-attributes.ts';
import { PRIORITY, TASK_QUEUES } from '../../shared/task-queues.ts';
import type { CircleNotificationProgress, RecipientProgress } from '../../workflows/circle-notification-messages.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, unavailable } from '../problem.ts';
import { createCircleNotificationBody, updateMemberPreferencesBody } from '../scheduling-schemas.ts';
import { isUuid, readJson } from '../validation.ts';
import { startWorkflow } from '../workflow-calls.ts';

/** Where circle notification workflows (and their batches) run. */
export const CIRCLE_NOTIFICATION_TASK_QUEUE = TASK_QUEUES.notifications;

function fromDatabase(
  notification: CircleNotification,
  rows: CircleNotificationRecipient[],
): CircleNotificationProgress {
  const recipients: RecipientProgress[] = rows.map((r) => ({
    memberId: r.memberId,
    status: r.status,
    deferredUntil: r.deferredUntil?.toISOString() ?? null,
    deliveredVia: r.deliveredVia,
    fellBack: r.fellBack,
    error: r.error,
  }));
  const count = (s: RecipientProgress['status']) => recipients.filter((r) => r.status === s).length;
  return {
    notificationId: notification.id,
    state: notification.status,
    total: recipients.length,
    delivered: count('delivered'),
    deferred: count('deferred'),
    failed: count('failed'),
    pending: count('pending'),
    recipients,
  };
}

export function circleNotificationRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();

  async function circleOr404(id: string) {
    const circle = isUuid(id) ? await prisma.careCircle.findUnique({ where: { id } }) : null;
    if (!circle) throw notFound('Care circle', id);
    return circle;
  }

  app.post('/:id/notifications', async (c) => {
    const body = await readJson(c, createCircleNotificationBody);
    const circle = await circleOr404(c.req.param('id'));
    const cfg = config();
    const id = randomUUID();
    const workflowId = circleNotificationWorkflowId(id);
    const urgent = body.urgent ?? false;
    await prisma.circleNotification.create({
      data: { id, careCircleId: circle.id, title: body.title, body: body.body, urgent, workflowId },
    });
    try {
      await startWorkflow(temporal, {
        workflowId,
        workflowType: 'circleNotificationWorkflow',
        taskQueue: CIRCLE_NOTIFICATION_TASK_QUEUE,
        args: [
          {
            notificationId: id,
            urgent,
            batchSize: cfg.CIRCLE_NOTIFICATION_BATCH_SIZE,
            concurrency: cfg.CIRCLE_NOTIFICATION_CONCURRENCY,
          },
        ],
        typedSearchAttributes: [{ key: CareCircleId, value: circle.id }],
        priority: { priorityKey: urgent ? PRIORITY.urgent : PRIORITY.low },
      });
    } catch (err) {
      await prisma.circleNotification.delete({ where: { id } });
      throw unavailable(`Could not start the notification workflow: ${(err as Error).message}`);
    }
    return c.json({ id, workflowId }, 202);
  });

  app.get('/:id/notifications/:notificationId', async (c) => {
    const careCircleId = c.req.param('id');
    const notificationId = c.req.param('notificationId');
    const notification = isUuid(notificationId)
      ? await prisma.circleNotification.findUnique({ where: { id: notificationId } })
      : null;
    if (!notification || notification.careCircleId !== careCircleId) throw notFound('Notification', notificationId);

    let progress: CircleNotificationProgress | null = null;
    let source: 'workflow' | 'database' = 'workflow';
    if (notification.status === 'sending') {
      try {
        progress = await temporal.workflow
          .getHandle(notification.workflowId)
          .query<CircleNotificationProgress>('progress');
      } catch {
        // No worker to answer, or Temporal is down: what the activities recorded is close behind.
      }
    }
    if (!progress) {
      source = 'database';
      const rows = await prisma.circleNotificationRecipient.findMany({
        where: { notificationId },
        orderBy: { memberId: 'asc' },
      });
      progress = fromDatabase(notification, rows);
    }
    return c.json({
      id: notification.id,
      careCircleId,
      title: notification.title,
      body: notification.body,
      urgent: notification.urgent,
      workflowId: notification.workflowId,
      createdAt: notification.createdAt.toISOString(),
      completedAt: notification.completedAt?.toISOString() ?? null,
      source,
      ...progress,
    });
  });

  /** A member's notification preferences: quiet hours ({start, end} as local HH:MM, or null) and channels. */
  app.patch('/:id/members/:memberId', async (c) => {
    const body = await readJson(c, updateMemberPreferencesBody);
    const circle = await circleOr404(c.req.param('id'));
    const memberId = c.req.param('memberId');
    const member = isUuid(memberId) ? await prisma.member.findUnique({ where: { id: memberId } }) : null;
    if (!member || member.careCircleId !== circle.id) throw notFound('Member', memberId);
    const updated = await prisma.member.update({
      where: { id: member.id },
      data: {
        ...(body.quietHours !== undefined
          ? { quietHoursStart: body.quietHours?.start ?? null, quietHoursEnd: body.quietHours?.end ?? null }
          : {}),
        ...(body.channels ? { channels: body.channels } : {}),
      },
    });
    return c.json({
      id: updated.id,
      channels: updated.channels,
      quietHours:
        updated.quietHoursStart && updated.quietHoursEnd
          ? { start: updated.quietHoursStart, end: updated.quietHoursEnd }
          : null,
      timezone: updated.timezone,
    });
  });

  return app;
}
