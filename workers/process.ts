/**
 * The life of a worker process, shared by workers/main.ts and test workers: Temporal Runtime with
 * our logger and SDK metrics, the worker's HTTP endpoint (/metrics, /health, /ready, /status), and
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
import http from 'node:http';
import net from 'node:net';
import { freePort } from '../shared/free-port.ts';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Config } from '../shared/config.ts';
import { createLogger, type Logger } from '../shared/logger.ts';
import { circuitStates, enableProcessMetrics, metricsRegistry } from '../shared/metrics.ts';
import { describeTemporalConnection, temporalConnectionOptions } from '../shared/temporal-connection.ts';
import { inFlightActivityCount, installTemporalRuntime } from './observability.ts';

const HARD_STOP_MARGIN_MS = 10_000;
const SDK_METRICS_TIMEOUT_MS = 2_000;

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

export interface WorkerStatus {
  status: 'ok' | 'failed';
  ready: boolean;
  draining: boolean;
  workers: { taskQueue: string; state: string }[];
  namespace: string;
  inFlightActivities: number;
  shutdownGraceMs: number;
  memory: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number };
  circuits: ReturnType<typeof circuitStates>;
  pid: number;
  uptimeSeconds: number;
}

function workerStatus(workers: Worker[], draining: boolean, cfg: Config): WorkerStatus {
  const states = workers.map((w) => ({ taskQueue: w.options.taskQueue, state: w.getState() }));
  const mem = process.memoryUsage();
  return {
    status: states.some((s) => s.state === 'FAILED') ? 'failed' : 'ok',
    ready: !draining && states.length > 0 && states.every((s) => s.state === 'RUNNING'),
    draining,
    workers: states,
    namespace: workers[0]?.options.namespace ?? cfg.TEMPORAL_NAMESPACE,
    inFlightActivities: inFlightActivityCount(),
    shutdownGraceMs: cfg.WORKER_SHUTDOWN_GRACE,
    memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal },
    circuits: circuitStates(),
    pid: process.pid,
    uptimeSeconds: Math.round(process.uptime()),
  };
}

export interface WorkerEndpoint {
  url: string;
  close(): Promise<void>;
}

/**
 * GET /metrics  our registry + the SDK exporter's text (Prometheus text format 0.0.4)
 * GET /health   200 while the process works (also while draining), 503 once the worker failed
 * GET /ready    200 while polling, 503 while starting or draining
 * GET /status   the JSON above, read by the API's GET /v1/ops/queues
 */
export async function startWorkerEndpoint(opts: {
  host: string;
  port: number;
  sdkMetricsUrl?: string;
  status: () => WorkerStatus;
}): Promise<WorkerEndpoint> {
  const server = http.createServer((req, res) => {
    void handle(req.url ?? '/', opts).then(
      ({ status, type, body }) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { address, port } = server.address() as net.AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  url: string,
  opts: { sdkMetricsUrl?: string; status: () => WorkerStatus },
): Promise<{ status: number; type: string; body: string }> {
  const path = url.split('?')[0];
  const json = (status: number, body: unknown) => ({ status, type: 'application/json', body: JSON.stringify(body) });
  switch (path) {
    case '/metrics': {
      const [ours, sdk] = await Promise.all([metricsRegistry.metrics(), fetchSdkMetrics(opts.sdkMetricsUrl)]);
      return { status: 200, type: metricsRegistry.contentType, body: ours + sdk };
    }
    case '/health': {
      const s = opts.status();
      return json(s.status === 'ok' ? 200 : 503, { status: s.status, workers: s.workers });
    }
    case '/ready': {
      const s = opts.status();
      return json(s.ready ? 200 : 503, { ready: s.ready, draining: s.draining, workers: s.workers });
    }
    case '/status':
      return json(200, opts.status());
    default:
      return json(404, { error: `no route ${path}` });
  }
}

async function fetchSdkMetrics(url: string | undefined): Promise<string> {
  if (!url) return '';
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SDK_METRICS_TIMEOUT_MS) });
    const text = await res.text();
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  } catch (err) {
    // Our metrics still go out; the comment says why temporal_* are missing from this scrape.
    return `# Temporal SDK metrics unavailable: ${(err as Error).message}\n`;
  }
}
