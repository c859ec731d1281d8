/**
 * Care circles and their members. Whoever creates a circle becomes its first caregiver; caregivers
 * add the others, linking each to their login (`userId`) when they use the app.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { Prisma } from '../../shared/db.ts';
import { authorize } from '../access.ts';
import type { ApiDeps } from '../deps.ts';
import { CreatedSchema, createRouter, jsonBody, jsonResponse, problems, uuidParams, type Router } from '../openapi.ts';
import { pageQuery, pageSchema, pageWindow } from '../pagination.ts';
import { notFound, ProblemError } from '../problem.ts';
import { createCareCircleBody, createMemberBody, memberRole } from '../schemas.ts';
import { isUuid } from '../validation.ts';

const circleParams = uuidParams('id');

const MemberSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    role: memberRole,
    timezone: z.string(),
    email: z.string().nullable(),
    userId: z.string().nullable().openapi({ description: 'The login of this member, if they use the app' }),
  })
  .openapi('Member');

const CareCircleSchema = z
  .object({ id: z.uuid(), name: z.string(), createdAt: z.iso.datetime(), members: z.array(MemberSchema) })
  .openapi('CareCircle');

const MyCircleSchema = z
  .object({ id: z.uuid(), name: z.string(), role: memberRole, memberId: z.uuid(), joinedAt: z.iso.datetime() })
  .openapi('MyCareCircle');

const tags = ['Care circles'];

const createCircle = createRoute({
  method: 'post',
  path: '/',
  tags,
  summary: 'Create a care circle; you become its first caregiver',
  request: { body: jsonBody(createCareCircleBody) },
  responses: {
    201: jsonResponse(CreatedSchema.extend({ memberId: z.uuid() }).openapi('CreatedCareCircle'), 'Created'),
    ...problems(400, 409, 413, 415, 422),
  },
});

const listCircles = createRoute({
  method: 'get',
  path: '/',
  tags,
  summary: 'The care circles you are a member of, newest membership first',
  request: { query: z.object(pageQuery) },
  responses: {
    200: jsonResponse(pageSchema(MyCircleSchema, 'MyCareCirclePage'), 'A page of circles'),
    ...problems(400),
  },
});

const getCircle = createRoute({
  method: 'get',
  path: '/{id}',
  tags,
  summary: 'A care circle and its members',
  request: { params: circleParams },
  responses: { 200: jsonResponse(CareCircleSchema, 'The circle'), ...problems(404) },
});

const addMember = createRoute({
  method: 'post',
  path: '/{id}/members',
  tags,
  summary: 'Add a member (caregivers)',
  request: { params: circleParams, body: jsonBody(createMemberBody) },
  responses: {
    201: jsonResponse(CreatedSchema, 'Created'),
    ...problems(400, 403, 404, 409, 413, 415, 422),
  },
});

function isUniqueViolation(err: unknown, field: string): boolean {
  return (
    err instanceof Prisma.PrismaClientKnownRequestError &&
    err.code === 'P2002' &&
    JSON.stringify(err.meta ?? {}).includes(field)
  );
}

export function careCircleRoutes({ prisma }: ApiDeps): Router {
  const app = createRouter();

  app.openapi(createCircle, async (c) => {
    const body = c.req.valid('json');
    const { userId } = c.get('principal');
    const circle = await prisma.careCircle.create({
      data: {
        name: body.name,
        members: {
          create: {
            userId,
            role: 'caregiver',
            name: body.creator?.name ?? userId,
            timezone: body.creator?.timezone ?? 'UTC',
            email: body.creator?.email ?? null,
          },
        },
      },
      include: { members: true },
    });
    return c.json({ id: circle.id, memberId: circle.members[0]!.id }, 201);
  });

  app.openapi(listCircles, async (c) => {
    const { limit, cursor } = c.req.valid('query');
    const paging = pageWindow('createdAt', 'desc', { limit, cursor });
    const rows = await prisma.member.findMany({
      where: { userId: c.get('principal').userId, ...paging.where },
      orderBy: paging.orderBy,
      take: paging.take,
      include: { careCircle: true },
    });
    const page = paging.page(rows);
    return c.json(
      {
        items: page.items.map((m) => ({
          id: m.careCircle.id,
          name: m.careCircle.name,
          role: m.role,
          memberId: m.id,
          joinedAt: m.createdAt.toISOString(),
        })),
        nextCursor: page.nextCursor,
      },
      200,
    );
  });

  app.openapi(getCircle, async (c) => {
    const { id } = c.req.valid('param');
    if (!isUuid(id)) throw notFound('Care circle', id);
    await authorize(c, prisma, id, 'view');
    const circle = await prisma.careCircle.findUniqueOrThrow({
      where: { id },
      include: { members: { orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] } },
    });
    return c.json(
      {
        id: circle.id,
        name: circle.name,
        createdAt: circle.createdAt.toISOString(),
        members: circle.members.map((m) => ({
          id: m.id,
          name: m.name,
          role: m.role,
          timezone: m.timezone,
          email: m.email,
          userId: m.userId,
        })),
      },
      200,
    );
  });

  app.openapi(addMember, async (c) => {
    const { id: careCircleId } = c.req.valid('param');
    const body = c.req.valid('json');
    if (!isUuid(careCircleId)) throw notFound('Care circle', careCircleId);
    await authorize(c, prisma, careCircleId, 'manageMembers');
    try {
      const member = await prisma.member.create({
        data: {
          careCircleId,
          name: body.name,
          role: body.role,
          timezone: body.timezone,
          email: body.email ?? null,
          userId: body.userId ?? null,
          ...(body.channels ? { channels: body.channels } : {}),
          pushTokens: { create: (body.pushTokens ?? []).map((token) => ({ token })) },
        },
      });
      return c.json({ id: member.id }, 201);
    } catch (err) {
      if (isUniqueViolation(err, 'user_id')) {
        throw new ProblemError(409, 'conflict', 'Conflict', `User ${body.userId} is already a member of this circle`);
      }
      throw err;
    }
  });

  return app;
}
