/**
 * The periodic jobs, each started by a Temporal Schedule (workers/schedules.ts) on the maintenance
 * task queue: the daily digest to caregivers, the reconciliation of long-running workflows, and the
 * clean-up of old notification records. Each is idempotent, so a schedule's catch-up run or an
 * operator's "trigger now" never sends a digest twice or starts a workflow twice.
 */
import { proxyActivities } from '@temporalio/workflow';
import { DateTime } from 'luxon';
import type { Activities, DigestPage } from '../activities/index.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';
import { PRIORITY } from '../shared/task-queues.ts';
import { deliverNotifications } from './shared/deliver.ts';

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
  priority: { priorityKey: PRIORITY.bulk },
});

/** Long pages: these activities heartbeat per item, so a lost worker is noticed quickly. */
const pages = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: RETRY_POLICIES.bookkeeping,
  priority: { priorityKey: PRIORITY.bulk },
});

export interface DailyDigestInput {
  /** IANA zone in which "yesterday" is meant. */
  timezone: string;
  /** yyyy-mm-dd; default: the day before the workflow started, in `timezone`. */
  day?: string;
  pageSize?: number;
  /** Runs deliveries on this queue (tests). */
  deliveryTaskQueue?: string;
}

export interface DailyDigestResult {
  day: string;
  circles: number;
  notifications: number;
  deadLettered: number;
}

export async function dailyDigestWorkflow(input: DailyDigestInput): Promise<DailyDigestResult> {
  // Date.now() is the workflow's deterministic clock: the time the run started, replayed the same.
  const day = input.day ?? DateTime.fromMillis(Date.now(), { zone: input.timezone }).minus({ days: 1 }).toISODate()!;
  const result: DailyDigestResult = { day, circles: 0, notifications: 0, deadLettered: 0 };
  let cursor: string | null = null;
  do {
    const page: DigestPage = await bookkeeping.planDailyDigest({
      day,
      timezone: input.timezone,
      cursor,
      pageSize: input.pageSize ?? 100,
    });
    result.circles += page.circles;
    // A digest is bulk work: urgent messages on the same queues go first.
    const outcomes = await deliverNotifications(page.deliveries, {
      kind: 'notification',
      priority: PRIORITY.bulk,
      ...(input.deliveryTaskQueue ? { taskQueue: input.deliveryTaskQueue } : {}),
    });
    result.notifications += outcomes.filter((o) => o.status === 'sent').length;
    result.deadLettered += outcomes.filter((o) => o.status === 'dead_lettered').length;
    cursor = page.nextCursor;
  } while (cursor);
  return result;
}

export interface ReconcileResult {
  checked: number;
  restarted: string[];
  /** Running workflows whose database row had drifted from them, repaired from the workflow. */
  drifted: string[];
  /** Workflow starts and cancels the API could not confirm, finished here. */
  settled: string[];
}

export async function reconcileWorkflowsWorkflow(input: { pageSize?: number } = {}): Promise<ReconcileResult> {
  const result: ReconcileResult = { checked: 0, restarted: [], drifted: [], settled: [] };
  for (const reconciler of await bookkeeping.listReconcilers()) {
    let cursor: string | null = null;
    do {
      const page: {
        checked: number;
        restarted: string[];
        drifted?: string[];
        settled?: string[];
        nextCursor: string | null;
      } = await pages.reconcilePage({
        reconciler,
        cursor,
        pageSize: input.pageSize ?? 200,
      });
      result.checked += page.checked;
      result.restarted.push(...page.restarted);
      result.drifted.push(...(page.drifted ?? []));
      result.settled.push(...(page.settled ?? []));
      cursor = page.nextCursor;
    } while (cursor);
  }
  return result;
}

export async function cleanupNotificationsWorkflow(input: {
  retentionDays: number;
  batchSize?: number;
}): Promise<{ notifications: number; outbox: number }> {
  return pages.cleanupNotifications({ retentionDays: input.retentionDays, batchSize: input.batchSize ?? 1000 });
}
