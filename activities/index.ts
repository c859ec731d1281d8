/** Every activity the workers register, built from their dependencies (injected for tests). */
import type { PrismaClient } from '../shared/db.ts';
import type { Providers } from '../providers/index.ts';
import { createDeadLetterActivities } from './dead-letters.ts';
import { createDeliveryActivities, createNotificationSender } from './delivery.ts';
import { createDoseSendActivities } from './dose-sends.ts';
import { createMaintenanceActivities, type MaintenanceDeps } from './maintenance.ts';
import { createMedicationReminderActivities } from './medication-reminders.ts';
// Appointments, shifts, circle notifications, documents.
import { config } from '../shared/config.ts';
import { createDocumentStore, type DocumentStore } from '../providers/documents.ts';
import { createAppointmentActivities } from './appointments.ts';
import { createCircleNotificationActivities } from './circle-notifications.ts';
import { createDocumentActivities } from './documents.ts';
import { createShiftActivities } from './shifts.ts';

/** Part B's dependencies, optional: by default from configuration (Cloudinary or the dev store). */
export interface DocumentDeps {
  documents?: DocumentStore;
  documentChunkBytes?: number;
}

/** How armed doses behave in this process (defaults from configuration). */
export interface DoseSendOptions {
  /** Aborted when the worker starts to stop: armed doses waiting for their instant move elsewhere. */
  draining?: AbortSignal;
  doseSendConcurrency?: number;
}

export function createActivities(
  deps: { prisma: PrismaClient } & Providers &
    Pick<MaintenanceDeps, 'temporal' | 'reconcilers'> &
    DocumentDeps &
    DoseSendOptions,
) {
  const { reachProvider, recordOutcome } = createNotificationSender(deps);
  return {
    ...createMedicationReminderActivities(deps.prisma),
    ...createDoseSendActivities({
      prisma: deps.prisma,
      reachProvider,
      recordOutcome,
      providerConcurrency: deps.doseSendConcurrency ?? config().DOSE_SEND_CONCURRENCY,
      ...(deps.draining ? { draining: deps.draining } : {}),
    }),
    ...createDeliveryActivities(deps),
    ...createDeadLetterActivities(deps.prisma),
    ...createMaintenanceActivities(deps),
    ...createAppointmentActivities(deps.prisma),
    ...createShiftActivities(deps.prisma),
    ...createCircleNotificationActivities(deps.prisma),
    ...createDocumentActivities({
      prisma: deps.prisma,
      store: deps.documents ?? createDocumentStore(config()),
      chunkBytes: deps.documentChunkBytes ?? config().DOCUMENT_CHUNK_BYTES,
    }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { DosePlan, DoseRef, MedicationProjection } from './medication-reminders.ts';
export type { ArmedDoseInput, ArmedDoseOutcome } from './dose-sends.ts';
export type { DeliveryResult } from './delivery.ts';
export { PERMANENT_DELIVERY_ERROR, TRANSIENT_DELIVERY_ERROR } from './delivery.ts';
export type { DeadLetterRetryOutcome, DeadLetterRetryPlan } from './dead-letters.ts';
export type { DigestPage, Reconciler } from './maintenance.ts';
export { medicationReconciler } from './maintenance.ts';
export type { AppointmentReminderPlan } from './appointments.ts';
export { appointmentReconciler } from './appointments.ts';
export type { ShiftPlan } from './shifts.ts';
export { shiftReconciler } from './shifts.ts';
export type { CircleRecipientOutcome, CircleRecipientPlan } from './circle-notifications.ts';
export type { UploadHeartbeat, UploadResult } from './documents.ts';
