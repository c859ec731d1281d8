/** Workflow ids are derived from database ids, so a second start of the same schedule is
 * impossible: Temporal refuses a running duplicate id. */
export const medicationWorkflowId = (medicationId: string): string => `medication:${medicationId}`;

/** One key per dose × recipient × channel: the unit of "sent exactly once". */
export const doseDedupeKey = (medicationId: string, doseAt: Date, recipientId: string, channel: string): string =>
  `dose:${medicationId}:${doseAt.toISOString()}:${recipientId}:${channel}`;
