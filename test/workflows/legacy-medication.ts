// The medication workflow as it ran before the schedule state machine, under the current workflow
// type's name, so that `MODEL_LEGACY=1 npm run test:model` shows what the model-based tests find
// in it (docs/medication-schedules.md lists those findings).
export { medicationReminderWorkflowV2 as medicationReminderWorkflow } from '../../workflows/medication/legacy-v2.ts';
