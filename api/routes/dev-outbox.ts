import { Hono } from 'hono';
import type { ApiDeps } from '../deps.ts';

/** What the dev outbox "sent": the stand-in for FCM and Resend when they are not configured. */
export function devOutboxRoutes({ prisma }: ApiDeps): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const rows = await prisma.devOutboxMessage.findMany({ orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], take: 200 });
    return c.json({
      items: rows.map((m) => ({
        id: m.id,
        channel: m.channel,
        to: m.to,
        title: m.title,
        body: m.body,
        dedupeKey: m.dedupeKey,
        createdAt: m.createdAt.toISOString(),
      })),
    });
  });
  return app;
}
