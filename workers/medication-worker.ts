/**
 * The one place a medication-reminder worker is built, for `npm start`, production and tests alike.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../activities/index.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface MedicationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** Tests pass a prebuilt bundle to avoid re-bundling for every worker. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Seed's concurrency for medication reminders. */
  maxConcurrentActivityTaskExecutions?: number;
  /** How long in-flight activities may run on after shutdown begins before they are cancelled. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
}

export function createMedicationWorker(options: MedicationWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 5,
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
  });
}
