/**
 * The armed dose: one activity that a medication workflow starts a lead time before the dose. It
 * plans the reminder (recipients, channels, messages, notification rows), waits in the worker until
 * the dose instant, heartbeating, and then sends every channel at once. The server's share of a
 * burst of doses due at 08:00 happens during the lead time; the instant itself costs only the sends.
 *
 * - Cancelled (pause, edit, acknowledgement, deletion in the lead window): nothing is sent.
 * - Just before sending it checks the schedule's generation in PostgreSQL (a change the user was
 *   told about has already bumped it there), so a cancellation still on its way cannot be overtaken.
 * - A worker that dies: the heartbeat timeout notices within seconds and another worker takes the
 *   dose over (short retry interval); rows already sent are never sent again.
 * - A worker asked to stop hands its waiting doses over at once instead of holding its shutdown.
 * - A provider failure: the channels that failed wait the medication delay (5 minutes with jitter,
 *   or the provider's Retry-After) and are tried once more; after that they become dead letters.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { bulkhead } from 'cockatiel';
import type { PrismaClient } from '../shared/db.ts';
import { DeliveryError } from '../providers/types.ts';
import {
  jitteredDelayMs,
  PERMANENT_DELIVERY_ERROR,
  RETRY_POLICIES,
  TRANSIENT_DELIVERY_ERROR,
} from '../shared/retry-policies.ts';
import type { DeliveryResult, LoadedNotification } from './delivery.ts';
import { planDoseNotifications, recordDeadLetterRow, type DoseRef } from './medication-reminders.ts';

export interface ArmedDoseInput extends DoseRef {
  /** The schedule generation the workflow armed the dose under. */
  generation: number;
}

export type ArmedDoseOutcome =
  { status: 'sent'; sentAt: string; deadLettered: number } | { status: 'skipped'; reason: string };

export const WORKER_DRAINING = 'WorkerDraining';

/** Provider attempts per channel: the medication policy's. */
const MAX_PROVIDER_ATTEMPTS = RETRY_POLICIES.medication.maximumAttempts ?? 2;
const HEARTBEAT_EVERY_MS = 1_000;

export interface DoseSendDeps {
  prisma: PrismaClient;
  /** The provider call for a notification loaded ahead (createNotificationSender). */
  callProvider: (log: LoadedNotification, ahead: { pushTokens?: string[]; attempt: number }) => Promise<DeliveryResult>;
  /** Provider calls in flight at once from this process, across all armed doses. */
  providerConcurrency: number;
  /** Aborted when the worker starts to stop: waiting doses are handed to another worker. */
  draining?: AbortSignal;
}

export function createDoseSendActivities(deps: DoseSendDeps) {
  const { prisma, callProvider } = deps;
  const providers = bulkhead(deps.providerConcurrency, Number.MAX_SAFE_INTEGER);

  /** Sleeps until `atMs` in small steps, heartbeating; hands over as soon as the worker stops. */
  async function waitForInstant(atMs: number): Promise<void> {
    const ctx = Context.current();
    const { draining } = deps;
    // Wakes the wait the moment the worker starts to stop, not at the next step.
    let onDrain = () => {};
    const drainStarted = new Promise<void>((resolve) => {
      onDrain = resolve;
      draining?.addEventListener('abort', onDrain, { once: true });
    });
    try {
      for (;;) {
        const left = atMs - Date.now();
        if (left <= 0) return;
        if (draining?.aborted || ctx.cancellationDetails?.workerShutdown) {
          throw ApplicationFailure.create({
            type: WORKER_DRAINING,
            message: 'Worker is stopping: the armed dose moves to another worker',
            nextRetryDelay: 100,
          });
        }
        ctx.heartbeat();
        try {
          await Promise.race([ctx.sleep(Math.min(left, HEARTBEAT_EVERY_MS)), drainStarted]);
        } catch (err) {
          if (err instanceof CancelledFailure && ctx.cancellationDetails?.workerShutdown) continue;
          throw err;
        }
      }
    } finally {
      draining?.removeEventListener('abort', onDrain);
    }
  }

  /**
   * The send may go out only if nothing the user did since arming says otherwise: one read at the
   * instant, of the schedule's generation and status and of the dose's acknowledgement.
   */
  async function stillWanted(input: ArmedDoseInput): Promise<string | null> {
    const [row] = await prisma.$queryRaw<{ status: string; generation: number; dose: string | null }[]>`
      SELECT m.status::text AS status, m.schedule_generation AS generation, d.status::text AS dose
      FROM medications m
      LEFT JOIN dose_events d ON d.medication_id = m.id AND d.scheduled_at = ${new Date(input.doseAt)}
      WHERE m.id = ${input.medicationId}::uuid`;
    if (!row) return 'medication_deleted';
    if (row.generation > input.generation) return 'superseded';
    if (row.generation === input.generation && row.status !== 'active') return 'medication_inactive';
    if (row.dose === 'taken' || row.dose === 'skipped') return 'dose_closed';
    return null;
  }

  /** The dose's unsent notifications, with what sending them needs, read before the instant. */
  async function loadPending(keyPrefix: string) {
    const rows = await prisma.notificationLog.findMany({
      where: { dedupeKey: { startsWith: keyPrefix }, status: 'pending' },
      include: { recipient: { include: { pushTokens: { where: { active: true }, select: { token: true } } } } },
    });
    return rows.map(({ recipient: { pushTokens, ...recipient }, ...log }) => ({
      log: { ...log, recipient },
      pushTokens: pushTokens.map((t) => t.token),
    }));
  }

  /** Rows of a dose that will not be sent (the dose is obsolete) stop being pending. */
  async function withdraw(keyPrefix: string, reason: string): Promise<void> {
    await prisma.notificationLog.updateMany({
      where: { dedupeKey: { startsWith: keyPrefix }, status: 'pending' },
      data: { status: 'skipped', error: reason },
    });
  }

  return {
    async remindDoseAtInstant(input: ArmedDoseInput): Promise<ArmedDoseOutcome> {
      const ctx = Context.current();
      const plan = await planDoseNotifications(prisma, { ...input, stage: 'reminder' });
      if (plan.status === 'skipped' && plan.reason !== 'already_sent') return plan;

      const keyPrefix = `dose:${input.medicationId}:${new Date(input.doseAt).toISOString()}:`;
      const pending = await loadPending(keyPrefix);
      try {
        await waitForInstant(Date.parse(input.doseAt));
      } catch (err) {
        // Cancelled by the workflow (pause, edit, acknowledgement, deletion): these rows are done.
        if (err instanceof CancelledFailure && ctx.cancellationDetails?.cancelRequested) {
          await withdraw(keyPrefix, 'cancelled');
        }
        throw err;
      }
      if (pending.length > 0) {
        const reason = await stillWanted(input);
        if (reason) {
          await withdraw(keyPrefix, reason);
          return { status: 'skipped', reason };
        }
      }

      // The sends themselves: every channel at once, within the process's provider budget.
      const heartbeats = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      const execution = ctx.info.workflowExecution ?? { workflowId: 'unknown', runId: 'unknown' };
      let retryAfterMs: number | undefined;
      let deadLettered = 0;
      try {
        await Promise.all(
          pending.map(({ log: row, pushTokens }) =>
            providers.execute(async () => {
              // Counted with the outcome: a worker that dies mid-call does not use up an attempt.
              const attempt = row.attempts + 1;
              try {
                await callProvider(row, { pushTokens, attempt });
              } catch (err) {
                // Not a provider's answer (the database is down, say): the whole attempt is retried soon.
                if (!(err instanceof DeliveryError)) throw err;
                const transient = !err.permanent;
                const message = err instanceof Error ? err.message : String(err);
                if (transient && attempt < MAX_PROVIDER_ATTEMPTS) {
                  const delay = err.retryAfterMs ?? jitteredDelayMs(RETRY_POLICIES.medication, attempt, Math.random());
                  retryAfterMs = Math.max(retryAfterMs ?? 0, delay);
                  return;
                }
                deadLettered++;
                await recordDeadLetterRow(
                  prisma,
                  {
                    dedupeKey: row.dedupeKey,
                    error: message,
                    errorType: transient ? TRANSIENT_DELIVERY_ERROR : PERMANENT_DELIVERY_ERROR,
                  },
                  execution,
                );
              }
            }),
          ),
        );
      } finally {
        clearInterval(heartbeats);
      }
      if (retryAfterMs !== undefined) {
        throw ApplicationFailure.create({
          type: TRANSIENT_DELIVERY_ERROR,
          message: 'A channel of the dose reminder failed; it is tried once more after the medication delay',
          nextRetryDelay: retryAfterMs,
        });
      }
      const sent = await prisma.notificationLog.aggregate({
        where: { dedupeKey: { startsWith: keyPrefix }, status: 'sent' },
        _min: { sentAt: true },
      });
      if (!sent._min.sentAt && pending.length === 0) {
        // Nothing of this dose was or will be sent (its rows were withdrawn earlier).
        const any = await prisma.notificationLog.count({ where: { dedupeKey: { startsWith: keyPrefix } } });
        if (any > 0) return { status: 'skipped', reason: 'withdrawn' };
      }
      return { status: 'sent', sentAt: (sent._min.sentAt ?? new Date()).toISOString(), deadLettered };
    },
  };
}
