/**
 * Starting and updating workflows from the API, with Temporal's refusals turned into problem
 * responses.
 */
import {
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type Workflow,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import { ProblemError, unavailable } from './problem.ts';

/** How long the API waits for a workflow to take a change before it gives up (and rolls back). */
export const UPDATE_TIMEOUT_MS = 10_000;

/** Starts a record's workflow; a record never gets a second one (REJECT_DUPLICATE). */
export async function startWorkflow<W extends Workflow>(temporal: Client, start: WorkflowStart<W>): Promise<void> {
  await temporal.workflow.start(start.workflowType, {
    ...start.options,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
  });
}

/**
 * What the API answers when a workflow does not take an Update: each kind of record words it its
 * own way, the cases are the same.
 */
export interface UpdateAnswers {
  /** The workflow's validator (or handler) refused the change. */
  refused(err: WorkflowUpdateFailedError): ProblemError;
  /** The workflow is not running: finished, or never started. */
  notRunning(): ProblemError;
  /** The 503's detail when Temporal could not be asked. */
  unreachable: string;
}

/** The one mapping from a failed Update to the client's problem: refused, not running, or unreachable. */
export function updateProblem(err: unknown, answers: UpdateAnswers): ProblemError {
  if (err instanceof WorkflowUpdateFailedError) return answers.refused(err);
  if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test((err as Error).message)) {
    return answers.notRunning();
  }
  return unavailable(answers.unreachable, err);
}

/**
 * Hands a change to a running workflow and waits for its answer, or throws the problem
 * `updateProblem` makes of its failure. With `timeoutMs`, gives up after that long.
 */
export async function executeUpdate<Ret, Args extends unknown[]>(
  temporal: Client,
  workflowId: string,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
  answers: UpdateAnswers,
  opts: { timeoutMs?: number } = {},
): Promise<Ret> {
  const handle = temporal.workflow.getHandle(workflowId);
  // One signature for Updates with and without arguments (the SDK's overloads tell them apart).
  const execute = handle.executeUpdate.bind(handle) as unknown as (
    def: UpdateDefinition<Ret, Args>,
    options: { args: Args },
  ) => Promise<Ret>;
  const call = () => execute(update, { args });
  try {
    return await (opts.timeoutMs === undefined ? call() : temporal.withDeadline(Date.now() + opts.timeoutMs, call));
  } catch (err) {
    throw updateProblem(err, answers);
  }
}

/** Appointments and shifts: a refusal or a finished workflow conflicts with the change (409). */
const recordUpdateAnswers: UpdateAnswers = {
  refused: (err) =>
    new ProblemError(409, 'conflict', 'Conflict', `The change was refused: ${err.cause?.message ?? err.message}`),
  notRunning: () => new ProblemError(409, 'conflict', 'Conflict', 'Its reminders are over: the workflow has finished'),
  unreachable: 'Could not reach the workflow; nothing was changed, retry shortly',
};

/**
 * Hands a record's change to its running workflow. Called inside the database transaction that
 * writes the change, so that a refusal or an unreachable Temporal rolls it back: 409 when the
 * workflow refused (its validator) or has finished, 503 when it could not be asked in time.
 */
export function updateWorkflow<Ret, Args extends [unknown, ...unknown[]]>(
  temporal: Client,
  workflowId: string,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
): Promise<Ret> {
  return executeUpdate(temporal, workflowId, update, args, recordUpdateAnswers, { timeoutMs: UPDATE_TIMEOUT_MS });
}

/** A workflow's own view of its record, or null when it cannot say: a nicety, never a failure. */
export async function queryWorkflowStatus<T>(temporal: Client, workflowId: string): Promise<T | null> {
  try {
    return await temporal.workflow.getHandle(workflowId).query<T>('status');
  } catch {
    return null;
  }
}

/**
 * Stops a record's workflow after the record was marked cancelled: a workflow already gone needs
 * nothing; one Temporal could not be told about is a 503 with `unreachable` as its detail.
 */
export async function cancelWorkflow(temporal: Client, workflowId: string, unreachable: string): Promise<void> {
  try {
    await temporal.workflow.getHandle(workflowId).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw unavailable(unreachable, err);
  }
}
