/**
 * Activities of the operator's dead-letter retry (workflows/dead-letters.ts). The API marks a dead
 * letter `retrying` before it starts the retry workflow; these activities reset the notification
 * (or the document upload) to pending, and record the outcome: `retried` (delivered or uploaded, or
 * nothing left to do) or `open` again with the new error. Both are idempotent: they only act on a
 * dead letter still `retrying`.
 */
import type { NotificationLog, PrismaClient } from '../shared/db.ts';
import { documentIdOfDeadLetter } from '../shared/ids.ts';
import { deliveryKindOf, type DeliveryKind } from '../shared/retry-policies.ts';

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

/** Reminders of one dose: worth sending only while that dose is still open. */
const DOSE_REMINDER_KINDS = new Set(['dose_reminder', 'dose_follow_up']);

/**
 * Why a dose reminder may no longer go out, or null when it may (or is not a dose reminder): its
 * dose was taken, skipped or missed, its medication is no longer active, or the dose's window is
 * over (counted from the dose, its reminder or its snooze, whichever is last). "Take your 08:00
 * dose" days later would be wrong, and could make someone take it twice.
 */
export async function staleDoseReminder(
  prisma: PrismaClient,
  log: Pick<NotificationLog, 'kind' | 'medicationId' | 'doseAt'>,
  now: Date = new Date(),
): Promise<string | null> {
  if (!DOSE_REMINDER_KINDS.has(log.kind) || !log.medicationId || !log.doseAt) return null;
  const medication = await prisma.medication.findUnique({
    where: { id: log.medicationId },
    select: { status: true, escalationWindowMinutes: true },
  });
  const at = log.doseAt.toISOString();
  if (!medication) return `its medication no longer exists`;
  if (medication.status !== 'active') return `its medication is ${medication.status}`;
  const dose = await prisma.doseEvent.findUnique({
    where: { medicationId_scheduledAt: { medicationId: log.medicationId, scheduledAt: log.doseAt } },
    select: { status: true, remindedAt: true, snoozedUntil: true },
  });
  if (dose && (dose.status === 'taken' || dose.status === 'skipped' || dose.status === 'missed')) {
    return `the dose of ${at} is already ${dose.status}`;
  }
  const from = Math.max(log.doseAt.getTime(), dose?.remindedAt?.getTime() ?? 0, dose?.snoozedUntil?.getTime() ?? 0);
  const closes = new Date(from + medication.escalationWindowMinutes * 60_000);
  if (now.getTime() >= closes.getTime()) {
    return `the window of the dose of ${at} closed at ${closes.toISOString()}`;
  }
  return null;
}

export type DeadLetterRetryOutcome =
  | { status: 'delivered'; detail: string }
  | { status: 'failed'; error: string; errorType: string | null }
  | { status: 'nothing_to_deliver'; reason: string };

export function createDeadLetterActivities(prisma: PrismaClient) {
  return {
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
