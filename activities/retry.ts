/**
 * The replaced design's retry decision tree, applied where an activity fails: every error leaves the activity
 * as an ApplicationFailure that says whether Temporal may retry it and, when it may, after how long.
 *
 * - permanent (no retry): a DeliveryError marked permanent (400, 403, 404, 422, an unregistered push
 *   token, a rejected payload), a validation error (Prisma's or ours).
 * - transient (retry): network failures and timeouts, 408/429/5xx, an open circuit breaker, the
 *   database being unreachable, anything unknown.
 *
 * Delay of a transient failure: the provider's Retry-After when it gave one; otherwise the retry
 * policy in force (Temporal hands it to the activity) for this attempt, ± jitter, so that a burst
 * of failures does not come back as a burst. An open circuit waits at least until it half-opens.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { TemporalFailure, type RetryPolicy } from '@temporalio/common';
import { isDatabaseUnavailable } from '../shared/db-errors.ts';
import {
  jitteredDelayMs,
  PERMANENT_DELIVERY_ERROR,
  TRANSIENT_DELIVERY_ERROR,
  VALIDATION_ERROR,
} from '../shared/retry-policies.ts';
import { CircuitOpenError } from '../providers/circuit-breaker.ts';
import { DeliveryError } from '../providers/types.ts';

export const DATABASE_UNAVAILABLE_ERROR = 'DatabaseUnavailable';

export interface FailureOptions {
  /** In [0, 1); tests pin it. */
  random?: () => number;
  /**
   * The policy to jitter when the server does not tell the activity its retry policy (Temporal's
   * time-skipping test server does not); real servers do, and theirs wins.
   */
  fallbackPolicy?: RetryPolicy;
}

/** The jittered delay before the next attempt, or undefined outside an activity / without a policy. */
export function nextJitteredDelayMs(opts: FailureOptions = {}): number | undefined {
  let info;
  try {
    info = Context.current().info;
  } catch {
    return undefined;
  }
  const policy = info.retryPolicy ?? opts.fallbackPolicy;
  if (!policy) return undefined;
  return jitteredDelayMs(policy, info.attempt, (opts.random ?? Math.random)());
}

function withDelay(delayMs: number | undefined): { nextRetryDelay?: number } {
  return delayMs !== undefined ? { nextRetryDelay: delayMs } : {};
}

export function toActivityFailure(err: unknown, opts: FailureOptions = {}): Error {
  // Already decided (ApplicationFailure), or a cancellation that must stay one.
  if (err instanceof TemporalFailure) return err;
  if (err instanceof DeliveryError) {
    if (err.permanent) {
      return ApplicationFailure.create({
        message: err.message,
        type: PERMANENT_DELIVERY_ERROR,
        nonRetryable: true,
        details: [err.code],
      });
    }
    let delay: number | undefined;
    if (err instanceof CircuitOpenError) {
      const jittered = nextJitteredDelayMs(opts);
      delay = Math.max(jittered ?? 0, err.retryAfterMs ?? 0);
    } else {
      // Honour the provider's Retry-After instead of our own backoff when it gave one.
      delay = err.retryAfterMs ?? nextJitteredDelayMs(opts);
    }
    return ApplicationFailure.create({
      message: err.message,
      type: TRANSIENT_DELIVERY_ERROR,
      details: [err.code],
      ...withDelay(delay),
    });
  }
  const error = err instanceof Error ? err : new Error(String(err));
  if (isDatabaseUnavailable(err)) {
    return ApplicationFailure.create({
      message: error.message,
      type: DATABASE_UNAVAILABLE_ERROR,
      cause: error,
      ...withDelay(nextJitteredDelayMs(opts)),
    });
  }
  if (error.name === 'PrismaClientValidationError' || error.name === 'ZodError') {
    return ApplicationFailure.create({
      message: error.message,
      type: VALIDATION_ERROR,
      nonRetryable: true,
      cause: error,
    });
  }
  return ApplicationFailure.create({
    message: error.message,
    type: error.name || 'Error',
    cause: error,
    ...withDelay(nextJitteredDelayMs(opts)),
  });
}
