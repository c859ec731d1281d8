/**
 * How a shift's workflow is started: by the API, and again by the reconciliation if it is missing.
 * Free of Node imports, like the workflow's messages (shift-messages.ts).
 */
import type { Shift } from '../shared/db.ts';
import { CareCircleId } from '../shared/search-attributes.ts';
import { shiftSnapshot } from '../shared/snapshots.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import type { shiftReminderWorkflow } from './shift-reminder.ts';

export function shiftWorkflowStart(row: Shift): WorkflowStart<typeof shiftReminderWorkflow> {
  return {
    id: row.id,
    workflowType: 'shiftReminderWorkflow',
    options: {
      workflowId: row.workflowId,
      taskQueue: TASK_QUEUES.shift,
      args: [{ shiftId: row.id, snapshot: shiftSnapshot(row) }],
      typedSearchAttributes: [{ key: CareCircleId, value: row.careCircleId }],
    },
  };
}
