import { Hono } from 'hono';
import { Prisma } from '../../shared/db.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, ProblemError } from '../problem.ts';
import { createCareCircleBody, createMemberBody } from '../schemas.ts';
import { isUuid, readJson } from '../validation.ts';

export function careCircleRoutes({ prisma }: ApiDeps): Hono {
  const app = new Hono();

  app.post('/', async (c) => {
    const body = await readJson(c, createCareCircleBody);
    const circle = await prisma.careCircle.create({ data: { name: body.name } });
    return c.json({ id: circle.id }, 201);
  });

  app.post('/:id/members', async (c) => {
    const careCircleId = c.req.param('id');
    const body = await readJson(c, createMemberBody);
    if (!isUuid(careCircleId) || !(await prisma.careCircle.findUnique({ where: { id: careCircleId } }))) {
      throw notFound('Care circle', careCircleId);
    }
    try {
      const member = await prisma.member.create({
        data: {
          careCircleId,
          name: body.name,
          role: body.role,
          timezone: body.timezone,
          email: body.email ?? null,
          ...(body.channels ? { channels: body.channels } : {}),
          pushTokens: { create: (body.pushTokens ?? []).map((token) => ({ token })) },
        },
      });
      return c.json({ id: member.id }, 201);
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
        throw new ProblemError(409, 'conflict', 'Conflict', 'A push token is already registered to another member');
      }
      throw err;
    }
  });

  return app;
}
