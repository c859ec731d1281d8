/**
 * Delivering a batch of planned notifications from any workflow, the same way everywhere: each
 * dedupe key runs `deliverNotification` on the right task queue (email on the rate-limited email
 * queue, push and in-app on the notifications queue), with the retry policy of its kind and a
 * priority, a bounded number at a time. A delivery that exhausts its retries or fails for good
 * becomes a dead letter (`recordDeadLetter`) and the batch carries on: one failed channel never
 * stops the others or the workflow. Cancellation of the workflow is let through.
 *
 * Dedupe keys end with `:<channel>` (`push`, `email` or `in_app`), as shared/ids.ts writes them; the
 * channel picks the task queue.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities, DeliveryResult } from '../../activities/index.ts';
import { RETRY_POLICIES, START_TO_CLOSE, type DeliveryKind } from '../../shared/retry-policies.ts';
import { PRIORITY, TASK_QUEUES } from '../../shared/task-queues.ts';

export type { DeliveryKind } from '../../shared/retry-policies.ts';

export interface DeliverOptions {
  /** Picks the retry policy (shared/retry-policies.ts) and the default priority. */
  kind: DeliveryKind;
  /** Urgent messages get the highest priority, overtaking any backlog on the queues. */
  urgent?: boolean;
  /** Overrides the priority key (1 = first … 5 = last, see PRIORITY), e.g. PRIORITY.bulk for a digest. */
  priority?: number;
  /** Deliveries in flight at once from this call (default 20). */
  concurrency?: number;
  /** Runs every activity on this one task queue instead (tests; a single-queue deployment). */
  taskQueue?: string;
}

export type DeliveryOutcome =
  | { dedupeKey: string; status: 'sent' | 'already_sent' | 'skipped'; result: DeliveryResult }
  | { dedupeKey: string; status: 'dead_lettered'; error: string; errorType: string | null };

/** The replaced design's priority column: notifications and medication reminders High, the rest Medium. */
const DEFAULT_PRIORITY: Record<DeliveryKind, number> = {
  notification: PRIORITY.high,
  medication: PRIORITY.high,
  appointment: PRIORITY.medium,
  shift: PRIORITY.medium,
};

const DEFAULT_CONCURRENCY = 20;

/** `push`, `email` or `in_app`: the last segment of a dedupe key. */
export function channelOf(dedupeKey: string): string {
  return dedupeKey.slice(dedupeKey.lastIndexOf(':') + 1);
}

/** The priority key a delivery of these options gets. */
export function priorityOf(opts: Pick<DeliverOptions, 'kind' | 'urgent' | 'priority'>): number {
  return opts.urgent ? PRIORITY.urgent : (opts.priority ?? DEFAULT_PRIORITY[opts.kind]);
}

/**
 * `deliverNotification` for one dedupe key as `deliverNotifications` runs it (queue by channel,
 * retry policy by kind, priority), for workflows that handle the failure themselves.
 */
export function deliveryActivityFor(
  dedupeKey: string,
  opts: Pick<DeliverOptions, 'kind' | 'urgent' | 'priority' | 'taskQueue'>,
): Pick<Activities, 'deliverNotification'> {
  const queue = channelOf(dedupeKey) === 'email' ? TASK_QUEUES.email : TASK_QUEUES.notifications;
  return proxyActivities<Activities>({
    taskQueue: opts.taskQueue ?? queue,
    startToCloseTimeout: START_TO_CLOSE[opts.kind],
    retry: RETRY_POLICIES[opts.kind],
    priority: { priorityKey: priorityOf(opts) },
  });
}

export async function deliverNotifications(dedupeKeys: string[], opts: DeliverOptions): Promise<DeliveryOutcome[]> {
  // Dead letters are our own database: retried until recorded, on the calling workflow's queue.
  const bookkeeping = proxyActivities<Activities>({
    ...(opts.taskQueue ? { taskQueue: opts.taskQueue } : {}),
    startToCloseTimeout: START_TO_CLOSE.bookkeeping,
    retry: RETRY_POLICIES.bookkeeping,
    priority: { priorityKey: priorityOf(opts) },
  });

  async function deliverOne(dedupeKey: string): Promise<DeliveryOutcome> {
    try {
      const result = await deliveryActivityFor(dedupeKey, opts).deliverNotification({ dedupeKey });
      return { dedupeKey, status: result.status, result };
    } catch (err) {
      // A cancelled workflow is not a failed delivery: let the cancellation through.
      if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
      const cause = err.cause;
      const error = cause?.message ?? err.message;
      const errorType = cause instanceof ApplicationFailure ? (cause.type ?? null) : null;
      await bookkeeping.recordDeadLetter({ dedupeKey, error, errorType });
      return { dedupeKey, status: 'dead_lettered', error, errorType };
    }
  }

  const outcomes: DeliveryOutcome[] = new Array(dedupeKeys.length);
  let next = 0;
  const runners = Array.from(
    { length: Math.min(opts.concurrency ?? DEFAULT_CONCURRENCY, dedupeKeys.length) },
    async () => {
      while (next < dedupeKeys.length) {
        const index = next++;
        outcomes[index] = await deliverOne(dedupeKeys[index]!);
      }
    },
  );
  await Promise.all(runners);
  return outcomes;
}
