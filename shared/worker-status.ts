/**
 * What a worker process says about itself at GET /status (workers/endpoint.ts), read by the API's
 * GET /v1/ops/queues (api/ops-status.ts): the contract between the two processes.
 */
import type { circuitStates } from './metrics.ts';

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
