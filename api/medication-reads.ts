/**
 * The medication reads' hot path, kept to one round trip and little CPU: GET /v1/medications/:id
 * is the API's most frequent request (apps poll it for the next dose), and at 50 concurrent
 * requests on a small machine every millisecond of CPU per read is ~50 ms of p99.
 */
import { Prisma, type Medication, type MemberRole, type PrismaClient } from '../shared/db.ts';
import { upcomingDoses, type MedicationSchedule } from '../shared/schedule.ts';
import type { Cursor } from './pagination.ts';

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

export type MedicationSummaryRow = Pick<Medication, 'id' | 'name' | 'dosage' | 'patientId' | 'status' | 'createdAt'>;

/**
 * A page of a circle's medications, newest first (created, then id), after `after`, with the
 * caller's role in the circle, in one query; null when the caller is not a member. Left out as by
 * `notAbandoned` in routes/medications.ts.
 */
export async function medicationPageWithRole(
  prisma: PrismaClient,
  careCircleId: string,
  userId: string,
  after: Cursor | undefined,
  take: number,
): Promise<{ role: MemberRole; rows: MedicationSummaryRow[] } | null> {
  // created_at holds UTC without a zone, as Prisma writes it.
  const afterCursor = after
    ? Prisma.sql`AND (created_at, id) < (${after.at.toISOString()}::timestamptz AT TIME ZONE 'UTC', ${after.id}::uuid)`
    : Prisma.empty;
  const rows = await prisma.$queryRaw<(Partial<MedicationSummaryRow> & { role: MemberRole })[]>`
    SELECT mem.role, m.id, m.name, m.dosage, m.patient_id AS "patientId", m.status, m.created_at AS "createdAt"
    FROM members mem
    LEFT JOIN LATERAL (
      SELECT id, name, dosage, patient_id, status, created_at FROM medications
      WHERE care_circle_id = mem.care_circle_id
        AND (workflow_sync IS NULL OR workflow_sync = 'cancelling' OR status <> 'cancelled')
        ${afterCursor}
      ORDER BY created_at DESC, id DESC
      LIMIT ${take}
    ) m ON true
    WHERE mem.care_circle_id = ${careCircleId}::uuid AND mem.user_id = ${userId}
    ORDER BY m.created_at DESC, m.id DESC`;
  const first = rows[0];
  if (!first) return null;
  return {
    role: first.role,
    rows: rows.filter((r) => r.id != null).map(({ role: _, ...m }) => m as MedicationSummaryRow),
  };
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
