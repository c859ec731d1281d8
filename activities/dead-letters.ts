/**
 * Dead letters: recording one (every workflow's delivery that exhausted its retries or failed for
 * good, `recordDeadLetter`), and the operator's retry (workflows/dead-letters.ts). The API marks a
 * dead letter `retrying` before it starts the retry workflow; the retry activities reset the
 * notification (or the document upload) to pending, and record the outcome: `retried` (delivered
 * or uploaded, or nothing left to do) or `open` again with the new error. Both are idempotent:
 * they only act on a dead letter still `retrying`.
 */
import { Context } from '@temporalio/activity';
import type { PrismaClient } from '../shared/db.ts';
import { documentIdOfDeadLetter } from '../shared/ids.ts';
import { deliveryKindOf, type DeliveryKind } from '../shared/retry-policies.ts';
import { staleDoseReminder } from '../shared/stale-dose-reminders.ts';

export type DeadLetterRetryPlan =
  | { action: 'deliver'; dedupeKey: string; kind: DeliveryKind }
  /** A document upload that failed for good: upload its kept bytes again. */
  | { action: 'upload'; documentId: string }
  /** Nothing to do: already sent or uploaded since, nothing to re-run, or no longer retrying. */
  | {
      action: 'none';
      reason:
        | 'not_retrying'
        | 'already_sent'
        | 'not_a_notification'
        | 'notification_missing'
        | 'already_uploaded'
        | 'document_missing'
        /** A dose reminder or follow-up whose dose is closed or whose window is over. */
        | 'dose_reminder_stale';
    };

/**
 * Keeps a delivery that exhausted its retries or failed for good for an operator. Idempotent per
 * dedupe key, so a retried call records one dead letter.
 */
export async function recordDeadLetterRow(
  prisma: PrismaClient,
  input: { dedupeKey: string; error: string; errorType: string | null },
  execution: { workflowId: string; runId: string },
): Promise<void> {
  const log = await prisma.notificationLog.findUnique({ where: { dedupeKey: input.dedupeKey } });
  await prisma.$transaction([
    prisma.notificationLog.updateMany({
      where: { dedupeKey: input.dedupeKey, status: 'pending' },
      data: { status: 'failed', error: input.error },
    }),
    prisma.deadLetter.deleteMany({ where: { dedupeKey: input.dedupeKey, status: 'open' } }),
    prisma.deadLetter.create({
      data: {
        kind: log?.kind ?? 'notification',
        dedupeKey: input.dedupeKey,
        recipientId: log?.recipientId ?? null,
        channel: log?.channel ?? null,
        payload: {
          dedupeKey: input.dedupeKey,
          medicationId: log?.medicationId ?? null,
          doseAt: log?.doseAt?.toISOString() ?? null,
        },
        error: input.error,
        errorType: input.errorType,
        attempts: log?.attempts ?? 0,
        workflowId: execution.workflowId,
        runId: execution.runId,
      },
    }),
  ]);
}

export type DeadLetterRetryOutcome =
  | { status: 'delivered'; detail: string }
  | { status: 'failed'; error: string; errorType: string | null }
  | { status: 'nothing_to_deliver'; reason: string };

export function createDeadLetterActivities(prisma: PrismaClient) {
  return {
    /**
     * A delivery exhausted its retries or failed for good: keep it for an operator. Idempotent per
     * dedupe key, so a retried call records one dead letter.
     */
    async recordDeadLetter(input: { dedupeKey: string; error: string; errorType: string | null }): Promise<void> {
      // Activities here are always called from a workflow, so the execution is known.
      const execution = Context.current().info.workflowExecution ?? { workflowId: 'unknown', runId: 'unknown' };
      await recordDeadLetterRow(prisma, input, execution);
    },

    async beginDeadLetterRetry({ deadLetterId }: { deadLetterId: string }): Promise<DeadLetterRetryPlan> {
      const deadLetter = await prisma.deadLetter.findUnique({ where: { id: deadLetterId } });
      if (!deadLetter || deadLetter.status !== 'retrying') return { action: 'none', reason: 'not_retrying' };
      const documentId = documentIdOfDeadLetter(deadLetter);
      if (documentId) {
        const doc = await prisma.document.findUnique({ where: { id: documentId }, select: { status: true } });
        if (!doc) return { action: 'none', reason: 'document_missing' };
        if (doc.status === 'uploaded') return { action: 'none', reason: 'already_uploaded' };
        // Pending again while the upload runs; its bytes were kept when it failed.
        await prisma.document.updateMany({
          where: { id: documentId, status: 'failed' },
          data: { status: 'pending', error: null },
        });
        return { action: 'upload', documentId };
      }
      if (!deadLetter.dedupeKey) return { action: 'none', reason: 'not_a_notification' };
      const log = await prisma.notificationLog.findUnique({ where: { dedupeKey: deadLetter.dedupeKey } });
      if (!log) return { action: 'none', reason: 'notification_missing' };
      if (log.status === 'sent') return { action: 'none', reason: 'already_sent' };
      // Checked again here: the dose may have closed since the operator asked.
      if (await staleDoseReminder(prisma, log)) return { action: 'none', reason: 'dose_reminder_stale' };
      // Pending again, so deliverNotification tries it; the dedupe key keeps it to one delivery.
      await prisma.notificationLog.updateMany({
        where: { id: log.id, status: { in: ['failed', 'pending'] } },
        data: { status: 'pending', error: null },
      });
      return { action: 'deliver', dedupeKey: log.dedupeKey, kind: deliveryKindOf(log.kind) };
    },

    async finishDeadLetterRetry({
      deadLetterId,
      outcome,
    }: {
      deadLetterId: string;
      outcome: DeadLetterRetryOutcome;
    }): Promise<void> {
      const deadLetter = await prisma.deadLetter.findUnique({ where: { id: deadLetterId } });
      if (!deadLetter || deadLetter.status !== 'retrying') return;
      if (outcome.status !== 'failed') {
        await prisma.deadLetter.updateMany({
          where: { id: deadLetterId, status: 'retrying' },
          data: { status: 'retried', resolvedAt: new Date() },
        });
        return;
      }
      const log = deadLetter.dedupeKey
        ? await prisma.notificationLog.findUnique({ where: { dedupeKey: deadLetter.dedupeKey } })
        : null;
      if (outcome.errorType === 'NotRetryable') {
        // Nothing was attempted: only the claim is undone.
        await prisma.deadLetter.updateMany({
          where: { id: deadLetterId, status: 'retrying' },
          data: { status: 'open' },
        });
        return;
      }
      const documentId = documentIdOfDeadLetter(deadLetter);
      await prisma.$transaction([
        ...(documentId
          ? [
              prisma.document.updateMany({
                where: { id: documentId, status: { not: 'uploaded' } },
                data: { status: 'failed', error: outcome.error },
              }),
            ]
          : []),
        ...(log
          ? [
              prisma.notificationLog.updateMany({
                where: { id: log.id, status: 'pending' },
                data: { status: 'failed', error: outcome.error },
              }),
            ]
          : []),
        prisma.deadLetter.updateMany({
          where: { id: deadLetterId, status: 'retrying' },
          data: {
            status: 'open',
            error: outcome.error,
            errorType: outcome.errorType,
            ...(log ? { attempts: log.attempts } : {}),
          },
        }),
      ]);
    },
  };
}
