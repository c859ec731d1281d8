// Test-only workflows around workflows/shared/deliver.ts and the retry policies, bundled by tests.
import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import { RETRY_POLICIES, START_TO_CLOSE, type ActivityKind } from '../../shared/retry-policies.ts';
import { deliverNotifications, type DeliverOptions, type DeliveryOutcome } from '../../workflows/shared/deliver.ts';

export async function deliverBatchWorkflow(input: {
  keys: string[];
  opts: DeliverOptions;
}): Promise<DeliveryOutcome[]> {
  return deliverNotifications(input.keys, input.opts);
}

/** Calls the activity `probe` with the retry policy of `kind` and reports how it ended. */
export async function retryProbeWorkflow(input: {
  kind: ActivityKind;
  taskQueue: string;
}): Promise<{ ok: boolean; errorType: string | null }> {
  const { probe } = proxyActivities<{ probe(): Promise<void> }>({
    taskQueue: input.taskQueue,
    startToCloseTimeout: START_TO_CLOSE[input.kind],
    retry: RETRY_POLICIES[input.kind],
  });
  try {
    await probe();
    return { ok: true, errorType: null };
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : undefined;
    return { ok: false, errorType: cause instanceof ApplicationFailure ? (cause.type ?? null) : null };
  }
}
