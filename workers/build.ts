/**
 * The one place workers are built: one Temporal Worker per workload (task queue), each with the
 * concurrency, rate limit and duties of shared/task-queues.ts. Used by workers/main.ts and tests
 * (test/helpers/workers.ts).
 *
 * Every worker registers every activity (routing is by task queue, not by registration), and the
 * workers that run workflows share one bundle of workflows/index.ts, built once per process, and
 * one workflow sandbox (a worker thread with one reused V8 context): the SDK would give each its
 * own, about 40 MB apiece, idle (docs/queues.md, "Memory"). Their workflow caches are sized from
 * WORKER_MEMORY_BUDGET_MB (`cachedWorkflowsPerWorker`).
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Runtime,
  Worker,
  type NativeConnection,
  type WorkerInterceptors,
  type WorkerOptions,
} from '@temporalio/worker';
import { WORKLOADS, type TaskQueueSettings, type Workload } from '../shared/task-queues.ts';
import type { BundleChildMessage } from './bundle-child.ts';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * A Worker whose workflow sandbox is shared with the other workers of the process built from the
 * same bundle and options. Workflows in a sandbox are keyed by run id, unique across task queues,
 * so workers on different queues can share one; the sandbox stops when the last of them does.
 * Built on the SDK's extension point for this (`createWorkflowCreator`, a protected static).
 */
class SharedSandboxWorker extends Worker {
  private static readonly sandboxes = new Map<string, { code: string; creator: Promise<Sandbox>; users: number }>();

  protected static override async createWorkflowCreator(...args: CreatorArgs): Promise<Sandbox> {
    const [bundle, options] = args;
    // Debug mode runs workflows in the main thread, and a patch callback is per worker: not shared.
    if (options.debugMode || options.patchActivationCallback) return super.createWorkflowCreator(...args);
    const key = JSON.stringify([
      bundle.filename,
      options.workflowThreadPoolSize,
      options.reuseV8Context,
      options.isolateExecutionTimeoutMs,
      [...options.activities.keys()].sort(),
    ]);
    let entry = SharedSandboxWorker.sandboxes.get(key);
    if (!entry || entry.code !== bundle.code) {
      entry = { code: bundle.code, creator: super.createWorkflowCreator(...args), users: 0 };
      SharedSandboxWorker.sandboxes.set(key, entry);
    }
    const shared = entry;
    shared.users += 1;
    let creator: Sandbox;
    try {
      creator = await shared.creator;
    } catch (err) {
      shared.users -= 1;
      if (SharedSandboxWorker.sandboxes.get(key) === shared) SharedSandboxWorker.sandboxes.delete(key);
      throw err;
    }
    let released = false;
    return {
      createWorkflow: (createOptions) => creator.createWorkflow(createOptions),
      async destroy() {
        if (released) return;
        released = true;
        shared.users -= 1;
        if (shared.users > 0) return;
        if (SharedSandboxWorker.sandboxes.get(key) === shared) SharedSandboxWorker.sandboxes.delete(key);
        await creator.destroy();
      },
    };
  }
}
type CreatorArgs = Parameters<(typeof Worker)['createWorkflowCreator']>;
type Sandbox = Awaited<ReturnType<(typeof Worker)['createWorkflowCreator']>>;
/** The file `npm run build` writes in dist/, beside the compiled workers/ folder. */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/**
 * A compiled worker (dist/workers/*.js) loads the bundle `npm run build` wrote, as Temporal's
 * production sample does: no webpack at start, and none of the memory it leaves behind. Run from
 * the sources there is none, and buildWorkers bundles at start.
 */
export function prebuiltWorkflowBundle(): { codePath: string } | undefined {
  if (!import.meta.url.endsWith('.js')) return undefined;
  const codePath = fileURLToPath(new URL(`../${WORKFLOW_BUNDLE_FILE}`, import.meta.url));
  if (!existsSync(codePath)) throw new Error(`${codePath} is missing: npm run build writes it`);
  return { codePath };
}

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
  /** Sinks for workflow code (the trace exporter of workers/tracing.ts). */
  sinks?: WorkerOptions['sinks'];
  /**
   * Workflows kept in memory per workflow-running worker (WORKER_MAX_CACHED_WORKFLOWS). Unset:
   * buildWorkers sizes it from `memoryBudgetMb`; buildWorker alone leaves the SDK's default.
   */
  maxCachedWorkflows?: number;
}

export function buildWorker(options: BuildWorkerOptions): Promise<Worker> {
  const { settings } = options;
  return SharedSandboxWorker.create({
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
    // Heartbeats reach the server at least this often (the SDK's default is 0.8 × the heartbeat
    // timeout): an armed dose's 15-second timeout keeps 10 seconds of slack on a busy worker.
    maxHeartbeatThrottleInterval: '5 seconds',
    ...(options.sinks ? { sinks: options.sinks } : {}),
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
  /** The RSS the process should stay under (WORKER_MEMORY_BUDGET_MB); sizes the workflow caches. */
  memoryBudgetMb?: number;
}

/**
 * What a worker process costs before it caches any workflow (Node, the SDK's Core, the shared
 * workflow sandbox, the activities' clients), and what each cached workflow adds: measured by
 * `npm run bench -- scale` (docs/queues.md, "Memory").
 */
export const PROCESS_BASE_MB = 250;
// 407 MiB with 1,000 sleeping and the medication cache (282) full, against 233 MiB idle.
export const CACHED_WORKFLOW_MB = 0.6;
/** Fewer is not worth a worker: every workflow task would replay its whole history. */
const MIN_CACHED_WORKFLOWS = 10;

/**
 * The workflow cache of each workflow-running workload, from the process's memory budget: what the
 * budget leaves after the base cost, at CACHED_WORKFLOW_MB each. The medication queue gets half
 * (its workflows are the many, and they wake together at the popular dose times); the other
 * workflow queues share the rest. A sleeping workflow that is not cached costs the worker nothing:
 * its next task replays its history (a continued-as-new run's is short).
 */
export function cachedWorkflowsPerWorker(
  budgetMb: number,
  workflowWorkloads: Workload[],
): Partial<Record<Workload, number>> {
  const total = Math.max(0, Math.floor((budgetMb - PROCESS_BASE_MB) / CACHED_WORKFLOW_MB));
  const others = workflowWorkloads.filter((w) => w !== 'medication');
  const hasMedication = others.length < workflowWorkloads.length;
  const medicationShare = hasMedication ? (others.length > 0 ? total / 2 : total) : 0;
  const otherShare = others.length > 0 ? (total - medicationShare) / others.length : 0;
  return Object.fromEntries(
    workflowWorkloads.map((w) => [
      w,
      Math.max(MIN_CACHED_WORKFLOWS, Math.floor(w === 'medication' ? medicationShare : otherShare)),
    ]),
  );
}

/** A worker for each workload, the workflow code bundled once for all of them. */
export async function buildWorkers(options: BuildWorkersOptions): Promise<Worker[]> {
  const { settings, workloads, memoryBudgetMb, ...common } = options;
  const workflowWorkloads = workloads.filter((w) => settings[w].runsWorkflows);
  const needsBundle = workflowWorkloads.length > 0;
  const caches =
    common.maxCachedWorkflows === undefined && memoryBudgetMb !== undefined
      ? cachedWorkflowsPerWorker(memoryBudgetMb, workflowWorkloads)
      : {};
  const workflowBundle =
    common.workflowBundle ??
    (needsBundle ? { code: await bundleInChildProcess(common.interceptors?.workflowModules ?? []) } : undefined);
  const workers: Worker[] = [];
  for (const workload of workloads) {
    workers.push(
      await buildWorker({
        ...common,
        settings: settings[workload],
        ...(workflowBundle ? { workflowBundle } : {}),
        ...(caches[workload] !== undefined ? { maxCachedWorkflows: caches[workload] } : {}),
      }),
    );
  }
  return workers;
}

const bundleChild = fileURLToPath(new URL('./bundle-child.ts', import.meta.url));

/** workflows/index.ts and the interceptor modules, bundled by workers/bundle-child.ts. */
function bundleInChildProcess(workflowInterceptorModules: string[]): Promise<string> {
  const logger = Runtime.instance().logger;
  return new Promise((resolve, reject) => {
    const child = fork(bundleChild, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let outcome: BundleChildMessage | undefined;
    child.on('message', (message: BundleChildMessage) => {
      if (message.type === 'log') logger[message.level](message.message);
      else outcome = message;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (outcome?.type === 'done') resolve(outcome.code);
      else
        reject(
          new Error(
            `bundling the workflow code failed: ${outcome?.type === 'failed' ? outcome.error : `exit ${code ?? signal}`}`,
          ),
        );
    });
    child.send({ workflowsPath, workflowInterceptorModules });
  });
}
