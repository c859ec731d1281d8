/**
 * The one place workers are built: one Temporal Worker per workload (task queue), each with the
 * concurrency, rate limit and duties of shared/task-queues.ts. Used by workers/main.ts,
 * workers/medication-worker.ts (kept for its callers) and tests.
 *
 * Every worker registers every activity (routing is by task queue, not by registration), and the
 * workers that run workflows share one bundle of workflows/index.ts, built once per process.
 */
import { fileURLToPath } from 'node:url';
import {
  bundleWorkflowCode,
  Runtime,
  Worker,
  type NativeConnection,
  type WorkerInterceptors,
  type WorkerOptions,
} from '@temporalio/worker';
import { WORKLOADS, type TaskQueueSettings, type Workload } from '../shared/task-queues.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface BuildWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The queue's settings (`taskQueueSettings(cfg)[workload]`, or hand-made in tests). */
  settings: TaskQueueSettings;
  /** Usually `createActivities(...)`; tests pass stand-ins. */
  activities: object;
  /** A prebuilt bundle (shared by the workers of a process or a test file); else bundled from workflowsPath. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** How long in-flight activities may run on after shutdown begins before they are cancelled. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  interceptors?: WorkerInterceptors;
  /** Workflows kept in memory per workflow-running worker (WORKER_MAX_CACHED_WORKFLOWS); unset: the SDK's default. */
  maxCachedWorkflows?: number;
}

export function buildWorker(options: BuildWorkerOptions): Promise<Worker> {
  const { settings } = options;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: settings.name,
    activities: options.activities,
    ...(settings.runsWorkflows
      ? {
          ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
          maxConcurrentWorkflowTaskExecutions: settings.maxConcurrentWorkflowTasks,
          ...(options.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: options.maxCachedWorkflows } : {}),
        }
      : {}),
    maxConcurrentActivityTaskExecutions: settings.maxConcurrentActivities,
    ...(settings.maxTaskQueueActivitiesPerSecond !== undefined
      ? { maxTaskQueueActivitiesPerSecond: settings.maxTaskQueueActivitiesPerSecond }
      : {}),
    shutdownGraceTime: options.shutdownGraceTime ?? '30 seconds',
    // Workflow interceptor modules are part of a prebuilt bundle already (see buildWorkers).
    ...(options.interceptors
      ? {
          interceptors: options.workflowBundle
            ? { ...options.interceptors, workflowModules: [] }
            : options.interceptors,
        }
      : {}),
  });
}

/** WORKER_QUEUES ("all", or a comma-separated list of workloads such as "notifications,email") → workloads. */
export function selectedWorkloads(value: string): Workload[] {
  const wanted = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (wanted.length === 0 || wanted.includes('all')) return [...WORKLOADS];
  const unknown = wanted.filter((w) => !(WORKLOADS as string[]).includes(w));
  if (unknown.length > 0) {
    throw new Error(`WORKER_QUEUES: unknown workload(s) ${unknown.join(', ')}; known: all, ${WORKLOADS.join(', ')}`);
  }
  return wanted as Workload[];
}

export interface BuildWorkersOptions extends Omit<BuildWorkerOptions, 'settings'> {
  settings: Record<Workload, TaskQueueSettings>;
  workloads: Workload[];
}

/** A worker for each workload, the workflow code bundled once for all of them. */
export async function buildWorkers(options: BuildWorkersOptions): Promise<Worker[]> {
  const { settings, workloads, ...common } = options;
  const needsBundle = workloads.some((w) => settings[w].runsWorkflows);
  const workflowBundle =
    common.workflowBundle ??
    (needsBundle
      ? await bundleWorkflowCode({
          workflowsPath,
          // Through the process's logger (the Runtime's); its report of a good build is routine.
          logger: {
            ...Runtime.instance().logger,
            info: (message, meta) => Runtime.instance().logger.debug(message, meta),
          },
          ...(common.interceptors?.workflowModules
            ? { workflowInterceptorModules: common.interceptors.workflowModules }
            : {}),
        })
      : undefined);
  const workers: Worker[] = [];
  for (const workload of workloads) {
    workers.push(
      await buildWorker({ ...common, settings: settings[workload], ...(workflowBundle ? { workflowBundle } : {}) }),
    );
  }
  return workers;
}
