/**
 * Every task queue, its workload, concurrency, rate limit and priority, in one place: the replaced design's
 * BullMQ queues (docs/queues.md puts them side by side). Safe to import from workflow code (no Node
 * APIs): workflows route activities by these names; workers read the numbers through
 * `taskQueueSettings(config)`.
 *
 * Names are fixed rather than configured because workflow code cannot read the environment and a
 * running workflow must keep finding its queues. The medication queue is the exception that already
 * existed: MEDICATION_TASK_QUEUE (the API starts medication workflows there).
 */
import type { Config } from './config.ts';

export const TASK_QUEUES = {
  /** Medication workflows and their database bookkeeping activities. */
  medication: 'medication-reminders',
  /** Appointment reminder workflows (one per appointment) and their activities. */
  appointment: 'appointment-reminders',
  /** Caregiver shift workflows and their activities. */
  shift: 'shift-reminders',
  /** Delivery of push and in-app notifications (`deliverNotification`), for every workload. */
  notifications: 'notifications',
  /** Delivery of email only: the one queue with Temporal's task-queue rate limit (Resend's quota). */
  email: 'notifications-email',
  /** Document upload workflows and the upload activity. */
  documents: 'document-upload',
  /** Operator retries of dead letters, one at a time. */
  deadLetters: 'dead-letters',
  /** Periodic jobs started by Temporal Schedules: digest, reconciliation, clean-up. */
  maintenance: 'maintenance',
} as const;

export type Workload = keyof typeof TASK_QUEUES;
export const WORKLOADS = Object.keys(TASK_QUEUES) as Workload[];

/**
 * Temporal task priority (`priorityKey`, 1 = first; the server's default range is 1–5, default 3).
 * Within one task queue a backlog is served in this order, so urgent messages overtake a fan-out to
 * a few hundred members or the daily digest. The replaced design's High / Medium / Low map to 2 / 3 / 4.
 */
export const PRIORITY = {
  urgent: 1,
  high: 2,
  medium: 3,
  low: 4,
  bulk: 5,
} as const;

export interface TaskQueueSettings {
  name: string;
  /** Activities running at once on one worker (the replaced design's BullMQ `concurrency`). */
  maxConcurrentActivities: number;
  /** Workflow tasks at once on one worker; workflow tasks are short, so a few suffice. */
  maxConcurrentWorkflowTasks: number;
  /** Activities per second across ALL workers of the queue (enforced by the Temporal server). */
  maxTaskQueueActivitiesPerSecond?: number;
  /** Whether this queue's worker runs workflows (otherwise activities only). */
  runsWorkflows: boolean;
}

/** The numbers in force, from configuration (shared/config.ts, defaults = the replaced design's). */
export function taskQueueSettings(
  cfg: Pick<
    Config,
    | 'MEDICATION_TASK_QUEUE'
    | 'NOTIFICATIONS_CONCURRENCY'
    | 'EMAIL_CONCURRENCY'
    | 'EMAIL_RATE_LIMIT_PER_MINUTE'
    | 'MEDICATION_CONCURRENCY'
    | 'DOSE_SEND_SLOTS'
    | 'APPOINTMENT_CONCURRENCY'
    | 'SHIFT_CONCURRENCY'
    | 'DOCUMENT_CONCURRENCY'
    | 'DEAD_LETTER_CONCURRENCY'
    | 'MAINTENANCE_CONCURRENCY'
    | 'WORKER_WORKFLOW_TASK_SLOTS'
  >,
): Record<Workload, TaskQueueSettings> {
  const q = (
    name: string,
    maxConcurrentActivities: number,
    runsWorkflows: boolean,
    extra: Partial<TaskQueueSettings> = {},
  ): TaskQueueSettings => ({
    name,
    maxConcurrentActivities,
    maxConcurrentWorkflowTasks: cfg.WORKER_WORKFLOW_TASK_SLOTS ?? Math.max(2, Math.min(10, maxConcurrentActivities)),
    runsWorkflows,
    ...extra,
  });
  return {
    // Armed doses wait on this queue's slots until their instant: the slots are sized for a burst,
    // and their provider calls are capped by DOSE_SEND_CONCURRENCY inside the worker instead.
    medication: q(cfg.MEDICATION_TASK_QUEUE, cfg.MEDICATION_CONCURRENCY + cfg.DOSE_SEND_SLOTS, true, {
      maxConcurrentWorkflowTasks:
        cfg.WORKER_WORKFLOW_TASK_SLOTS ?? Math.max(2, Math.min(10, cfg.MEDICATION_CONCURRENCY)),
    }),
    appointment: q(TASK_QUEUES.appointment, cfg.APPOINTMENT_CONCURRENCY, true),
    shift: q(TASK_QUEUES.shift, cfg.SHIFT_CONCURRENCY, true),
    // Circle fan-out workflows (and their batches) run here too, next to their deliveries.
    notifications: q(TASK_QUEUES.notifications, cfg.NOTIFICATIONS_CONCURRENCY, true),
    email: q(TASK_QUEUES.email, cfg.EMAIL_CONCURRENCY, false, {
      maxTaskQueueActivitiesPerSecond: cfg.EMAIL_RATE_LIMIT_PER_MINUTE / 60,
    }),
    documents: q(TASK_QUEUES.documents, cfg.DOCUMENT_CONCURRENCY, true),
    deadLetters: q(TASK_QUEUES.deadLetters, cfg.DEAD_LETTER_CONCURRENCY, true),
    maintenance: q(TASK_QUEUES.maintenance, cfg.MAINTENANCE_CONCURRENCY, true),
  };
}
