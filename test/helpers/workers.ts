/**
 * The one way tests run Temporal workers, after the SDK's own integration-test helpers: each worker
 * on a task queue of its own (tests never share workers), the workflow code bundled once per test
 * file, and activity stand-ins typed against the real activities.
 *
 *   const worker = await createWorker(env, { activities: mockActivities({ deliverNotification }) });
 *   await worker.runUntil(env.client.workflow.execute(wf, { taskQueue: worker.options.taskQueue, ... }));
 */
import { fileURLToPath } from 'node:url';
import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  bundleWorkflowCode,
  Worker,
  type NativeConnection,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Activities } from '../../activities/index.ts';
import { buildWorker, workflowsPath } from '../../workers/build.ts';

/** Where a worker connects: a TestWorkflowEnvironment, or a connection of the test's own. */
export interface WorkerTarget {
  nativeConnection: NativeConnection;
  namespace?: string | undefined;
}

/** The test's workflow modules (test/workflows/<name>.ts), for workflows that exist only for tests. */
export function testWorkflowsPath(name: string): string {
  return fileURLToPath(new URL(`../workflows/${name}.ts`, import.meta.url));
}

// Vitest gives every test file its own module graph, so this cache lives as long as one file.
const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * The bundle of `path` (default: the product's workflows/index.ts) with `interceptorModules`,
 * built once per test file: webpack takes seconds, a worker from a bundle milliseconds.
 */
export function workflowBundle(
  path: string = workflowsPath,
  interceptorModules: string[] = [],
): Promise<WorkflowBundleWithSourceMap> {
  const key = JSON.stringify([path, interceptorModules]);
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = bundleWorkflowCode({
      workflowsPath: path,
      ...(interceptorModules.length ? { workflowInterceptorModules: interceptorModules } : {}),
      // Bundling is not what the tests look at; its warnings would only drown their output.
      logger: quietBundler,
    });
    bundles.set(key, bundle);
  }
  return bundle;
}

const quietBundler = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error(message: string, meta?: Record<string, unknown>) {
    console.error(message, meta ?? '');
  },
};

/**
 * Stand-ins for the activities a test expects, checked against the real signatures. An activity
 * the test did not provide fails at once, without retries, naming itself, instead of retrying
 * forever as an unregistered activity would (the worker runs it through its `default` activity).
 */
export function mockActivities(partial: Partial<Activities>): Activities {
  const unexpected = () => {
    const { activityType } = activityInfo();
    throw ApplicationFailure.nonRetryable(
      `activity ${activityType} is not mocked by this test (mockActivities)`,
      'UnexpectedActivity',
    );
  };
  // The cast is this helper's promise: every name the workflows can call answers, the unexpected ones by failing.
  return { ...partial, default: unexpected } as unknown as Activities;
}

let queues = 0;

/** A task queue no other worker of this test file polls. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${++queues}-${process.pid}`;
}

export interface TestWorkerOptions extends Omit<
  WorkerOptions,
  'connection' | 'namespace' | 'taskQueue' | 'workflowBundle' | 'workflowsPath'
> {
  /** Default: uniqueTaskQueue(). Read it back from `worker.options.taskQueue`. */
  taskQueue?: string;
  /**
   * The workflow module the worker runs: workflows/index.ts (default), a test module
   * (testWorkflowsPath), or null for an activity-only worker.
   */
  workflows?: string | null;
  /**
   * Build it as workers/build.ts builds the product's medication worker (shared workflow sandbox,
   * heartbeat throttle, concurrency limits, 30 s shutdown grace unless given), for tests of the
   * worker itself; the plain options above other than activities and shutdownGraceTime do not apply.
   */
  production?: { maxConcurrentActivities?: number };
}

/** A worker for one test: its own task queue, the file's workflow bundle, the given activities. */
export async function createWorker(target: WorkerTarget, options: TestWorkerOptions = {}): Promise<Worker> {
  const { taskQueue = uniqueTaskQueue(), workflows = workflowsPath, production, ...rest } = options;
  // The interceptors' workflow modules go into the bundle, as workers/build.ts does for production.
  const bundle =
    workflows === null ? undefined : await workflowBundle(workflows, rest.interceptors?.workflowModules ?? []);
  const namespace = target.namespace ?? 'default';
  if (production) {
    const concurrency = production.maxConcurrentActivities ?? 5;
    return buildWorker({
      connection: target.nativeConnection,
      namespace,
      settings: {
        name: taskQueue,
        maxConcurrentActivities: concurrency,
        maxConcurrentWorkflowTasks: Math.max(2, Math.min(10, concurrency)),
        runsWorkflows: bundle !== undefined,
      },
      activities: rest.activities ?? {},
      ...(bundle ? { workflowBundle: bundle } : {}),
      ...(rest.shutdownGraceTime ? { shutdownGraceTime: rest.shutdownGraceTime } : {}),
    });
  }
  return Worker.create({
    ...rest,
    connection: target.nativeConnection,
    namespace,
    taskQueue,
    ...(bundle ? { workflowBundle: bundle } : {}),
    // A prebuilt bundle already holds the workflow interceptor modules.
    ...(rest.interceptors && bundle ? { interceptors: { ...rest.interceptors, workflowModules: [] } } : {}),
  });
}
