// Every workflow the workers run; the worker bundles this file (workflowsPath).
export { medicationReminderWorkflow, medicationStatusQuery } from './medication-reminder.ts';
export type { MedicationReminderInput, MedicationReminderStatus } from './medication-reminder.ts';
