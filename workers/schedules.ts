/**
 * The periodic jobs as Temporal Schedules, created idempotently: at worker start-up (when the worker
 * serves the maintenance queue and SCHEDULES_ENABLED) and by `npm run schedules:ensure`. A schedule
 * that exists already is updated to the configured spec and action, so changing a cron expression
 * or the retention takes effect at the next start; its pause state and history are kept.
 *
 * Schedules replace the replaced design's `repeat: { cron }` jobs: the server keeps the timetable, catches up
 * runs missed while it was down (within `catchupWindow`), never overlaps a run still going, and
 * shows every run in the Web UI under Schedules.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Config } from '../shared/config.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import type { Duration, Workflow } from '@temporalio/common';

export const SCHEDULE_IDS = {
  dailyDigest: 'carecircle-daily-digest',
  reconcile: 'carecircle-reconcile-workflows',
  cleanup: 'carecircle-cleanup-notifications',
} as const;

type ScheduleCfg = Pick<
  Config,
  'SCHEDULES_TIMEZONE' | 'DAILY_DIGEST_CRON' | 'RECONCILE_CRON' | 'CLEANUP_CRON' | 'NOTIFICATION_RETENTION_DAYS'
>;

/** What each schedule should look like under this configuration. */
export function desiredSchedules(cfg: ScheduleCfg, taskQueue: string = TASK_QUEUES.maintenance): ScheduleOptions[] {
  const schedule = (
    scheduleId: string,
    cron: string,
    workflowType: string,
    args: unknown[],
    catchupWindow: Duration,
    memo: string,
  ): ScheduleOptions => ({
    scheduleId,
    spec: { cronExpressions: [cron], timezone: cfg.SCHEDULES_TIMEZONE },
    action: {
      type: 'startWorkflow',
      workflowType,
      taskQueue,
      args,
      // Each run's workflow id is this plus the run's time, so runs never collide.
      workflowId: scheduleId,
    } as ScheduleOptionsStartWorkflowAction<Workflow>,
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow },
    memo: { description: memo },
  });
  return [
    schedule(
      SCHEDULE_IDS.dailyDigest,
      cfg.DAILY_DIGEST_CRON,
      'dailyDigestWorkflow',
      [{ timezone: cfg.SCHEDULES_TIMEZONE }],
      // A digest missed while the cluster was down is still worth sending the same day.
      '12 hours',
      "Caregivers' digest of yesterday's doses and adherence",
    ),
    schedule(
      SCHEDULE_IDS.reconcile,
      cfg.RECONCILE_CRON,
      'reconcileWorkflowsWorkflow',
      [{}],
      '10 minutes',
      'Restarts the workflow of any active medication (appointment, shift) whose workflow is missing',
    ),
    schedule(
      SCHEDULE_IDS.cleanup,
      cfg.CLEANUP_CRON,
      'cleanupNotificationsWorkflow',
      [{ retentionDays: cfg.NOTIFICATION_RETENTION_DAYS }],
      '1 day',
      `Deletes notification records older than ${cfg.NOTIFICATION_RETENTION_DAYS} days`,
    ),
  ];
}

/** Creates each schedule, or updates it to the desired spec and action. Returns what it did per id. */
export async function ensureSchedules(
  client: Client,
  cfg: ScheduleCfg,
  taskQueue?: string,
): Promise<Record<string, 'created' | 'updated'>> {
  const done: Record<string, 'created' | 'updated'> = {};
  for (const options of desiredSchedules(cfg, taskQueue)) {
    try {
      await client.schedule.create(options);
      done[options.scheduleId] = 'created';
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(options.scheduleId).update((previous) => ({
        ...previous,
        spec: options.spec,
        action: options.action,
        policies: { ...previous.policies, ...options.policies },
      }));
      done[options.scheduleId] = 'updated';
    }
  }
  return done;
}
