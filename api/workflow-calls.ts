/**
 * Starting and updating the workflows of appointments, shifts, circle notifications and documents
 * from the API, with Temporal's refusals turned into problem responses.
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
 * Hands a change to a running workflow and waits for its answer. Called inside the database
 * transaction that writes the change, so that a refusal or an unreachable Temporal rolls it back:
 * 409 when the workflow refused (its validator) or has finished, 503 when it could not be asked.
 */
export async function updateWorkflow<Ret, Args extends [unknown, ...unknown[]]>(
  temporal: Client,
  workflowId: string,
  update: UpdateDefinition<Ret, Args>,
  args: Args,
): Promise<Ret> {
  try {
    return await temporal.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () =>
      temporal.workflow.getHandle(workflowId).executeUpdate(update, { args }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new ProblemError(
        409,
        'conflict',
        'Conflict',
        `The change was refused: ${err.cause?.message ?? err.message}`,
      );
    }
    if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test((err as Error).message)) {
      throw new ProblemError(409, 'conflict', 'Conflict', 'Its reminders are over: the workflow has finished');
    }
    throw unavailable('Could not reach the workflow; nothing was changed, retry shortly', err);
  }
}
