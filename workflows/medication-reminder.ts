/**
 * One workflow per medication schedule, id `medication:<medicationId>`. It sleeps on a durable
 * timer until the next dose, has the reminder delivered, and repeats until the schedule ends or
 * the workflow is cancelled. A timer costs nothing while it waits, so a schedule can run for years;
 * the history is kept short with continue-as-new.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  isCancellation,
  defineQuery,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  log,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { nextDoseAfter, type MedicationSchedule } from '../shared/schedule.ts';
import { NextDoseAt } from '../shared/search-attributes.ts';

export interface MedicationReminderInput {
  medicationId: string;
  schedule: MedicationSchedule;
  /** Carried over by continue-as-new: the last dose already handled (ISO instant). */
  lastDoseAt?: string;
  remindersSent?: number;
}

export interface MedicationReminderStatus {
  nextDoseAt: string | null;
  lastDoseAt: string | null;
  remindersSent: number;
}

export const medicationStatusQuery = defineQuery<MedicationReminderStatus>('status');

/** Bookkeeping in our own database: retried until it succeeds, because it must not be lost. */
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** Delivery follows the seed's policy for medication reminders: 2 attempts, 5 minutes apart. */
const delivery = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: {
    maximumAttempts: 2,
    initialInterval: '5 minutes',
    backoffCoefficient: 1,
    nonRetryableErrorTypes: ['PermanentDeliveryError'],
  },
});

/** Hand over to a fresh run well before the history grows large. */
const MAX_DOSES_PER_RUN = 100;

export async function medicationReminderWorkflow(input: MedicationReminderInput): Promise<MedicationReminderStatus> {
  const { medicationId, schedule } = input;
  const status: MedicationReminderStatus = {
    nextDoseAt: null,
    lastDoseAt: input.lastDoseAt ?? null,
    remindersSent: input.remindersSent ?? 0,
  };
  setHandler(medicationStatusQuery, () => status);

  let cursor = input.lastDoseAt ? Date.parse(input.lastDoseAt) : Date.now();
  for (let doses = 0; ; doses++) {
    if (doses >= MAX_DOSES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof medicationReminderWorkflow>({
        medicationId,
        schedule,
        ...(status.lastDoseAt ? { lastDoseAt: status.lastDoseAt } : {}),
        remindersSent: status.remindersSent,
      });
    }

    const next = nextDoseAfter(schedule, cursor);
    if (!next) break;
    status.nextDoseAt = next.toISOString();
    upsertSearchAttributes([{ key: NextDoseAt, value: next }]);

    const wait = next.getTime() - Date.now();
    if (wait > 0) await sleep(wait);

    await remindDose(medicationId, status.nextDoseAt);
    status.lastDoseAt = status.nextDoseAt;
    status.remindersSent++;
    cursor = next.getTime();
  }

  status.nextDoseAt = null;
  upsertSearchAttributes([{ key: NextDoseAt, value: null }]);
  await bookkeeping.completeMedication({ medicationId });
  return status;
}

/** Delivers one dose on every planned channel; one failed channel never stops the schedule. */
async function remindDose(medicationId: string, doseAt: string): Promise<void> {
  const plan = await bookkeeping.planDoseReminder({ medicationId, doseAt });
  if (plan.status === 'skipped') {
    log.info('Dose reminder skipped', { medicationId, doseAt, reason: plan.reason });
    return;
  }
  await Promise.all(
    plan.deliveries.map(async (dedupeKey) => {
      try {
        await delivery.deliverNotification({ dedupeKey });
      } catch (err) {
        // A cancelled workflow is not a failed delivery: let the cancellation through.
        if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
        const cause = err.cause;
        await bookkeeping.recordDeadLetter({
          dedupeKey,
          error: cause?.message ?? err.message,
          errorType: cause instanceof ApplicationFailure ? (cause.type ?? null) : null,
        });
      }
    }),
  );
  await bookkeeping.markDoseReminded({ medicationId, doseAt });
}
