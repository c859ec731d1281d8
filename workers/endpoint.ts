/**
 * The worker process's HTTP endpoint: Prometheus metrics (ours and the Temporal SDK's), health,
 * readiness and the status the API's operator view reads.
 */
import http from 'node:http';
import net from 'node:net';
import type { Worker } from '@temporalio/worker';
import type { Config } from '../shared/config.ts';
import { circuitStates, metricsRegistry } from '../shared/metrics.ts';
import type { WorkerStatus } from '../shared/worker-status.ts';
import { inFlightActivityCount } from './observability.ts';

export type { WorkerStatus } from '../shared/worker-status.ts';

const SDK_METRICS_TIMEOUT_MS = 2_000;

/** The status of this process's workers; `draining` once shutdown has started. */
export function workerStatus(workers: Worker[], draining: boolean, cfg: Config): WorkerStatus {
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
