/**
 * Medication schedules and the one question workflows ask of them: "when is the next dose?".
 *
 * Pure and deterministic (no clock, no I/O) so it runs unchanged inside Temporal's workflow
 * sandbox. Luxon resolves wall-clock times in IANA zones through Intl, which the sandbox provides.
 *
 * DST rules, chosen so that every local dose time fires exactly once per day:
 * - a time that does not exist (inside the spring-forward gap, e.g. 02:30 in New York on the
 *   March change day) fires at the instant the gap ends plus the same offset (02:30 → 03:30 EDT);
 * - a time that exists twice (inside the fall-back overlap, e.g. 01:30 in New York on the
 *   November change day) fires once, at its first occurrence (01:30 EDT);
 * - two dose times that land on the same instant (02:30 moved to 03:30 next to a 03:30 dose)
 *   fire once.
 */
import { DateTime, IANAZone } from 'luxon';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface MedicationSchedule {
  /** Local times of day, "HH:MM", 24-hour. */
  times: string[];
  /** IANA time zone the times are in (the patient's zone when the schedule was created). */
  timezone: string;
  /** Days the doses happen; absent means every day. */
  daysOfWeek?: Weekday[];
  /** First day with doses, "YYYY-MM-DD" in `timezone`; absent means from now on. */
  startDate?: string;
  /** Last day with doses, inclusive; absent means no end. */
  endDate?: string;
}

export const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const CALENDAR_DATE = /^\d{4}-\d{2}-\d{2}$/;

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

export function isValidCalendarDate(date: string): boolean {
  return CALENDAR_DATE.test(date) && DateTime.fromISO(date, { zone: 'UTC' }).isValid;
}

/** The instant a local date and time happen in `zone`, following the DST rules above. */
export function localTimeToInstant(date: DateTime, time: string, zone: string): DateTime {
  const match = TIME_OF_DAY.exec(time);
  if (!match) throw new RangeError(`Invalid time of day "${time}"`);
  const local = DateTime.fromObject(
    { year: date.year, month: date.month, day: date.day, hour: Number(match[1]), minute: Number(match[2]) },
    { zone },
  );
  // getPossibleOffsets lists both instants of an ambiguous local time; take the first occurrence.
  const candidates = local.getPossibleOffsets();
  return candidates.reduce((earliest, c) => (c.toMillis() < earliest.toMillis() ? c : earliest), local);
}

/**
 * The first dose strictly after `afterMs` (epoch milliseconds), or null when the schedule has
 * ended. Scanning day by day is cheap: with at least one weekday allowed, a dose is at most 8 days
 * away from the first day considered.
 */
export function nextDoseAfter(schedule: MedicationSchedule, afterMs: number): Date | null {
  const zone = schedule.timezone;
  const after = DateTime.fromMillis(afterMs, { zone });
  const start = schedule.startDate ? DateTime.fromISO(schedule.startDate, { zone }).startOf('day') : undefined;
  const end = schedule.endDate ? DateTime.fromISO(schedule.endDate, { zone }).startOf('day') : undefined;
  const days = schedule.daysOfWeek?.length ? new Set(schedule.daysOfWeek) : undefined;

  // Start one day early: a dose late on the previous local day can still be after `after`
  // when the zone's offset changes; scanning an extra day costs nothing.
  let day = after.startOf('day').minus({ days: 1 });
  if (start && start > day) day = start;

  for (let scanned = 0; scanned < 9; scanned++, day = day.plus({ days: 1 })) {
    if (end && day > end) return null;
    if (days && !days.has(WEEKDAYS[day.weekday - 1]!)) continue;
    const instants = schedule.times
      .map((t) => localTimeToInstant(day, t, zone).toMillis())
      .filter((ms) => ms > afterMs)
      .sort((a, b) => a - b);
    if (instants.length > 0) return new Date(instants[0]!);
  }
  return null;
}

/** The next `count` doses after `afterMs`; used for previews and tests. */
export function upcomingDoses(schedule: MedicationSchedule, afterMs: number, count: number): Date[] {
  const doses: Date[] = [];
  let cursor = afterMs;
  while (doses.length < count) {
    const next = nextDoseAfter(schedule, cursor);
    if (!next) break;
    doses.push(next);
    cursor = next.getTime();
  }
  return doses;
}
