/**
 * Readiness: may this instance receive new requests? No while it drains after SIGTERM, and no
 * while the database or Temporal is unreachable (GET /health reports the same checks for humans).
 * Public (no token).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { ApiDeps } from '../deps.ts';
import { isDraining } from '../lifecycle.ts';
import { createRouter, jsonResponse, type Router } from '../openapi.ts';

const CHECK_TIMEOUT_MS = 2000;

const dependencyState = z.enum(['up', 'down']);
const ReadySchema = z
  .object({ status: z.literal('ready'), database: dependencyState, temporal: dependencyState })
  .openapi('Ready');
const NotReadySchema = z
  .union([
    z.object({ status: z.literal('draining') }),
    z.object({ status: z.literal('unavailable'), database: dependencyState, temporal: dependencyState }),
  ])
  .openapi('NotReady');

const readyRoute = createRoute({
  method: 'get',
  path: '/',
  tags: ['Service'],
  summary: 'Whether this instance takes new requests (no token)',
  security: [],
  responses: {
    200: jsonResponse(ReadySchema, 'Ready'),
    503: jsonResponse(NotReadySchema, 'Draining after SIGTERM, or the database or Temporal is down'),
  },
});

async function up(check: () => Promise<unknown>): Promise<'up' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

export function readyRoutes(deps: ApiDeps): Router {
  const app = createRouter();
  app.openapi(readyRoute, async (c) => {
    if (isDraining(deps)) return c.json({ status: 'draining' as const }, 503);
    const [database, temporal] = await Promise.all([
      up(() => deps.prisma.$queryRaw`SELECT 1`),
      up(() => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    if (database === 'up' && temporal === 'up') return c.json({ status: 'ready' as const, database, temporal }, 200);
    return c.json({ status: 'unavailable' as const, database, temporal }, 503);
  });
  return app;
}
