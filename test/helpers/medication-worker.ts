/**
 * A medication-reminder worker for tests: one task queue that runs the medication workflows and every
 * activity, built by workers/build.ts like every production worker.
 */
import type { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../../activities/index.ts';
import { buildWorker } from '../../workers/build.ts';

export interface MedicationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** Tests pass a prebuilt bundle to avoid re-bundling for every worker. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Default 5 concurrent activities. */
  maxConcurrentActivityTaskExecutions?: number;
  /** How long in-flight activities may run on after shutdown begins before they are cancelled. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
}

export function createMedicationWorker(options: MedicationWorkerOptions): Promise<Worker> {
  const concurrency = options.maxConcurrentActivityTaskExecutions ?? 5;
  return buildWorker({
    connection: options.connection,
    namespace: options.namespace,
    settings: {
      name: options.taskQueue,
      maxConcurrentActivities: concurrency,
      maxConcurrentWorkflowTasks: Math.max(2, Math.min(10, concurrency)),
      runsWorkflows: true,
    },
    activities: options.activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : {}),
    ...(options.shutdownGraceTime ? { shutdownGraceTime: options.shutdownGraceTime } : {}),
  });
}
