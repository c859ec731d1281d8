/**
 * What the dev outbox "sent": the stand-in for FCM and Resend when they are not configured.
 * Operators only; newest first, cursor-paginated.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { requireOperator } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { createRouter, jsonResponse, problems, type Router } from '../openapi.ts';
import { pageQuery, pageSchema, pageWindow } from '../pagination.ts';
import { channel } from '../schemas.ts';

const OutboxMessageSchema = z
  .object({
    id: z.uuid(),
    channel,
    to: z.string().openapi({ description: 'The push token or email address it was addressed to' }),
    title: z.string(),
    body: z.string(),
    dedupeKey: z.string(),
    createdAt: z.iso.datetime(),
  })
  .openapi('DevOutboxMessage');

const listRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Development'],
  summary: 'Messages the dev outbox "sent", newest first (operators; only while a channel uses it)',
  middleware: [requireOperator],
  request: { query: z.object(pageQuery) },
  responses: {
    200: jsonResponse(pageSchema(OutboxMessageSchema, 'DevOutboxPage'), 'A page of messages'),
    ...problems(400, 403),
  },
});

export function devOutboxRoutes({ prisma }: ApiDeps): Router {
  const app = createRouter();
  app.openapi(listRoute, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const paging = pageWindow('createdAt', 'desc', { limit, cursor });
    const rows = await prisma.devOutboxMessage.findMany({
      where: paging.where,
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json(
      {
        items: page.items.map((m) => ({
          id: m.id,
          channel: m.channel,
          to: m.to,
          title: m.title,
          body: m.body,
          dedupeKey: m.dedupeKey,
          createdAt: m.createdAt.toISOString(),
        })),
        nextCursor: page.nextCursor,
      },
      200,
    );
  });
  return app;
}
