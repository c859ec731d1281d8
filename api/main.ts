/**
 * API process: serves HTTP until SIGINT/SIGTERM, then drains and exits 0:
 * 1. GET /ready answers 503 at once, and for API_SHUTDOWN_DELAY the API keeps serving, so a load
 *    balancer that polls /ready stops sending traffic before connections are refused;
 * 2. it stops accepting connections and waits for in-flight requests, at most API_SHUTDOWN_GRACE,
 *    then closes whatever is left;
 * 3. it closes the Temporal connection and the database pool.
 */
// First: tracing starts before the modules it instruments load.
import { tracing } from './start-tracing.ts';
import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { usesDevOutbox } from '../providers/index.ts';
import { tokenVerifier } from '../shared/auth-tokens.ts';
import { config, requireDatabaseUrl } from '../shared/config.ts';
import { createPrisma } from '../shared/db.ts';
import { createLogger } from '../shared/logger.ts';
import { enableProcessMetrics } from '../shared/metrics.ts';
import { tracingClientInterceptors } from '../shared/tracing.ts';
import { describeTemporalConnection, temporalConnectionOptions } from '../shared/temporal-connection.ts';
import { createApp } from './app.ts';
import type { ApiDeps } from './deps.ts';
import { beginDraining } from './lifecycle.ts';
import { rateLimitsOf } from './rate-limit.ts';

const cfg = config();
const logger = createLogger('api');
enableProcessMetrics();

// Before connecting anything: a configuration that cannot check tokens stops the API here.
const tokens = tokenVerifier(cfg);
const prisma = createPrisma(requireDatabaseUrl(cfg));
const temporalSettings = temporalConnectionOptions(cfg);
const connection = await Connection.connect(temporalSettings);
const temporal = new Client({
  connection,
  namespace: cfg.TEMPORAL_NAMESPACE,
  interceptors: tracingClientInterceptors(),
});

const deps: ApiDeps = {
  prisma,
  temporal,
  taskQueue: cfg.MEDICATION_TASK_QUEUE,
  devOutbox: usesDevOutbox(cfg),
  tokens,
  rateLimits: rateLimitsOf(cfg),
};
const app = createApp(deps, (err) => logger.error({ err }, 'unhandled error in request'));

const server = serve({ fetch: app.fetch, hostname: cfg.API_HOST, port: cfg.API_PORT }, (info) => {
  logger.info(
    { url: `http://${info.address}:${info.port}`, temporal: describeTemporalConnection(temporalSettings) },
    'api listening',
  );
}) as Server;

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  beginDraining(deps);
  logger.info({ signal, delayMs: cfg.API_SHUTDOWN_DELAY, graceMs: cfg.API_SHUTDOWN_GRACE }, 'api draining');
  if (cfg.API_SHUTDOWN_DELAY > 0) await delay(cfg.API_SHUTDOWN_DELAY);
  // close() stops accepting and resolves once in-flight requests are answered (idle keep-alive
  // connections are closed at once); requests still running after the grace time are cut off.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const timer = setTimeout(() => {
    logger.warn('requests still running after the grace time; closing their connections');
    server.closeAllConnections();
  }, cfg.API_SHUTDOWN_GRACE);
  await closed;
  clearTimeout(timer);
  await connection.close();
  await prisma.$disconnect();
  await tracing.shutdown();
  logger.info('api stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
