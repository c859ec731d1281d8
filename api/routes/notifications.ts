/**
 * A member's notifications (every delivery on every channel), newest first. Members read their
 * own; caregivers read everyone's in their circle. To anyone outside the circle the member does not
 * exist (404).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { membershipOf } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import { createRouter, jsonResponse, problems, type Router } from '../openapi.ts';
import { pageSchema, pageWindow } from '../pagination.ts';
import { notFound, ProblemError } from '../problem.ts';
import { channel, notificationsQuery } from '../schemas.ts';

export const notificationStatus = z.enum(['pending', 'sent', 'failed', 'skipped']);

const NotificationSchema = z
  .object({
    id: z.uuid(),
    kind: z.string().openapi({ description: 'What it is about: dose_reminder, appointment_reminder, …' }),
    channel,
    status: notificationStatus,
    medicationId: z.uuid().nullable(),
    doseAt: z.iso.datetime().nullable(),
    sentAt: z.iso.datetime().nullable(),
    title: z.string(),
    body: z.string(),
    provider: z.string().nullable(),
    attempts: z.number().int(),
    createdAt: z.iso.datetime(),
  })
  .openapi('Notification');

const listRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Notifications'],
  summary: "A member's notifications, newest first (the member themself, or a caregiver of their circle)",
  request: { query: notificationsQuery },
  responses: {
    200: jsonResponse(pageSchema(NotificationSchema, 'NotificationPage'), 'A page of notifications'),
    ...problems(400, 403, 404),
  },
});

export function notificationRoutes({ prisma }: ApiDeps): Router {
  const app = createRouter();

  app.openapi(listRoute, async (c) => {
    const { recipientId, limit, cursor } = c.req.valid('query');
    // A bad cursor is a 400 before anything is looked up.
    const paging = pageWindow('createdAt', 'desc', { limit, cursor });
    const recipient = await prisma.member.findUnique({ where: { id: recipientId } });
    const caller = recipient && (await membershipOf(prisma, c.get('principal').userId, recipient.careCircleId));
    if (!recipient || !caller) throw notFound('Member', recipientId);
    if (caller.id !== recipient.id && caller.role !== 'caregiver') {
      throw new ProblemError(
        403,
        'forbidden',
        'Forbidden',
        `A ${caller.role} may read only their own notifications (caregivers read everyone's in the circle)`,
      );
    }
    const rows = await prisma.notificationLog.findMany({
      where: { recipientId, ...paging.where },
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json(
      {
        items: page.items.map((n) => ({
          id: n.id,
          kind: n.kind,
          channel: n.channel,
          status: n.status,
          medicationId: n.medicationId,
          doseAt: n.doseAt?.toISOString() ?? null,
          sentAt: n.sentAt?.toISOString() ?? null,
          title: n.title,
          body: n.body,
          provider: n.provider,
          attempts: n.attempts,
          createdAt: n.createdAt.toISOString(),
        })),
        nextCursor: page.nextCursor,
      },
      200,
    );
  });

  return app;
}
