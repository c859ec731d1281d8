/**
 * A message to every member of a care circle: workflow `circle-notification:<id>` fixes the
 * recipients, splits them into batches of `batchSize` and runs one child workflow per batch
 * (`…:batch:<n>`), so no history grows with the size of the circle. Each batch delivers to at
 * most `concurrency` members at a time, and per member:
 * - honours the member's channels (push, email, in-app) as planned by `planCircleBatch`;
 * - unless the message is urgent, waits on a durable timer while the member's quiet hours last;
 * - falls back to email when push fails for good (or the member has no working device), unless
 *   email was among their channels anyway;
 * - reports the outcome to the parent by signal (the parent's `progress` query) and to the
 *   database (what the API falls back to).
 */
import {
  executeChild,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { CircleRecipientPlan } from '../activities/circle-notifications.ts';
import { quietHoursEnd } from '../shared/quiet-hours.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';
import { PRIORITY } from '../shared/task-queues.ts';
import {
  circleNotificationProgressQuery,
  recipientProgressSignal,
  type Channel,
  type CircleNotificationProgress,
  type RecipientProgress,
} from './circle-notification-messages.ts';
import { channelOf, deliverNotifications, type DeliveryOutcome } from './shared/deliver.ts';

export * from './circle-notification-messages.ts';

export interface CircleNotificationInput {
  notificationId: string;
  urgent: boolean;
  /** Members per child workflow (default 100). */
  batchSize?: number;
  /** Members delivered to at once within a batch (default 10). */
  concurrency?: number;
}

export interface CircleNotificationBatchInput {
  notificationId: string;
  memberIds: string[];
  urgent: boolean;
  concurrency: number;
}

const DEFAULT_BATCH_SIZE = 100;
const DEFAULT_CONCURRENCY = 10;

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

/**
 * At most `limit` callers inside at once. A released slot is handed straight to the next waiter:
 * a `condition(() => inFlight < limit)` would wake every waiter at once and overshoot.
 */
function semaphore(limit: number) {
  let free = limit;
  const waiters: (() => void)[] = [];
  return async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiters.shift();
      if (next) next();
      else free++;
    }
  };
}

function summarize(notificationId: string, state: CircleNotificationProgress['state'], all: RecipientProgress[]) {
  const count = (s: RecipientProgress['status']) => all.filter((r) => r.status === s).length;
  return {
    notificationId,
    state,
    total: all.length,
    delivered: count('delivered'),
    deferred: count('deferred'),
    failed: count('failed'),
    pending: count('pending'),
    recipients: all,
  } satisfies CircleNotificationProgress;
}

export async function circleNotificationWorkflow(input: CircleNotificationInput): Promise<CircleNotificationProgress> {
  const { notificationId, urgent } = input;
  const batchSize = input.batchSize ?? DEFAULT_BATCH_SIZE;
  const concurrency = input.concurrency ?? DEFAULT_CONCURRENCY;
  const recipients = new Map<string, RecipientProgress>();
  let state: CircleNotificationProgress['state'] = 'sending';

  setHandler(circleNotificationProgressQuery, () => summarize(notificationId, state, [...recipients.values()]));
  setHandler(recipientProgressSignal, (updates) => {
    for (const update of updates) recipients.set(update.memberId, update);
  });

  const { memberIds } = await bookkeeping.startCircleNotification({ notificationId });
  for (const memberId of memberIds) {
    // A signal may have beaten this line only in a replay of an older run; never overwrite it.
    if (!recipients.has(memberId)) {
      recipients.set(memberId, {
        memberId,
        status: 'pending',
        deferredUntil: null,
        deliveredVia: [],
        fellBack: false,
        error: null,
      });
    }
  }

  const batches: string[][] = [];
  for (let i = 0; i < memberIds.length; i += batchSize) batches.push(memberIds.slice(i, i + batchSize));
  const results = await Promise.all(
    batches.map((batch, index) =>
      executeChild(circleNotificationBatchWorkflow, {
        workflowId: `${workflowInfo().workflowId}:batch:${index}`,
        args: [{ notificationId, memberIds: batch, urgent, concurrency }],
      }),
    ),
  );
  for (const result of results.flat()) recipients.set(result.memberId, result);

  await bookkeeping.completeCircleNotification({ notificationId });
  state = 'completed';
  return summarize(notificationId, state, [...recipients.values()]);
}

/** One batch of members; returns their final outcomes. */
export async function circleNotificationBatchWorkflow(
  input: CircleNotificationBatchInput,
): Promise<RecipientProgress[]> {
  const { notificationId, urgent } = input;
  const parent = workflowInfo().parent;
  const parentHandle = parent ? getExternalWorkflowHandle(parent.workflowId, parent.runId) : null;
  const { recipients } = await bookkeeping.planCircleBatch({ notificationId, memberIds: input.memberIds });
  // Bulk messages wait behind individual reminders; urgent ones overtake everything.
  const deliveryOptions = urgent
    ? ({ kind: 'notification', urgent: true } as const)
    : ({ kind: 'notification', priority: PRIORITY.low } as const);

  async function report(progress: RecipientProgress): Promise<void> {
    await bookkeeping.recordCircleRecipient({ notificationId, ...progress });
    if (parentHandle) await parentHandle.signal(recipientProgressSignal, [progress]);
  }

  const withSlot = semaphore(input.concurrency);

  async function deliverTo(recipient: CircleRecipientPlan): Promise<RecipientProgress> {
    const outcomes: DeliveryOutcome[] = await deliverNotifications(recipient.deliveries, {
      ...deliveryOptions,
      concurrency: recipient.deliveries.length || 1,
    });
    const push = outcomes.find((o) => channelOf(o.dedupeKey) === 'push');
    const pushFailed = recipient.wantsPush && (!push || push.status === 'dead_lettered' || push.status === 'skipped');
    let fellBack = false;
    if (pushFailed && recipient.emailFallback) {
      const key = await bookkeeping.planCircleEmailFallback({ notificationId, memberId: recipient.memberId });
      if (key) {
        outcomes.push(...(await deliverNotifications([key], deliveryOptions)));
        fellBack = true;
      }
    }
    const deliveredVia = outcomes
      .filter((o) => o.status === 'sent' || o.status === 'already_sent')
      .map((o) => channelOf(o.dedupeKey) as Channel);
    const errors = outcomes.flatMap((o) =>
      o.status === 'dead_lettered' ? [`${channelOf(o.dedupeKey)}: ${o.error}`] : [],
    );
    return {
      memberId: recipient.memberId,
      status: deliveredVia.length > 0 ? 'delivered' : 'failed',
      deferredUntil: null,
      deliveredVia,
      fellBack,
      error: errors.length > 0 ? errors.join('; ') : deliveredVia.length > 0 ? null : 'no channel reaches this member',
    };
  }

  // Members who left the circle since the message was sent: nobody to deliver to.
  const planned = new Set(recipients.map((r) => r.memberId));
  const gone = input.memberIds
    .filter((memberId) => !planned.has(memberId))
    .map((memberId): RecipientProgress => ({
      memberId,
      status: 'failed',
      deferredUntil: null,
      deliveredVia: [],
      fellBack: false,
      error: 'no longer a member of the circle',
    }));
  await Promise.all(gone.map(report));

  const delivered = await Promise.all(
    recipients.map(async (recipient): Promise<RecipientProgress> => {
      const quiet = recipient.quietHours;
      const until = !urgent && quiet ? quietHoursEnd(Date.now(), recipient.timezone, quiet.start, quiet.end) : null;
      if (until !== null) {
        await report({
          memberId: recipient.memberId,
          status: 'deferred',
          deferredUntil: new Date(until).toISOString(),
          deliveredVia: [],
          fellBack: false,
          error: null,
        });
        await sleep(until - Date.now());
      }
      const outcome = await withSlot(() => deliverTo(recipient));
      await report(outcome);
      return outcome;
    }),
  );
  return [...gone, ...delivered];
}
