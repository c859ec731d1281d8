/**
 * An operator's retry of one dead letter (POST /v1/dead-letters/:id/retry), id
 * `dead-letter-retry:<deadLetterId>:<n>`, on the dead-letters task queue (one at a time). It resets
 * the notification to pending and delivers it again exactly as the original workflow did (same
 * task queue, retry policy and priority for its kind): idempotent through the dedupe key, so a
 * notification that did get through meanwhile is not sent twice. A failed document upload is
 * uploaded again from its kept bytes, on the document queue under the document policy (the upload
 * itself is idempotent: one asset per document). The dead letter ends `retried`, or `open` again
 * with the new error.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities, DeadLetterRetryOutcome } from '../activities/index.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import { DEFAULT_HEARTBEAT_TIMEOUT_MS } from './document-upload.ts';
import { deliveryActivityFor } from './shared/deliver.ts';

export interface RetryDeadLetterInput {
  deadLetterId: string;
  /** Runs the delivery on this queue instead of the notification queues (tests). */
  deliveryTaskQueue?: string;
}

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

const documents = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.documents,
  startToCloseTimeout: START_TO_CLOSE.document,
  heartbeatTimeout: DEFAULT_HEARTBEAT_TIMEOUT_MS,
  retry: RETRY_POLICIES.document,
});

/** What an activity that failed for good said, for the dead letter. */
function failureOf(err: unknown): DeadLetterRetryOutcome {
  if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
  const cause = err.cause;
  return {
    status: 'failed',
    error: cause?.message ?? err.message,
    errorType: cause instanceof ApplicationFailure ? (cause.type ?? null) : null,
  };
}

export async function retryDeadLetterWorkflow(input: RetryDeadLetterInput): Promise<DeadLetterRetryOutcome> {
  const { deadLetterId } = input;
  const plan = await bookkeeping.beginDeadLetterRetry({ deadLetterId });
  let outcome: DeadLetterRetryOutcome;
  if (
    plan.action === 'none' &&
    (plan.reason === 'not_a_notification' ||
      plan.reason === 'notification_missing' ||
      plan.reason === 'document_missing' ||
      plan.reason === 'dose_reminder_stale')
  ) {
    // Nothing left to re-run (or nothing that may still be sent): back to open, untouched.
    outcome = { status: 'failed', error: `Cannot retry: ${plan.reason}`, errorType: 'NotRetryable' };
  } else if (plan.action === 'none') {
    outcome = { status: 'nothing_to_deliver', reason: plan.reason };
  } else if (plan.action === 'upload') {
    try {
      await documents.uploadDocument({ documentId: plan.documentId });
      outcome = { status: 'delivered', detail: 'uploaded' };
    } catch (err) {
      outcome = failureOf(err);
    }
  } else {
    try {
      const result = await deliveryActivityFor(plan.dedupeKey, {
        kind: plan.kind,
        ...(input.deliveryTaskQueue ? { taskQueue: input.deliveryTaskQueue } : {}),
      }).deliverNotification({ dedupeKey: plan.dedupeKey });
      outcome = { status: 'delivered', detail: result.status };
    } catch (err) {
      outcome = failureOf(err);
    }
  }
  // "not_retrying": someone else finished or discarded it; leave it as it is.
  if (!(outcome.status === 'nothing_to_deliver' && outcome.reason === 'not_retrying')) {
    await bookkeeping.finishDeadLetterRetry({ deadLetterId, outcome });
  }
  return outcome;
}
