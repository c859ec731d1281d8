// Every workflow the workers run; the worker bundles this file (workflowsPath).
export { medicationReminderWorkflow } from './medication-reminder.ts';
export type { MedicationReminderInput } from './medication-reminder.ts';
export * from './medication-messages.ts';
// Dead-letter retries and periodic jobs.
export { retryDeadLetterWorkflow } from './dead-letters.ts';
export type { RetryDeadLetterInput } from './dead-letters.ts';
export { cleanupNotificationsWorkflow, dailyDigestWorkflow, reconcileWorkflowsWorkflow } from './maintenance.ts';
export type { DailyDigestInput, DailyDigestResult, ReconcileResult } from './maintenance.ts';
// Appointments, shifts, circle notifications, documents.
export { appointmentReminderWorkflow } from './appointment-reminder.ts';
export type { AppointmentReminderInput } from './appointment-reminder.ts';
export { shiftReminderWorkflow } from './shift-reminder.ts';
export type { ShiftReminderInput } from './shift-reminder.ts';
export { circleNotificationBatchWorkflow, circleNotificationWorkflow } from './circle-notification.ts';
export type { CircleNotificationBatchInput, CircleNotificationInput } from './circle-notification.ts';
export { documentUploadWorkflow } from './document-upload.ts';
export type { DocumentUploadInput, DocumentUploadResult } from './document-upload.ts';
