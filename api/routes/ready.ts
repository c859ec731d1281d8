import { Hono } from 'hono';
import type { ApiDeps } from '../deps.ts';
import { isDraining } from '../lifecycle.ts';

const CHECK_TIMEOUT_MS = 2000;

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

/**
 * Readiness: may this instance receive new requests? No while it drains after SIGTERM, and no
 * while the database or Temporal is unreachable (GET /health reports the same checks for humans).
 */
export function readyRoutes(deps: ApiDeps): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    if (isDraining(deps)) return c.json({ status: 'draining' }, 503);
    const [database, temporal] = await Promise.all([
      up(() => deps.prisma.$queryRaw`SELECT 1`),
      up(() => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const ready = database === 'up' && temporal === 'up';
    return c.json({ status: ready ? 'ready' : 'unavailable', database, temporal }, ready ? 200 : 503);
  });
  return app;
}
