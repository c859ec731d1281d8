/**
 * Stand-in activities for medication workflow tests: they record what the workflow asked for and
 * when, on the workflow's (time-skipping) clock, and answer as the real ones would.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities, DosePlan } from '../../activities/index.ts';
import { mockActivities } from './workers.ts';

export interface Call {
  doseAt: string;
  /** When the workflow scheduled the activity (its clock). */
  at: number;
}

export interface Recorded {
  reminders: Call[];
  followUps: Call[];
  missed: Call[];
  acknowledgements: { doseAt: string; action: string; late: boolean }[];
  delivered: string[];
  deadLetters: { dedupeKey: string; errorType: string | null }[];
  saved: Record<string, unknown>[];
  /** Projections the workflow wrote, in the order the writes ran, with the workflow's clock. */
  projections: (Record<string, unknown> & { revision: number; generation: number; status: string; at: number })[];
  /** Armed doses: when armed (workflow clock) and under which generation. */
  armed: { doseAt: string; at: number; generation: number }[];
  completed: number;
}

export function recordingActivities(opts: { failChannel?: string; refillAfterTaken?: number } = {}): {
  activities: Activities;
  recorded: Recorded;
} {
  const recorded: Recorded = {
    reminders: [],
    followUps: [],
    missed: [],
    acknowledgements: [],
    delivered: [],
    deadLetters: [],
    saved: [],
    projections: [],
    armed: [],
    completed: 0,
  };
  const now = () => Context.current().info.scheduledTimestampMs;
  let taken = 0;
  const activities = mockActivities({
    /**
     * The armed send, without the wait: the reminder counts as going out at the dose instant, for
     * the workflow's channels (the real activity's wait, fence and sends have their own tests).
     */
    async remindDoseAtInstant({ doseAt, generation }: { doseAt: string; generation: number }) {
      recorded.armed.push({ doseAt, at: now(), generation });
      recorded.reminders.push({ doseAt, at: Date.parse(doseAt) });
      for (const channel of ['push', 'email']) {
        const key = `reminder:${doseAt}:${channel}`;
        if (opts.failChannel && key.endsWith(opts.failChannel)) {
          recorded.deadLetters.push({ dedupeKey: key, errorType: 'PermanentDeliveryError' });
        } else recorded.delivered.push(key);
      }
      return { status: 'sent' as const, sentAt: doseAt, deadLettered: opts.failChannel?.endsWith('push') ? 1 : 0 };
    },
    async saveMedicationProjection(input: { revision: number; generation: number; status: string }) {
      recorded.projections.push({ ...input, at: now() });
      return { applied: true };
    },
    async deadLetterDoseReminder() {},
    async planDoseReminder({ doseAt, stage = 'reminder' }: { doseAt: string; stage?: string }): Promise<DosePlan> {
      (stage === 'reminder' ? recorded.reminders : recorded.followUps).push({ doseAt, at: now() });
      return { status: 'planned', deliveries: [`${stage}:${doseAt}:push`, `${stage}:${doseAt}:email`] };
    },
    async deliverNotification({ dedupeKey }: { dedupeKey: string }) {
      if (opts.failChannel && dedupeKey.endsWith(opts.failChannel)) {
        throw ApplicationFailure.nonRetryable('token unregistered', 'PermanentDeliveryError');
      }
      recorded.delivered.push(dedupeKey);
      return { status: 'sent' as const, providerMessageId: 'x' };
    },
    async markDoseReminded() {},
    async recordDoseMissed({ doseAt }: { doseAt: string }) {
      recorded.missed.push({ doseAt, at: now() });
      return { deliveries: [`missed:${doseAt}:caregiver:push`] };
    },
    async recordDoseAcknowledgement(input: { doseAt: string; action: string; late: boolean }) {
      recorded.acknowledgements.push({ doseAt: input.doseAt, action: input.action, late: input.late });
      if (input.action === 'taken') taken++;
      const refill = opts.refillAfterTaken !== undefined && taken === opts.refillAfterTaken;
      return { refillDeliveries: refill ? ['refill:caregiver:email'] : [] };
    },
    async logAsNeededDose() {},
    async saveMedicationState(input: Record<string, unknown>) {
      recorded.saved.push(input);
    },
    async completeMedication() {
      recorded.completed++;
    },
    async recordDeadLetter(input: { dedupeKey: string; errorType: string | null }) {
      recorded.deadLetters.push({ dedupeKey: input.dedupeKey, errorType: input.errorType });
    },
  });
  return { activities, recorded };
}
