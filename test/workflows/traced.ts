// Test-only workflow for test/tracing.test.ts: one activity that makes an HTTP call.
import { proxyActivities } from '@temporalio/workflow';

const { callProvider } = proxyActivities<{ callProvider(url: string): Promise<number> }>({
  startToCloseTimeout: '10 seconds',
});

export async function tracedDeliveryWorkflow(url: string): Promise<number> {
  return callProvider(url);
}
