/**
 * What every worker gets for operations: activity lifecycle logs and metrics (an activity
 * interceptor), workflow lifecycle logs (a workflow interceptor module), and the Temporal Runtime
 * wired to our logger and to a Prometheus exporter.
 *
 * The SDK logs the same lifecycle events itself at DEBUG ("Activity started", ...); ours add what
 * an operator needs (will it retry? how long did it wait in the queue?) at INFO/WARN/ERROR, so the
 * SDK's copies are kept at debug (see temporalLogger).
 */
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import {
  ApplicationFailure,
  CancelledFailure,
  type LogLevel,
  type LogMetadata,
  type Logger as TemporalLogger,
} from '@temporalio/common';
import {
  Runtime,
  makeTelemetryFilterString,
  type ActivityExecuteInput,
  type ActivityInboundCallsInterceptor,
  type ActivityInterceptorsFactory,
  type Next,
  type WorkerInterceptors,
} from '@temporalio/worker';
import type { Config } from '../shared/config.ts';
import type { Logger } from '../shared/logger.ts';
import {
  activitiesInFlight,
  activityDuration,
  activityExecutions,
  activityScheduleToStart,
} from '../shared/metrics.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';

export const workflowInterceptorsPath = fileURLToPath(
  new URL('../workflows/observability-interceptors.ts', import.meta.url),
);

/**
 * Interceptors for every worker (workers/build.ts). The workflow module is compiled into the
 * workflow bundle: `buildWorkers` bundles it; a prebuilt bundle needs
 * `bundleWorkflowCode({ workflowInterceptorModules: [workflowInterceptorsPath] })`.
 */
export function workerInterceptors(): WorkerInterceptors {
  return { activity: [activityObservability], workflowModules: [workflowInterceptorsPath] };
}

export type ActivityOutcome = 'completed' | 'failed_retryable' | 'failed_final' | 'cancelled';

/** Logs and counts every activity attempt: start, success or failure, with will-retry and duration. */
export const activityObservability: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new ActivityLifecycle(ctx),
  outbound: {
    // The base64 task token is long and useless in a log line; the ids identify the attempt.
    getLogAttributes: (input, next) => {
      const { taskToken: _taskToken, ...rest } = next(input);
      return rest;
    },
  },
});

let running = 0;
/** Activity attempts running in this process right now. */
export function inFlightActivityCount(): number {
  return running;
}

class ActivityLifecycle implements ActivityInboundCallsInterceptor {
  constructor(private readonly ctx: Context) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { info, log } = this.ctx;
    const labels = { task_queue: info.taskQueue, activity_type: info.activityType };
    const scheduleToStartMs = Math.max(0, Date.now() - info.currentAttemptScheduledTimestampMs);
    activityScheduleToStart.observe(labels, scheduleToStartMs / 1000);
    activitiesInFlight.inc({ task_queue: info.taskQueue });
    running++;
    log.info('activity attempt started', { scheduleToStartMs });
    const started = performance.now();
    try {
      const result = await next(input);
      const durationMs = Math.round(performance.now() - started);
      this.finish(labels, 'completed', durationMs);
      log.info('activity attempt completed', { durationMs });
      return result;
    } catch (err) {
      const durationMs = Math.round(performance.now() - started);
      const outcome = classifyFailure(this.ctx, err);
      this.finish(labels, outcome, durationMs);
      const fields = {
        durationMs,
        willRetry: outcome === 'failed_retryable',
        errorType: err instanceof ApplicationFailure ? err.type : err instanceof Error ? err.name : typeof err,
        error: err,
      };
      if (outcome === 'cancelled') log.info('activity attempt cancelled', fields);
      else if (outcome === 'failed_retryable') log.warn('activity attempt failed', fields);
      else log.error('activity attempt failed', fields);
      throw err;
    }
  }

  private finish(labels: { task_queue: string; activity_type: string }, outcome: ActivityOutcome, ms: number): void {
    activitiesInFlight.dec({ task_queue: labels.task_queue });
    running--;
    activityDuration.observe(labels, ms / 1000);
    activityExecutions.inc({ ...labels, outcome });
  }
}

/**
 * Whether Temporal will schedule another attempt, from what the worker knows: the retry policy
 * (attempts, non-retryable types), the failure's own nonRetryable flag, and why a cancellation
 * happened. A schedule-to-close timeout can still end retries earlier than this predicts.
 */
export function classifyFailure(ctx: Context, err: unknown): ActivityOutcome {
  const details = ctx.cancellationDetails;
  const cancelled = err instanceof CancelledFailure || (err instanceof Error && err.name === 'AbortError');
  if (cancelled && ctx.cancellationSignal.aborted && details && !details.workerShutdown && !details.timedOut) {
    return 'cancelled'; // requested by the workflow (or paused/reset by an operator): not a failure
  }
  if (err instanceof ApplicationFailure && err.nonRetryable) return 'failed_final';
  const policy = ctx.info.retryPolicy;
  const type = err instanceof ApplicationFailure ? err.type : err instanceof Error ? err.name : undefined;
  if (type && policy?.nonRetryableErrorTypes?.includes(type)) return 'failed_final';
  const max = policy?.maximumAttempts ?? 0;
  if (max > 0 && ctx.info.attempt >= max) return 'failed_final';
  return 'failed_retryable';
}

// ---- Temporal Runtime -------------------------------------------------------------------------

/** The SDK's own lifecycle lines, which ours replace at INFO: kept, at debug. */
const SDK_LIFECYCLE_MESSAGES = new Set([
  'Activity started',
  'Activity completed',
  'Activity failed',
  'Activity completed as cancelled',
  'Workflow started',
  'Workflow completed',
  'Workflow completed as cancelled',
  'Workflow continued as new',
  'Workflow failed',
]);

/**
 * What every worker says as it starts and stops, and which queues poll no workflows or Nexus
 * tasks (by design: activity-only queues): nothing to act on, so debug. Our own "worker started"
 * and "worker stopped" lines say the same once.
 */
const SDK_ROUTINE_MESSAGES = new Set([
  'Worker state changed',
  'No workflows registered, not polling for workflow tasks',
  'No activities registered, not polling for activity tasks',
  'No Nexus services registered, not polling for Nexus tasks',
]);

/**
 * Our own lifecycle lines for work that went fine. On the maintenance queue (digest,
 * reconciliation and clean-up, started by Temporal Schedules every few minutes) that is
 * housekeeping nobody acts on, so debug; its failures and retries keep their levels.
 */
const SUCCESS_LINES = new Set([
  'workflow run started',
  'workflow run completed',
  'activity attempt started',
  'activity attempt completed',
]);
const isRoutine = (message: string, meta?: LogMetadata) =>
  SDK_LIFECYCLE_MESSAGES.has(message) ||
  SDK_ROUTINE_MESSAGES.has(message) ||
  (SUCCESS_LINES.has(message) && meta?.taskQueue === TASK_QUEUES.maintenance);

/** Temporal's Logger interface on top of pino: SDK, workflow, activity and (forwarded) core logs. */
export function temporalLogger(logger: Logger): TemporalLogger {
  const emit = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const pinoLevel = isRoutine(message, meta)
      ? 'debug'
      : (level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error');
    // pino serialises `err` (type, message, stack); the SDK calls it `error`.
    const { error, ...rest } = meta ?? {};
    logger[pinoLevel](error === undefined ? rest : { ...rest, err: error }, message);
  };
  return {
    log: emit,
    trace: (message, meta) => emit('TRACE', message, meta),
    debug: (message, meta) => emit('DEBUG', message, meta),
    info: (message, meta) => emit('INFO', message, meta),
    warn: (message, meta) => emit('WARN', message, meta),
    error: (message, meta) => emit('ERROR', message, meta),
  };
}

/** Core (Rust) log verbosity for a LOG_LEVEL: core is chatty, so it stays a step quieter. */
function coreLogLevel(level: Config['LOG_LEVEL']): LogLevel {
  if (level === 'trace') return 'DEBUG';
  if (level === 'debug') return 'INFO';
  if (level === 'fatal' || level === 'error' || level === 'silent') return 'ERROR';
  return 'WARN';
}

/**
 * Installs the process-wide Temporal Runtime: every log line through `logger`, SDK metrics on a
 * Prometheus endpoint at `prometheusAddress` (host:port), durations in seconds. Signals are left to
 * the caller (workers/lifecycle.ts), which also flips readiness and stops the HTTP endpoint.
 */
export function installTemporalRuntime(opts: {
  logger: Logger;
  logLevel: Config['LOG_LEVEL'];
  prometheusAddress?: string;
}): void {
  Runtime.install({
    logger: temporalLogger(opts.logger),
    shutdownSignals: [],
    telemetryOptions: {
      logging: {
        filter: makeTelemetryFilterString({ core: coreLogLevel(opts.logLevel), other: 'ERROR' }),
        forward: {},
      },
      ...(opts.prometheusAddress
        ? { metrics: { prometheus: { bindAddress: opts.prometheusAddress, useSecondsForDurations: true } } }
        : {}),
    },
  });
}
