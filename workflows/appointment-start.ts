/**
 * How an appointment's workflow is started: by the API, and again by the reconciliation if it is
 * missing. Free of Node imports, like the workflow's messages (appointment-messages.ts).
 */
import type { Appointment } from '../shared/db.ts';
import { CareCircleId, PatientId } from '../shared/search-attributes.ts';
import { appointmentSnapshot } from '../shared/snapshots.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import type { appointmentReminderWorkflow } from './appointment-reminder.ts';

export function appointmentWorkflowStart(row: Appointment): WorkflowStart<typeof appointmentReminderWorkflow> {
  return {
    id: row.id,
    workflowType: 'appointmentReminderWorkflow',
    options: {
      workflowId: row.workflowId,
      taskQueue: TASK_QUEUES.appointment,
      args: [{ appointmentId: row.id, snapshot: appointmentSnapshot(row) }],
      typedSearchAttributes: [
        { key: CareCircleId, value: row.careCircleId },
        { key: PatientId, value: row.patientId },
      ],
    },
  };
}
