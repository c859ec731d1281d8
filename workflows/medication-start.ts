/**
 * How a medication's workflow is started: by the API when the medication is created, and by the
 * reconciliation (workers/reconcilers.ts) if it is missing. Beside the workflow and free of Node
 * imports, like its messages (medication-messages.ts), so both sides and workflow code can use it.
 */
import type { Medication } from '../shared/db.ts';
import { scheduleType, type MedicationSchedule } from '../shared/schedule.ts';
import { CareCircleId, MedicationId, PatientId, ScheduleStatus } from '../shared/search-attributes.ts';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import type { medicationReminderWorkflow } from './medication-reminder.ts';

export function medicationWorkflowStart(
  m: Pick<
    Medication,
    'id' | 'workflowId' | 'careCircleId' | 'patientId' | 'schedule' | 'escalationWindowMinutes' | 'status'
  >,
  taskQueue: string,
  /** DOSE_ARM_LEAD_SECONDS, from the starter's configuration. */
  armLeadSeconds: number,
): WorkflowStart<typeof medicationReminderWorkflow> {
  const schedule = m.schedule as unknown as MedicationSchedule;
  const state = m.status === 'paused' ? 'paused' : 'active';
  return {
    id: m.id,
    workflowType: 'medicationReminderWorkflow',
    options: {
      workflowId: m.workflowId,
      taskQueue,
      // The workflow's input: the schedule as stored (timezone resolved when it was created).
      args: [
        { medicationId: m.id, schedule, escalationWindowMinutes: m.escalationWindowMinutes, armLeadSeconds, state },
      ],
      typedSearchAttributes: [
        { key: CareCircleId, value: m.careCircleId },
        { key: PatientId, value: m.patientId },
        { key: MedicationId, value: m.id },
        { key: ScheduleStatus, value: state },
      ],
      // What operators read in the Web UI's list; no personal health data (names) in it.
      staticSummary: `Medication schedule (${scheduleType(schedule)}) in ${schedule.timezone}`,
    },
  };
}
