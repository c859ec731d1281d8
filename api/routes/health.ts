/**
 * GET /health: are the database and Temporal reachable? Public (no token), for humans and probes.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { ApiDeps } from '../deps.ts';
import { createRouter, jsonResponse, type Router } from '../openapi.ts';

const CHECK_TIMEOUT_MS = 2000;

const dependencyState = z.enum(['up', 'down']);
const HealthSchema = z
  .object({ status: z.enum(['ok', 'unavailable']), temporal: dependencyState, database: dependencyState })
  .openapi('Health');

const healthRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Service'],
  summary: 'Whether the database and Temporal are reachable (no token)',
  security: [],
  responses: {
    200: jsonResponse(HealthSchema, 'Both are up'),
    503: jsonResponse(HealthSchema, 'The database or Temporal is down (or did not answer within 2 s)'),
  },
});

async function probe(check: () => Promise<unknown>): Promise<'up' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes({ prisma, temporal }: ApiDeps): Router {
  const app = createRouter();
  app.openapi(healthRoute, async (c) => {
    const [database, temporalState] = await Promise.all([
      probe(() => prisma.$queryRaw`SELECT 1`),
      probe(() => temporal.workflowService.getSystemInfo({})),
    ]);
    if (database === 'up' && temporalState === 'up') {
      return c.json({ status: 'ok' as const, temporal: temporalState, database }, 200);
    }
    return c.json({ status: 'unavailable' as const, temporal: temporalState, database }, 503);
  });
  return app;
}
