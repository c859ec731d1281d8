/**
 * The BullMQ baseline of the burst benchmark: the replaced design (docs/design.md) on Redis, as a
 * benchmark only — nothing in the product uses it.
 *
 * - A dose is a delayed job on `medication-reminders` (due at the dose instant), 2 attempts 5
 *   minutes apart (the replaced design's table), worker concurrency 5.
 * - Its handler loads fresh state, writes one pending notification per channel and enqueues one
 *   job per notification on `notifications` (the replaced design's job options: 3 attempts, exponential
 *   backoff from 1 minute, keep the last 1,000 completed, keep failed), worker concurrency 10.
 * - The notification handler sends through the same Resend adapter as the product.
 *
 * To compare engines rather than database code, both handlers do the same database work as the
 * product's activities (they call `planDoseReminder` / `markDoseReminded`, and the delivery mirrors
 * `deliverNotification`), against the same PostgreSQL.
 */
import type { JobsOptions } from 'bullmq';

export const REDIS_URL_DEFAULT = 'redis://127.0.0.1:6379';

export const QUEUES = { reminders: 'medication-reminders', notifications: 'notifications' } as const;

/** The replaced design's `workerOptions`. */
export const CONCURRENCY = { reminders: 5, notifications: 10 } as const;

/** Seed's table: medication-reminders "2 attempts, 5-minute delay". */
export const REMINDER_JOB_OPTIONS: JobsOptions = {
  attempts: 2,
  backoff: { type: 'fixed', delay: 5 * 60_000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: false,
};

/** Seed's "CareCircle's Retry Configuration" (notifications: 3 attempts, exponential backoff). */
export const NOTIFICATION_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: false,
};

export interface ReminderJob {
  medicationId: string;
  /** ISO instant of the dose. */
  doseAt: string;
}

export interface NotificationJob {
  dedupeKey: string;
}

/** BullMQ refuses ':' in custom job ids; a job id per key makes a second enqueue a no-op. */
export const jobIdFor = (key: string): string => key.replaceAll(':', '|');

/** Connection options for BullMQ from a redis:// URL. */
export function redisOptions(url: string): { host: string; port: number; db: number; maxRetriesPerRequest: null } {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number(u.pathname.slice(1) || 0),
    // Required by BullMQ for blocking connections.
    maxRetriesPerRequest: null,
  };
}
