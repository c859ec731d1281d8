import { Hono } from 'hono';
import type { ApiDeps } from '../deps.ts';

const CHECK_TIMEOUT_MS = 2000;

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

export function healthRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();
  app.get('/', async (c) => {
    const [database, temporalState] = await Promise.all([
      probe(() => prisma.$queryRaw`SELECT 1`),
      probe(() => temporal.workflowService.getSystemInfo({})),
    ]);
    const ok = database === 'up' && temporalState === 'up';
    return c.json({ status: ok ? 'ok' : 'unavailable', temporal: temporalState, database }, ok ? 200 : 503);
  });
  return app;
}
