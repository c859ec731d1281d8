import { Hono } from 'hono';
import type { ApiDeps } from '../deps.ts';
import { notFound } from '../problem.ts';
import { notificationsQuery } from '../schemas.ts';
import { readQuery } from '../validation.ts';

export function notificationRoutes({ prisma }: ApiDeps): Hono {
  const app = new Hono();

  app.get('/', async (c) => {
    const { recipientId } = readQuery(c, notificationsQuery);
    const member = await prisma.member.findUnique({ where: { id: recipientId } });
    if (!member) throw notFound('Member', recipientId);
    const rows = await prisma.notificationLog.findMany({
      where: { recipientId },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: 200,
    });
    return c.json({
      items: rows.map((n) => ({
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
      })),
    });
  });

  return app;
}
