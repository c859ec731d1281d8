/**
 * How a record's workflow is started, in one shape for its two starters: the API when the record is
 * created (a record never gets a second workflow) and the reconciliation when the workflow is
 * missing (a closed run may be replaced). Each starter adds its own id reuse policy.
 *
 * Types only, so workflow code may import it: nothing here reaches the workflow bundle.
 */
import type { Workflow, WorkflowStartOptions } from '@temporalio/client';

export interface WorkflowStart<W extends Workflow = Workflow> {
  /** The record's id: the reconciliation pages by it. */
  id: string;
  /** The workflow function's name, which Temporal knows the workflow type by. */
  workflowType: string;
  /** Typed by the workflow function: `args` are its arguments. */
  options: WorkflowStartOptions<W>;
}
