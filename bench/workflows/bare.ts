/** The bare-Temporal baseline workflow (see bench/bare.ts): a timer, then no-op activities. */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { BareActivities, BareDoseInput } from '../bare.ts';

const activities = proxyActivities<BareActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Returns the times its delivery activities ran. */
export async function bareDoseWorkflow(input: BareDoseInput): Promise<number[]> {
  const wait = input.dueAtMs - Date.now();
  if (wait > 0) await sleep(wait);
  await activities.barePlan();
  const delivered = await Promise.all(Array.from({ length: input.deliveries }, () => activities.bareDeliver()));
  await activities.bareMark();
  return delivered;
}
