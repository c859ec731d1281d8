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
import { recordDeadLetterRow } from './dead-letters.ts';
import { planDoseNotifications, WITHDRAWN, type DoseRef } from './medication-reminders.ts';

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
/** Longest a sent dose holds its completion back while the rest of its burst is sending. */
const COMPLETION_HOLD_MAX_MS = 10_000;

export interface DoseSendDeps {
  prisma: PrismaClient;
  /** The provider call for a notification loaded ahead, and its row's outcome (createNotificationSender). */
  reachProvider: (log: LoadedNotification, pushTokens?: string[]) => Promise<DeliveryResult>;
  recordOutcome: (
    log: LoadedNotification,
    outcome: { result: DeliveryResult } | { error: unknown },
    attempt?: number,
  ) => Promise<Date | null>;
  /** Provider calls in flight at once from this process, across all armed doses. */
  providerConcurrency: number;
  /** Aborted when the worker starts to stop: waiting doses are handed to another worker. */
  draining?: AbortSignal;
}

/** Why a dose must not be sent any more (null: it still is wanted). */
type FenceReason = 'medication_deleted' | 'superseded' | 'medication_inactive' | 'dose_closed' | null;

/** Fence reads in one query at most (a burst's doses are read in a few). */
const FENCE_BATCH = 500;

/**
 * The fence of many doses in few queries: doses reaching their instant together (a burst due at
 * 08:00) wait on one read instead of queueing one each for the pool's connections. A read starts
 * as soon as none is in flight; doses arriving meanwhile are read together by the next.
 */
function createFenceReader(prisma: PrismaClient) {
  const waiting: {
    input: ArmedDoseInput;
    rowIds: string[];
    resolve: (r: FenceReason) => void;
    reject: (e: unknown) => void;
  }[] = [];
  let reading = false;

  async function read(batch: typeof waiting): Promise<void> {
    const ids = batch.map((b) => b.input.medicationId);
    // timestamp without time zone, as the column is: the zone of the ISO string is dropped, so UTC.
    const ats = batch.map((b) => new Date(b.input.doseAt).toISOString());
    const rows = await prisma.$queryRaw<
      { i: bigint; status: string | null; generation: number | null; dose: string | null }[]
    >`
      SELECT q.i, m.status::text AS status, m.schedule_generation AS generation, d.status::text AS dose
      FROM unnest(${ids}::uuid[], ${ats}::timestamp[]) WITH ORDINALITY AS q(id, at, i)
      LEFT JOIN medications m ON m.id = q.id
      LEFT JOIN dose_events d ON d.medication_id = q.id AND d.scheduled_at = q.at`;
    const byIndex = new Map(rows.map((r) => [Number(r.i) - 1, r]));
    const reasons = batch.map(({ input }, i): FenceReason => {
      const row = byIndex.get(i);
      if (!row || row.status === null || row.generation === null) return 'medication_deleted';
      if (row.generation > input.generation) return 'superseded';
      if (row.generation === input.generation && row.status !== 'active') return 'medication_inactive';
      if (row.dose === 'taken' || row.dose === 'skipped') return 'dose_closed';
      return null;
    });
    // The calls of the doses that go out start now: a retry after a crash finds the mark still set
    // and knows a call may have reached the provider (one write for the whole batch).
    const calling = batch.flatMap((b, i) => (reasons[i] === null ? b.rowIds : []));
    if (calling.length > 0) {
      await prisma.notificationLog.updateMany({
        where: { id: { in: calling }, status: 'pending' },
        data: { callStartedAt: new Date() },
      });
    }
    batch.forEach(({ resolve }, i) => resolve(reasons[i]!));
  }

  function next(): void {
    if (reading || waiting.length === 0) return;
    reading = true;
    const batch = waiting.splice(0, FENCE_BATCH);
    read(batch)
      .catch((err: unknown) => batch.forEach((b) => b.reject(err)))
      .finally(() => {
        reading = false;
        next();
      });
  }

  return (input: ArmedDoseInput, rowIds: string[]): Promise<FenceReason> =>
    new Promise((resolve, reject) => {
      waiting.push({ input, rowIds, resolve, reject });
      // Doses waking in the same turn of the event loop join the same read.
      if (waiting.length === 1) setImmediate(next);
    });
}

export function createDoseSendActivities(deps: DoseSendDeps) {
  const { prisma, reachProvider, recordOutcome } = deps;
  const providers = bulkhead(deps.providerConcurrency, Number.MAX_SAFE_INTEGER);
  const readFence = createFenceReader(prisma);

  /**
   * Doses of this process between their fence and their rows' outcomes. A dose sent while others
   * of its burst still wait for a provider slot reports back when they are done (or after
   * COMPLETION_HOLD_MAX_MS): its completion starts workflow tasks and bookkeeping activities, which
   * would otherwise take the worker's, the server's and the database's CPU from the sends still due.
   */
  let sending = 0;
  let onDrained: (() => void)[] = [];
  function doneSending(): void {
    sending--;
    if (sending > 0) return;
    const waiters = onDrained;
    onDrained = [];
    for (const wake of waiters) wake();
  }
  function burstSent(): Promise<void> {
    const { draining } = deps;
    // A stopping worker reports at once: its shutdown grace is for the sends, not for this.
    if (sending === 0 || draining?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        draining?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, COMPLETION_HOLD_MAX_MS);
      draining?.addEventListener('abort', done, { once: true });
      onDrained.push(done);
    });
  }

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
   * instant (shared with the doses due with it), of the schedule's generation and status and of the
   * dose's acknowledgement. The rows of a dose that passes are marked as being called.
   */
  function stillWanted(input: ArmedDoseInput, rowIds: string[]): Promise<FenceReason> {
    return readFence(input, rowIds);
  }

  /**
   * The dose's unsent notifications, with what sending them needs, and when its first row already
   * sent went out (a retried dose), read before the instant.
   */
  async function loadPending(keyPrefix: string) {
    const [rows, sent] = await Promise.all([
      prisma.notificationLog.findMany({
        where: { dedupeKey: { startsWith: keyPrefix }, status: 'pending' },
        include: { recipient: { include: { pushTokens: { where: { active: true }, select: { token: true } } } } },
      }),
      prisma.notificationLog.aggregate({
        where: { dedupeKey: { startsWith: keyPrefix }, status: 'sent' },
        _min: { sentAt: true },
      }),
    ]);
    return {
      pending: rows.map(({ recipient: { pushTokens, ...recipient }, ...log }) => ({
        log: { ...log, recipient },
        pushTokens: pushTokens.map((t) => t.token),
      })),
      sentBefore: sent._min.sentAt,
    };
  }

  /** Rows a send of generation g owns: claimed by it, by an older send, or by none. */
  const ownedBy = (generation: number) => ({
    OR: [{ armedGeneration: null }, { armedGeneration: { lte: generation } }],
  });

  /**
   * The dose's rows become this send's, before it reads them: first the pending ones (so that an
   * older send cancelled meanwhile can no longer withdraw them), then those an older send withdrew
   * (its cancellation may have landed while this send was planning).
   */
  async function claim(keyPrefix: string, generation: number): Promise<void> {
    const older = { OR: [{ armedGeneration: null }, { armedGeneration: { lt: generation } }] };
    await prisma.notificationLog.updateMany({
      where: { dedupeKey: { startsWith: keyPrefix }, status: 'pending', ...older },
      data: { armedGeneration: generation },
    });
    await prisma.notificationLog.updateMany({
      where: { dedupeKey: { startsWith: keyPrefix }, status: 'skipped', error: { in: WITHDRAWN }, ...older },
      data: { status: 'pending', error: null, armedGeneration: generation },
    });
  }

  /** Rows of a dose that will not be sent (the dose is obsolete) stop being pending, if still this send's. */
  async function withdraw(keyPrefix: string, reason: string, generation: number): Promise<void> {
    await prisma.notificationLog.updateMany({
      where: { dedupeKey: { startsWith: keyPrefix }, status: 'pending', ...ownedBy(generation) },
      data: { status: 'skipped', error: reason },
    });
  }

  /** Plans the dose, waits for its instant, checks the fence and sends. */
  async function armedSend(ctx: Context, input: ArmedDoseInput): Promise<ArmedDoseOutcome> {
    const plan = await planDoseNotifications(prisma, { ...input, stage: 'reminder' });
    if (plan.status === 'skipped' && plan.reason !== 'already_sent') return plan;

    const keyPrefix = `dose:${input.medicationId}:${new Date(input.doseAt).toISOString()}:`;
    await claim(keyPrefix, input.generation);
    const { pending, sentBefore } = await loadPending(keyPrefix);
    try {
      await waitForInstant(Date.parse(input.doseAt));
    } catch (err) {
      // Cancelled by the workflow (pause, edit, acknowledgement, deletion): these rows are done.
      if (err instanceof CancelledFailure && ctx.cancellationDetails?.cancelRequested) {
        await withdraw(keyPrefix, 'cancelled', input.generation);
      }
      throw err;
    }
    if (pending.length > 0) {
      const reason = await stillWanted(
        input,
        pending.map((p) => p.log.id),
      );
      if (reason) {
        await withdraw(keyPrefix, reason, input.generation);
        return { status: 'skipped', reason };
      }
    }

    // The sends themselves: every channel at once, within the process's provider budget.
    const execution = ctx.info.workflowExecution ?? { workflowId: 'unknown', runId: 'unknown' };
    let retryAfterMs: number | undefined;
    let deadLettered = 0;
    let firstSent = sentBefore;
    sending++;
    const sends = Promise.all(
      pending.map(async ({ log: row, pushTokens }) => {
        // Counted with the outcome: a worker that dies mid-call does not use up an attempt.
        const attempt = row.attempts + 1;
        // The provider slot is held for the call only: the row's write follows outside it, so the
        // next dose's call does not wait on this one's database round trip. A crash between the
        // two leaves the row pending and marked as called: the retry's call is absorbed by the
        // provider's idempotency key, or for FCM, which has none, goes quietly under the same
        // collapse id (activities/delivery.ts).
        const outcome = await providers.execute(() =>
          reachProvider(row, pushTokens).then(
            (result) => ({ result }),
            (error: unknown) => ({ error }),
          ),
        );
        const sentAt = await recordOutcome(row, outcome, attempt);
        if (sentAt && (!firstSent || sentAt < firstSent)) firstSent = sentAt;
        if (!('error' in outcome)) return;
        const err = outcome.error;
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
      }),
    );
    await sends.finally(doneSending);
    await burstSent();
    if (retryAfterMs !== undefined) {
      throw ApplicationFailure.create({
        type: TRANSIENT_DELIVERY_ERROR,
        message: 'A channel of the dose reminder failed; it is tried once more after the medication delay',
        nextRetryDelay: retryAfterMs,
      });
    }
    if (!firstSent && pending.length === 0) {
      // Nothing of this dose was or will be sent (its rows were withdrawn earlier).
      const any = await prisma.notificationLog.count({ where: { dedupeKey: { startsWith: keyPrefix } } });
      if (any > 0) return { status: 'skipped', reason: 'withdrawn' };
    }
    return { status: 'sent', sentAt: (firstSent ?? new Date()).toISOString(), deadLettered };
  }

  return {
    async remindDoseAtInstant(input: ArmedDoseInput): Promise<ArmedDoseOutcome> {
      const ctx = Context.current();
      // Alive from the first moment to the last, not only while waiting: after a worker dies its
      // whole burst of doses is retried at once, and each queues for the database pool to plan;
      // a silent wait longer than the heartbeat timeout would have the server retry it again
      // while the first attempt still runs, and a herd of such retries never drains.
      ctx.heartbeat();
      const alive = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        return await armedSend(ctx, input);
      } finally {
        clearInterval(alive);
      }
    },
  };
}
