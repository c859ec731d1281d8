/**
 * The life of a worker process, for workers/main.ts, bench/worker.ts and test workers: Temporal
 * Runtime with our logger and SDK metrics, the worker's HTTP endpoint (workers/endpoint.ts), and
 * graceful shutdown.
 *
 * Shutdown, on SIGTERM or SIGINT: /ready turns 503, `draining` is aborted (armed doses still waiting
 * for their instant fail at once with a retryable failure and another worker takes them over, see
 * activities/dose-sends.ts), the worker stops polling, other in-flight activities get the worker's
 * shutdownGraceTime (WORKER_SHUTDOWN_GRACE) to finish; past it the SDK cancels
 * them, they fail with "worker is shutting down" and Temporal retries them on another worker
 * (resuming from their last heartbeat details). Then the endpoint and the connection close and the
 * process exits 0. An activity that ignores cancellation cannot hold the process forever: after the
 * grace time plus HARD_STOP_MARGIN_MS the process exits anyway, and Temporal retries that activity
 * when its heartbeat or start-to-close timeout expires.
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Config } from '../shared/config.ts';
import { freePort } from '../shared/free-port.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { enableProcessMetrics } from '../shared/metrics.ts';
import { describeTemporalConnection, temporalConnectionOptions } from '../shared/temporal-connection.ts';
import { startWorkerEndpoint, workerStatus } from './endpoint.ts';
import { inFlightActivityCount, installTemporalRuntime } from './observability.ts';

const HARD_STOP_MARGIN_MS = 10_000;

export interface WorkerProcessOptions {
  /** Logger name, e.g. "worker". */
  name: string;
  cfg: Config;
  /**
   * Builds the process's worker(s), one per task queue it serves, each with `shutdownGraceTime:
   * shutdownGraceMs` (= WORKER_SHUTDOWN_GRACE).
   */
  createWorkers(ctx: {
    connection: NativeConnection;
    logger: Logger;
    shutdownGraceMs: number;
    /** Aborted when shutdown starts: give it to the activities as `draining` (createActivities). */
    draining: AbortSignal;
  }): Promise<Worker | Worker[]>;
  /** Runs after the worker has stopped (close database pools, ...). */
  onStopped?(): Promise<void>;
}

export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<void> {
  const { cfg } = opts;
  const logger = createLogger(opts.name);
  // A stop asked for while starting (bundling takes seconds) is honoured once the workers exist,
  // instead of Node's default of dying on the signal with a non-zero status.
  let stopRequested: NodeJS.Signals | null = null;
  const stopWhileStarting = (signal: NodeJS.Signals) => {
    stopRequested ??= signal;
    logger.info({ signal }, 'stop requested while starting');
  };
  process.on('SIGTERM', stopWhileStarting);
  process.on('SIGINT', stopWhileStarting);
  enableProcessMetrics();

  // The SDK's exporter listens on a private loopback port; /metrics merges it with ours.
  const sdkMetricsAddress = `127.0.0.1:${await freePort()}`;
  installTemporalRuntime({ logger, logLevel: cfg.LOG_LEVEL, prometheusAddress: sdkMetricsAddress });

  const settings = temporalConnectionOptions(cfg);
  const connection = await NativeConnection.connect(settings);
  const drainingController = new AbortController();
  let workers: Worker[];
  try {
    const created = await opts.createWorkers({
      connection,
      logger,
      shutdownGraceMs: cfg.WORKER_SHUTDOWN_GRACE,
      draining: drainingController.signal,
    });
    workers = Array.isArray(created) ? created : [created];
  } catch (err) {
    await connection.close();
    throw err;
  }

  let draining = false;
  const endpoint = await startWorkerEndpoint({
    host: cfg.WORKER_METRICS_HOST,
    port: cfg.WORKER_METRICS_PORT,
    sdkMetricsUrl: `http://${sdkMetricsAddress}/metrics`,
    status: () => workerStatus(workers, draining, cfg),
  });
  logger.info(
    {
      taskQueues: workers.map((w) => w.options.taskQueue),
      namespace: workers[0]?.options.namespace,
      temporal: describeTemporalConnection(settings),
      endpoint: endpoint.url,
      shutdownGraceMs: cfg.WORKER_SHUTDOWN_GRACE,
    },
    'worker started',
  );

  const shutdown = (signal: NodeJS.Signals) => {
    if (draining) return;
    draining = true;
    const inFlight = inFlightActivityCount();
    logger.info({ signal, inFlightActivities: inFlight, graceMs: cfg.WORKER_SHUTDOWN_GRACE }, 'worker draining');
    setTimeout(() => {
      logger.error(
        { inFlightActivities: inFlightActivityCount() },
        'activities ignored cancellation past the grace time; exiting, Temporal retries them after their timeout',
      );
      process.exit(0);
    }, cfg.WORKER_SHUTDOWN_GRACE + HARD_STOP_MARGIN_MS).unref();
    // Before the SDK's shutdown: a dose waiting for its instant is handed over now, not after the grace time.
    drainingController.abort();
    for (const worker of workers) worker.shutdown();
  };
  process.off('SIGTERM', stopWhileStarting);
  process.off('SIGINT', stopWhileStarting);
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (stopRequested) {
    // Nothing polled yet, so nothing is in flight: start and stop at once, which releases the
    // workers' hold on the connection the way a normal shutdown does.
    draining = true;
    drainingController.abort();
    await Promise.all(workers.map((worker) => worker.runUntil(Promise.resolve())));
    await endpoint.close();
    await connection.close();
    await opts.onStopped?.();
    logger.info({ signal: stopRequested }, 'worker stopped before it started polling');
    process.exit(0);
  }

  // One failed worker stops the others: a half-working process is worse than a restarted one.
  let failed = false;
  await Promise.all(
    workers.map((worker) =>
      worker.run().catch((err: unknown) => {
        failed = true;
        logger.error({ err, taskQueue: worker.options.taskQueue }, 'worker failed');
        for (const other of workers) if (other.getState() === 'RUNNING') other.shutdown();
      }),
    ),
  );
  await endpoint.close();
  await connection.close();
  await opts.onStopped?.();
  logger.info('worker stopped');
  process.exit(failed ? 1 : 0);
}
