/**
 * Under /v1/care-circles: messages to the whole circle (fan-out by workflow
 * `circle-notification:<id>`), their progress, and each member's notification preferences
 * (quiet hours, channels). Caregivers and family send messages; every member reads them; members
 * set their own preferences, and caregivers anyone's.
 */
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { CircleNotification, CircleNotificationRecipient } from '../../shared/db.ts';
import { config } from '../../shared/config.ts';
import { circleNotificationWorkflowId } from '../../shared/ids.ts';
import { CareCircleId } from '../../shared/search-attributes.ts';
import { PRIORITY, TASK_QUEUES } from '../../shared/task-queues.ts';
import type { circleNotificationWorkflow } from '../../workflows/circle-notification.ts';
import type { CircleNotificationProgress, RecipientProgress } from '../../workflows/circle-notification-messages.ts';
import { authorize, membershipOf } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import { beyondSchema, createRouter, jsonBody, jsonResponse, problems, uuidParams, type Router } from '../openapi.ts';
import { pageQuery, pageSchema, pageWindow } from '../pagination.ts';
import { notFound, unavailable } from '../problem.ts';
import { channel } from '../schemas.ts';
import { createCircleNotificationBody, updateMemberPreferencesBody } from '../scheduling-schemas.ts';
import { isUuid } from '../validation.ts';
import { startWorkflow } from '../workflow-calls.ts';

/** Where circle notification workflows (and their batches) run. */
export const CIRCLE_NOTIFICATION_TASK_QUEUE = TASK_QUEUES.notifications;

const CircleNotificationSummarySchema = z
  .object({
    id: z.uuid(),
    careCircleId: z.uuid(),
    title: z.string(),
    body: z.string(),
    urgent: z.boolean(),
    state: z.enum(['sending', 'completed']),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
    completedAt: z.iso.datetime().nullable(),
  })
  .openapi('CircleNotificationSummary');

const RecipientProgressSchema = z
  .object({
    memberId: z.uuid(),
    status: z.enum(['pending', 'deferred', 'delivered', 'failed']),
    deferredUntil: z.iso
      .datetime()
      .nullable()
      .openapi({ description: "While deferred: when the member's quiet hours end" }),
    deliveredVia: z.array(channel).openapi({ description: 'Channels the message reached the member on' }),
    fellBack: z.boolean().openapi({ description: 'Email was sent because push failed for good' }),
    error: z.string().nullable(),
  })
  .openapi('CircleNotificationRecipient');

const CircleNotificationSchema = CircleNotificationSummarySchema.extend({
  source: z
    .enum(['workflow', 'database'])
    .openapi({ description: 'Where the progress comes from: the running workflow, or what it recorded' }),
  notificationId: z.uuid(),
  total: z.number().int(),
  delivered: z.number().int(),
  deferred: z.number().int(),
  failed: z.number().int(),
  pending: z.number().int(),
  recipients: z.array(RecipientProgressSchema),
}).openapi('CircleNotification');

const AcceptedCircleNotificationSchema = z
  .object({ id: z.uuid(), workflowId: z.string() })
  .openapi('AcceptedCircleNotification');

const MemberPreferencesSchema = z
  .object({
    id: z.uuid(),
    channels: z.array(channel),
    quietHours: z.object({ start: z.string(), end: z.string() }).nullable(),
    timezone: z.string(),
  })
  .openapi('MemberPreferences');

const tags = ['Circle notifications'];

const sendNotification = createRoute({
  method: 'post',
  path: '/{id}/notifications',
  tags,
  summary: 'Send a message to every member of the circle (caregivers, family)',
  request: { params: uuidParams('id'), body: jsonBody(createCircleNotificationBody) },
  responses: {
    202: jsonResponse(AcceptedCircleNotificationSchema, 'Accepted; its workflow is delivering it'),
    ...problems(400, 403, 404, 409, 413, 415, 422),
  },
});

const listNotifications = createRoute({
  method: 'get',
  path: '/{id}/notifications',
  tags,
  summary: "The circle's messages, newest first (then id)",
  request: { params: uuidParams('id'), query: z.object(pageQuery) },
  responses: {
    200: jsonResponse(pageSchema(CircleNotificationSummarySchema, 'CircleNotificationPage'), 'A page of messages'),
    ...problems(400, 404),
  },
});

const getNotification = createRoute({
  method: 'get',
  path: '/{id}/notifications/{notificationId}',
  tags,
  summary: 'A message and its delivery to each member',
  request: { params: uuidParams('id', 'notificationId') },
  responses: { 200: jsonResponse(CircleNotificationSchema, 'The message and its progress'), ...problems(404) },
});

const updatePreferences = createRoute({
  method: 'patch',
  path: '/{id}/members/{memberId}',
  tags,
  summary: "A member's notification preferences: quiet hours and channels (the member, or caregivers)",
  request: { params: uuidParams('id', 'memberId'), body: jsonBody(updateMemberPreferencesBody) },
  responses: {
    200: jsonResponse(MemberPreferencesSchema, 'The preferences now'),
    ...problems(beyondSchema(400, 'quietHours: end differs from start'), 400, 403, 404, 413, 415),
  },
});

function summary(n: CircleNotification) {
  return {
    id: n.id,
    careCircleId: n.careCircleId,
    title: n.title,
    body: n.body,
    urgent: n.urgent,
    state: n.status,
    workflowId: n.workflowId,
    createdAt: n.createdAt.toISOString(),
    completedAt: n.completedAt?.toISOString() ?? null,
  };
}

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

export function circleNotificationRoutes({ prisma, temporal }: ApiDeps): Router {
  const app = createRouter();

  app.openapi(sendNotification, async (c) => {
    const body = c.req.valid('json');
    const { id: careCircleId } = c.req.valid('param');
    if (!isUuid(careCircleId)) throw notFound('Care circle', careCircleId);
    await authorize(c, prisma, careCircleId, 'notifyCircle');
    const cfg = config();
    const id = randomUUID();
    const workflowId = circleNotificationWorkflowId(id);
    const urgent = body.urgent ?? false;
    await prisma.circleNotification.create({
      data: { id, careCircleId, title: body.title, body: body.body, urgent, workflowId },
    });
    try {
      await startWorkflow<typeof circleNotificationWorkflow>(temporal, {
        id,
        workflowType: 'circleNotificationWorkflow',
        options: {
          workflowId,
          taskQueue: CIRCLE_NOTIFICATION_TASK_QUEUE,
          args: [
            {
              notificationId: id,
              urgent,
              batchSize: cfg.CIRCLE_NOTIFICATION_BATCH_SIZE,
              concurrency: cfg.CIRCLE_NOTIFICATION_CONCURRENCY,
            },
          ],
          typedSearchAttributes: [{ key: CareCircleId, value: careCircleId }],
          priority: { priorityKey: urgent ? PRIORITY.urgent : PRIORITY.low },
        },
      });
    } catch (err) {
      await prisma.circleNotification.delete({ where: { id } });
      throw unavailable('Could not start the notification workflow; nothing was sent, retry shortly', err);
    }
    return c.json({ id, workflowId }, 202);
  });

  app.openapi(listNotifications, async (c) => {
    const { id: careCircleId } = c.req.valid('param');
    const { limit, cursor } = c.req.valid('query');
    if (!isUuid(careCircleId)) throw notFound('Care circle', careCircleId);
    await authorize(c, prisma, careCircleId, 'view');
    const paging = pageWindow('createdAt', 'desc', { limit, cursor });
    const rows = await prisma.circleNotification.findMany({
      where: { careCircleId, ...paging.where },
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json({ items: page.items.map(summary), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(getNotification, async (c) => {
    const { id: careCircleId, notificationId } = c.req.valid('param');
    const what = { kind: 'Notification', id: notificationId };
    if (!isUuid(careCircleId) || !isUuid(notificationId)) throw notFound(what.kind, what.id);
    await authorize(c, prisma, careCircleId, 'view', what);
    const notification = await prisma.circleNotification.findUnique({ where: { id: notificationId } });
    if (!notification || notification.careCircleId !== careCircleId) throw notFound(what.kind, what.id);

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
    return c.json({ ...summary(notification), source, ...progress }, 200);
  });

  /** A member's notification preferences: quiet hours ({start, end} as local HH:MM, or null) and channels. */
  app.openapi(updatePreferences, async (c) => {
    const body = c.req.valid('json');
    const { id: careCircleId, memberId } = c.req.valid('param');
    if (!isUuid(careCircleId)) throw notFound('Care circle', careCircleId);
    const { userId } = c.get('principal');
    // Not a member: the circle does not exist for the caller.
    if (!(await membershipOf(prisma, userId, careCircleId))) throw notFound('Care circle', careCircleId);
    const member = isUuid(memberId) ? await prisma.member.findUnique({ where: { id: memberId } }) : null;
    if (!member || member.careCircleId !== careCircleId) throw notFound('Member', memberId);
    // Your own preferences are yours to set; someone else's take the right to manage members.
    if (member.userId !== userId) await authorize(c, prisma, careCircleId, 'manageMembers');
    const updated = await prisma.member.update({
      where: { id: member.id },
      data: {
        ...(body.quietHours !== undefined
          ? { quietHoursStart: body.quietHours?.start ?? null, quietHoursEnd: body.quietHours?.end ?? null }
          : {}),
        ...(body.channels ? { channels: body.channels } : {}),
      },
    });
    return c.json(
      {
        id: updated.id,
        channels: updated.channels,
        quietHours:
          updated.quietHoursStart && updated.quietHoursEnd
            ? { start: updated.quietHoursStart, end: updated.quietHoursEnd }
            : null,
        timezone: updated.timezone,
      },
      200,
    );
  });

  return app;
}
