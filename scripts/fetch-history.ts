/**
 * Saves the event history of a workflow from a running Temporal server into test/histories, so
 * that the replay test guards it: `npm run history:fetch -- medication:<id> [name]`.
 * The server is TEMPORAL_ADDRESS, or the embedded dev server of `npm start`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { config, temporalAddress } from '../shared/config.ts';
import { historiesDir } from '../test/helpers/histories.ts';

const [workflowId, name] = process.argv.slice(2);
if (!workflowId) {
  console.error('usage: npm run history:fetch -- <workflowId> [file-name]');
  process.exit(2);
}
const cfg = config();
const connection = await Connection.connect({ address: temporalAddress(cfg) });
try {
  const client = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const file = path.join(historiesDir, `${name ?? workflowId.replaceAll(/[^a-zA-Z0-9-]/g, '_')}.json`);
  fs.writeFileSync(file, historyToJSON(history) + '\n');
  console.log(`Saved ${history.events?.length ?? 0} events of ${workflowId} to ${path.relative(process.cwd(), file)}`);
} finally {
  await connection.close();
}
