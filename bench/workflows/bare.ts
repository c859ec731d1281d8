/** The bare-Temporal baseline workflow (see bench/bare.ts): a timer, then one activity. */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { BareActivities, BareDoseInput } from '../bare.ts';

const activities = proxyActivities<BareActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function bareDoseWorkflow(input: BareDoseInput): Promise<void> {
  const wait = input.dueAtMs - Date.now();
  if (wait > 0) await sleep(wait);
  await activities.bareSend({ dedupeKey: input.dedupeKey });
}
