/**
 * Creates or updates the periodic jobs' Temporal Schedules (workers/schedules.ts) without starting a
 * worker: `npm run schedules:ensure`. Workers serving the maintenance queue do the same at start-up.
 */
import { Client, Connection } from '@temporalio/client';
import { config } from '../shared/config.ts';
import { temporalConnectionOptions } from '../shared/temporal-connection.ts';
import { ensureSchedules } from '../workers/schedules.ts';

const cfg = config();
const connection = await Connection.connect(temporalConnectionOptions(cfg));
try {
  const client = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
  for (const [id, what] of Object.entries(await ensureSchedules(client, cfg))) console.log(`${id}: ${what}`);
} finally {
  await connection.close();
}
