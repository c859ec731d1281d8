/**
 * Whether a dose reminder that failed may still be sent: asked by the operator's retry (the API
 * refuses it) and by the retry workflow's activity (which drops it).
 */
import type { NotificationLog, PrismaClient } from './db.ts';

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
