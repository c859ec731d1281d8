/** Workflow ids are derived from database ids, so a second start of the same schedule is
 * impossible: Temporal refuses a running duplicate id. */
export const medicationWorkflowId = (medicationId: string): string => `medication:${medicationId}`;

/** One key per dose × recipient × channel: the unit of "sent exactly once". */
export const doseDedupeKey = (medicationId: string, doseAt: Date, recipientId: string, channel: string): string =>
  `dose:${medicationId}:${doseAt.toISOString()}:${recipientId}:${channel}`;

// ---- Appointments, shifts, circle notifications, documents ----
export const appointmentWorkflowId = (appointmentId: string): string => `appointment:${appointmentId}`;
export const shiftWorkflowId = (shiftId: string): string => `shift:${shiftId}`;
export const circleNotificationWorkflowId = (notificationId: string): string => `circle-notification:${notificationId}`;
export const documentWorkflowId = (documentId: string): string => `document:${documentId}`;

/** Keyed by the start time, not a version: a reminder for "the 10:00 appointment, 1 h before" goes out once. */
export const appointmentReminderDedupeKey = (
  appointmentId: string,
  startsAt: Date,
  offsetMinutes: number,
  recipientId: string,
  channel: string,
): string => `appointment:${appointmentId}:${startsAt.toISOString()}:${offsetMinutes}m:${recipientId}:${channel}`;

/** Once per assignee and shift start: a swap back to someone already reminded sends nothing new. */
export const shiftReminderDedupeKey = (shiftId: string, startsAt: Date, assigneeId: string, channel: string): string =>
  `shift:${shiftId}:${startsAt.toISOString()}:reminder:${assigneeId}:${channel}`;

/** Once per shift version: a shift that becomes unassigned again later alerts the circle again. */
export const shiftUnassignedDedupeKey = (
  shiftId: string,
  version: number,
  recipientId: string,
  channel: string,
): string => `shift:${shiftId}:v${version}:unassigned:${recipientId}:${channel}`;

export const circleMessageDedupeKey = (notificationId: string, recipientId: string, channel: string): string =>
  `circle:${notificationId}:${recipientId}:${channel}`;

/** The dead letter of a document upload that failed for good: kind and key (one open per document). */
export const DOCUMENT_DEAD_LETTER_KIND = 'document_upload';
export const documentDeadLetterKey = (documentId: string): string => `document:${documentId}`;

/** The document a dead letter stands for, if it is a failed upload's. */
export function documentIdOfDeadLetter(deadLetter: { kind: string; dedupeKey: string | null }): string | null {
  const prefix = documentDeadLetterKey('');
  if (deadLetter.kind !== DOCUMENT_DEAD_LETTER_KIND || !deadLetter.dedupeKey?.startsWith(prefix)) return null;
  return deadLetter.dedupeKey.slice(prefix.length);
}
