/** API process: serves HTTP until SIGINT/SIGTERM, then stops accepting, drains and exits 0. */
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { usesDevOutbox } from '../providers/index.ts';
import { config, requireDatabaseUrl, temporalAddress } from '../shared/config.ts';
import { createPrisma } from '../shared/db.ts';
import { createLogger } from '../shared/logger.ts';
import { createApp } from './app.ts';

const cfg = config();
const logger = createLogger('api');

const prisma = createPrisma(requireDatabaseUrl(cfg));
const connection = await Connection.connect({ address: temporalAddress(cfg) });
const temporal = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });

const app = createApp(
  { prisma, temporal, taskQueue: cfg.MEDICATION_TASK_QUEUE, devOutbox: usesDevOutbox(cfg) },
  (err) => logger.error({ err }, 'unhandled error in request'),
);

const server = serve({ fetch: app.fetch, hostname: cfg.API_HOST, port: cfg.API_PORT }, (info) => {
  logger.info({ url: `http://${info.address}:${info.port}` }, 'api listening');
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'api shutting down');
  // close() stops accepting connections and resolves once in-flight requests are answered.
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await connection.close();
  await prisma.$disconnect();
  logger.info('api stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
