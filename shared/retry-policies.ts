/**
 * The replaced design's retry table (docs/design.md) as Temporal retry policies, one per kind of
 * activity, plus the jitter that Temporal's policies lack. Safe to import from workflow code (no
 * Node APIs).
 *
 * | kind          | replaced design                   | here                                          |
 * | ------------- | --------------------------------- | --------------------------------------------- |
 * | notification  | 3 attempts, exponential           | 3 attempts, 1 min × 2ⁿ (1, 2 min)              |
 * | medication    | 2 attempts, 5-minute delay        | 2 attempts, 5 min                              |
 * | appointment   | 3 attempts, 15-minute delay       | 3 attempts, 15 min                             |
 * | shift         | 3 attempts, 15-minute delay       | 3 attempts, 15 min                             |
 * | document      | 5 attempts, exponential           | 5 attempts, 1 min × 2ⁿ (1, 2, 4, 8 min)        |
 * | bookkeeping   | (not in it)                       | until it succeeds, 1 s × 2ⁿ up to 1 min        |
 *
 * | armedDose     (not in it)                       | crash: 1 s × 2ⁿ up to 10 s; provider: as medication |
 *
 * Every delay is jittered by ±JITTER_RATIO (so 5 min is 4–6 min) by the activity itself: it throws
 * an ApplicationFailure whose `nextRetryDelay` is the policy's delay for this attempt with jitter
 * (activities/retry.ts). A provider's Retry-After replaces that delay. Errors of the types in
 * NON_RETRYABLE_ERROR_TYPES are never retried.
 */
import type { Duration, RetryPolicy } from '@temporalio/common';

export type DeliveryKind = 'notification' | 'medication' | 'appointment' | 'shift';
export type ActivityKind = DeliveryKind | 'document' | 'bookkeeping' | 'armedDose';

/** Failure types that no retry can fix: validation, 400/403/404, an unregistered push token. */
export const PERMANENT_DELIVERY_ERROR = 'PermanentDeliveryError';
export const TRANSIENT_DELIVERY_ERROR = 'TransientDeliveryError';
export const VALIDATION_ERROR = 'ValidationError';
export const NON_RETRYABLE_ERROR_TYPES = [PERMANENT_DELIVERY_ERROR, VALIDATION_ERROR];

/** ±20 %: enough to spread a burst of retries over minutes, small enough to keep the replaced design's timing. */
export const JITTER_RATIO = 0.2;

const MINUTE = 60_000;

export const RETRY_POLICIES: Record<ActivityKind, RetryPolicy> = {
  notification: {
    maximumAttempts: 3,
    initialInterval: MINUTE,
    backoffCoefficient: 2,
    maximumInterval: 10 * MINUTE,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
  medication: {
    maximumAttempts: 2,
    initialInterval: 5 * MINUTE,
    backoffCoefficient: 1,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
  appointment: {
    maximumAttempts: 3,
    initialInterval: 15 * MINUTE,
    backoffCoefficient: 1,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
  shift: {
    maximumAttempts: 3,
    initialInterval: 15 * MINUTE,
    backoffCoefficient: 1,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
  document: {
    maximumAttempts: 5,
    initialInterval: MINUTE,
    backoffCoefficient: 2,
    maximumInterval: 30 * MINUTE,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
  /**
   * A dose reminder armed ahead of its instant. A worker that dies is replaced within seconds (the
   * short interval here); a provider's failure waits the medication delay, which the activity sets
   * itself (nextRetryDelay), and counts against the medication's two attempts per channel there.
   */
  armedDose: {
    initialInterval: 1000,
    backoffCoefficient: 2,
    maximumInterval: 10_000,
    maximumAttempts: 20,
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
  bookkeeping: {
    initialInterval: 1000,
    backoffCoefficient: 2,
    maximumInterval: MINUTE,
    nonRetryableErrorTypes: [VALIDATION_ERROR],
  },
};

/** How long one attempt may take before Temporal counts it as failed (and retries it). */
export const START_TO_CLOSE: Record<ActivityKind, Duration> = {
  notification: '1 minute',
  medication: '1 minute',
  appointment: '1 minute',
  shift: '1 minute',
  document: '30 minutes',
  bookkeeping: '30 seconds',
  /** Plus the arm lead: the workflow sets its own (lead + this). */
  armedDose: '2 minutes',
};

/**
 * Which retry policy a notification gets, from its record's `kind` (`dose_reminder`, …) or its
 * dedupe key (`dose:…`, `appointment:…`, `shift:…`): for dead-letter retries and for activities on
 * a server that does not pass the policy along.
 */
export function deliveryKindOf(notificationKind: string): DeliveryKind {
  if (notificationKind.startsWith('dose') || notificationKind.startsWith('medication')) return 'medication';
  if (notificationKind.startsWith('appointment')) return 'appointment';
  if (notificationKind.startsWith('shift')) return 'shift';
  return 'notification';
}

function toMs(value: RetryPolicy['initialInterval'], fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number') return value;
  // Durations as the activity sees them are numbers; strings here come only from hand-written policies.
  const m = /^\s*([\d.]+)\s*(ms|milliseconds?|s|seconds?|m|minutes?|h|hours?)?\s*$/i.exec(String(value));
  if (!m) return fallback;
  const unit = (m[2] ?? 'ms').toLowerCase();
  const factor = unit.startsWith('h')
    ? 3_600_000
    : unit === 'ms' || unit.startsWith('milli')
      ? 1
      : unit.startsWith('m')
        ? MINUTE
        : 1000;
  return Number(m[1]) * factor;
}

/**
 * The policy's own delay after failed attempt `attempt` (1-based), as Temporal computes it:
 * initialInterval × backoffCoefficient^(attempt-1), capped at maximumInterval.
 */
export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  const initial = toMs(policy.initialInterval, 1000);
  const coefficient = policy.backoffCoefficient ?? 2;
  const maximum = toMs(policy.maximumInterval, initial * 100);
  return Math.min(maximum, initial * coefficient ** Math.max(0, attempt - 1));
}

/** `backoffDelayMs` spread by ±ratio; `random` in [0, 1). */
export function jitteredDelayMs(policy: RetryPolicy, attempt: number, random: number, ratio = JITTER_RATIO): number {
  const base = backoffDelayMs(policy, attempt);
  return Math.max(0, Math.round(base * (1 + ratio * (2 * random - 1))));
}
