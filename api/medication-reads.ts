/**
 * The medication reads' hot path, kept to one round trip and little CPU: GET /v1/medications/:id
 * is the API's most frequent request (apps poll it for the next dose), and at 50 concurrent
 * requests on a small machine every millisecond of CPU per read is ~50 ms of p99.
 */
import type { Medication, MemberRole, PrismaClient } from '../shared/db.ts';
import { upcomingDoses, type MedicationSchedule } from '../shared/schedule.ts';

/** The columns a medication's response is built from. */
export type MedicationRow = Pick<
  Medication,
  | 'id'
  | 'careCircleId'
  | 'patientId'
  | 'name'
  | 'dosage'
  | 'schedule'
  | 'status'
  | 'workflowId'
  | 'escalationWindowMinutes'
  | 'pillCount'
  | 'pillsPerDose'
  | 'refillThresholdDays'
  | 'nextDoseAt'
  | 'openDoses'
  | 'lastDoseAt'
  | 'createdAt'
>;

/**
 * Medication `id` with the caller's role in its circle (null: not a member), in one query: the
 * membership check and the row are one join rather than two model queries. Rows of creates the API
 * gave up on are left out, as `notAbandoned` in routes/medications.ts says.
 */
export async function medicationWithRole(
  prisma: PrismaClient,
  id: string,
  userId: string,
): Promise<{ medication: MedicationRow; role: MemberRole | null } | null> {
  const rows = await prisma.$queryRaw<(MedicationRow & { role: MemberRole | null })[]>`
    SELECT m.id, m.care_circle_id AS "careCircleId", m.patient_id AS "patientId", m.name, m.dosage,
           m.schedule, m.status, m.workflow_id AS "workflowId",
           m.escalation_window_minutes AS "escalationWindowMinutes", m.pill_count AS "pillCount",
           m.pills_per_dose AS "pillsPerDose", m.refill_threshold_days AS "refillThresholdDays",
           m.next_dose_at AS "nextDoseAt", m.open_doses AS "openDoses", m.last_dose_at AS "lastDoseAt",
           m.created_at AS "createdAt", mem.role
    FROM medications m
    LEFT JOIN members mem ON mem.care_circle_id = m.care_circle_id AND mem.user_id = ${userId}
    WHERE m.id = ${id}::uuid
      AND (m.workflow_sync IS NULL OR m.workflow_sync = 'cancelling' OR m.status <> 'cancelled')`;
  const row = rows[0];
  if (!row) return null;
  const { role, ...medication } = row;
  return { medication, role };
}

/**
 * Upcoming doses are a pure function of the schedule and the instant they follow, and computing
 * them (time-zone arithmetic in luxon) is the costliest part of a read; medications share
 * schedules and a medication's next dose changes a few times a day, so most reads find theirs here.
 */
const UPCOMING_MEMO_MAX = 5_000;
const upcomingMemo = new Map<string, string[]>();

export function upcomingDosesMemo(schedule: MedicationSchedule, afterMs: number, count: number): string[] {
  const key = `${afterMs} ${count} ${JSON.stringify(schedule)}`;
  let doses = upcomingMemo.get(key);
  if (!doses) {
    doses = upcomingDoses(schedule, afterMs, count).map((d) => d.toISOString());
    if (upcomingMemo.size >= UPCOMING_MEMO_MAX) upcomingMemo.delete(upcomingMemo.keys().next().value!);
    upcomingMemo.set(key, doses);
  }
  return [...doses];
}
