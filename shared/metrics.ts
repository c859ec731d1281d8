/**
 * The application's Prometheus metrics (prom-client). Workers fill the
 * activity and circuit-breaker metrics as work happens; the API fills the task-queue and
 * dead-letter gauges from the Temporal server and the database on each scrape. Names and meanings
 * are listed in docs/operations.md, and ops/alerts.rules.yml alerts on them.
 *
 * Temporal's own SDK metrics (temporal_*) come from the SDK's Prometheus exporter and are merged
 * into the worker's /metrics (workers/endpoint.ts); they are not in this registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
const registers = [metricsRegistry];

let processMetricsEnabled = false;
/** Process metrics: process_resident_memory_bytes, nodejs_heap_size_used_bytes, event-loop lag, GC. */
export function enableProcessMetrics(): void {
  if (processMetricsEnabled) return;
  processMetricsEnabled = true;
  collectDefaultMetrics({ register: metricsRegistry });
}

// ---- Activities (filled by the worker's activity interceptor, workers/observability.ts) --------

/**
 * outcome: `completed`; `failed_retryable` (Temporal schedules another attempt); `failed_final`
 * (no attempt left or not retryable: a medication delivery then becomes a dead letter);
 * `cancelled` (the workflow cancelled it).
 */
export const activityExecutions = new Counter({
  name: 'carecircle_activity_executions_total',
  help: 'Activity attempts finished, by task queue, activity type and outcome',
  labelNames: ['task_queue', 'activity_type', 'outcome'] as const,
  registers,
});

/** Rows found out of step with their workflow by the reconciliation, and repaired from it. */
export const scheduleDrift = new Counter({
  name: 'carecircle_schedule_drift_total',
  help: 'Schedules whose database row disagreed with their workflow (repaired in favour of the workflow)',
  labelNames: ['kind'] as const,
  registers,
});

export const activityDuration = new Histogram({
  name: 'carecircle_activity_duration_seconds',
  help: 'Run time of one activity attempt',
  labelNames: ['task_queue', 'activity_type'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers,
});

/** Time in queue: from the attempt being scheduled to a worker starting it. */
export const activityScheduleToStart = new Histogram({
  name: 'carecircle_activity_schedule_to_start_seconds',
  help: 'Time an activity attempt waited in its task queue before a worker started it',
  labelNames: ['task_queue', 'activity_type'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
  registers,
});

export const activitiesInFlight = new Gauge({
  name: 'carecircle_activities_in_flight',
  help: 'Activity attempts running in this worker process',
  labelNames: ['task_queue'] as const,
  registers,
});

// ---- Provider circuit breakers (set by the providers' breakers) --------------------------------

/** Index = gauge value, and the same numbering as cockatiel's `CircuitState` enum. */
export const CIRCUIT_STATES = ['closed', 'open', 'half_open', 'isolated'] as const;
export type CircuitStateName = (typeof CIRCUIT_STATES)[number];

const circuitState = new Gauge({
  name: 'carecircle_provider_circuit_state',
  help: 'Provider circuit breaker: 0 closed (calls flow), 1 open (calls rejected), 2 half-open (probing), 3 isolated',
  labelNames: ['provider'] as const,
  registers,
});

const circuits = new Map<string, { state: CircuitStateName; since: Date }>();

/**
 * Records a breaker's state, e.g. from cockatiel's `breaker.onStateChange((s) => setCircuitState('resend', s))`:
 * `state` is a name or cockatiel's numeric `CircuitState` (0 closed, 1 open, 2 half-open, 3 isolated).
 */
export function setCircuitState(provider: string, state: CircuitStateName | number): void {
  const name = typeof state === 'number' ? CIRCUIT_STATES[state] : state;
  if (!name || !CIRCUIT_STATES.includes(name)) throw new Error(`Unknown circuit state ${String(state)}`);
  if (circuits.get(provider)?.state !== name) circuits.set(provider, { state: name, since: new Date() });
  circuitState.set({ provider }, CIRCUIT_STATES.indexOf(name));
}

/** Every breaker this process has reported, for the worker's /status and GET /v1/ops/queues. */
export function circuitStates(): Record<string, { state: CircuitStateName; since: string }> {
  return Object.fromEntries(
    [...circuits].map(([provider, c]) => [provider, { state: c.state, since: c.since.toISOString() }]),
  );
}

// ---- Task queues and dead letters (set by the API on each scrape, api/ops-status.ts) -----------

/**
 * Served by the API only: these describe the whole system (the server's queues, the database's
 * dead letters), so a worker exporting them as 0 would only mislead.
 */
export const systemMetricsRegistry = new Registry();
const systemRegisters = [systemMetricsRegistry];
const queueLabels = ['task_queue', 'task_type'] as const;

export const taskQueueGauges = {
  backlog: new Gauge({
    name: 'carecircle_task_queue_backlog',
    help: "Tasks waiting in the task queue (the server's approximate backlog count)",
    labelNames: queueLabels,
    registers: systemRegisters,
  }),
  backlogAge: new Gauge({
    name: 'carecircle_task_queue_backlog_age_seconds',
    help: 'Age of the oldest task waiting in the task queue',
    labelNames: queueLabels,
    registers: systemRegisters,
  }),
  addRate: new Gauge({
    name: 'carecircle_task_queue_add_rate',
    help: 'Tasks added to the task queue per second (server average over the last 30 s)',
    labelNames: queueLabels,
    registers: systemRegisters,
  }),
  dispatchRate: new Gauge({
    name: 'carecircle_task_queue_dispatch_rate',
    help: 'Tasks handed to workers per second (server average over the last 30 s)',
    labelNames: queueLabels,
    registers: systemRegisters,
  }),
  pollers: new Gauge({
    name: 'carecircle_task_queue_pollers',
    help: 'Worker pollers the server has seen on the task queue recently',
    labelNames: queueLabels,
    registers: systemRegisters,
  }),
  up: new Gauge({
    name: 'carecircle_task_queue_stats_up',
    help: '1 when the Temporal server described the task queue at the last scrape, 0 when it could not',
    labelNames: queueLabels,
    registers: systemRegisters,
  }),
};

export const deadLetterGauges = {
  open: new Gauge({
    name: 'carecircle_dead_letters_open',
    help: 'Dead letters waiting for an operator (dead_letters rows with status open)',
    registers: systemRegisters,
  }),
  openByKind: new Gauge({
    name: 'carecircle_dead_letters_open_by_kind',
    help: 'Open dead letters by kind and channel',
    labelNames: ['kind', 'channel'] as const,
    registers: systemRegisters,
  }),
  oldestAge: new Gauge({
    name: 'carecircle_dead_letters_oldest_open_age_seconds',
    help: 'Age of the oldest open dead letter (0 when there is none)',
    registers: systemRegisters,
  }),
  up: new Gauge({
    name: 'carecircle_dead_letters_stats_up',
    help: '1 when the database answered the dead-letter count at the last scrape, 0 when the values are stale',
    registers: systemRegisters,
  }),
};

/**
 * The replaced design's alert thresholds. ops/alerts.rules.yml carries the same numbers (test/alerts.test.ts
 * checks that), and GET /v1/ops/queues flags what crosses them.
 */
export const ALERT_THRESHOLDS = {
  /** Tasks waiting in one task queue. */
  backlog: 1000,
  /** Time in queue: oldest waiting task, or p95 schedule-to-start. */
  backlogAgeSeconds: 300,
  /** Failed activity attempts out of all finished ones. */
  failureRatio: 0.05,
  /** Open dead letters: any needs an operator. */
  deadLetters: 0,
  /** Resident memory of one worker process. */
  workerMemoryBytes: 512 * 1024 * 1024,
  /** Processing rate below this fraction of the same time yesterday counts as a sharp drop. */
  processingRateDropRatio: 0.5,
} as const;
