/** Every activity the workers register, built from their dependencies (injected for tests). */
import type { PrismaClient } from '../shared/db.ts';
import type { Providers } from '../providers/index.ts';
import { createDeliveryActivities } from './delivery.ts';
import { createMedicationReminderActivities } from './medication-reminders.ts';

export function createActivities(deps: { prisma: PrismaClient } & Providers) {
  return {
    ...createMedicationReminderActivities(deps.prisma),
    ...createDeliveryActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { DosePlan, DoseRef } from './medication-reminders.ts';
export type { DeliveryResult } from './delivery.ts';
export { PERMANENT_DELIVERY_ERROR, TRANSIENT_DELIVERY_ERROR } from './delivery.ts';
