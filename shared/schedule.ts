/**
 * Medication schedules and the one question workflows ask of them: "when is the next dose?".
 *
 * Four kinds of schedule:
 * - `times` (the default when `type` is absent): local clock times, every day or on chosen
 *   weekdays, between optional start and end dates;
 * - `interval`: every N hours of elapsed time from a first dose (e.g. every 8 h from 06:00 on the
 *   start date). Elapsed time ignores the wall clock: across a DST change the local times move by
 *   an hour (06:00/14:00/22:00 become 07:00/15:00/23:00 after the spring change) and a trip to
 *   another zone keeps the rhythm;
 * - `once`: a single dose at a local date and time;
 * - `as_needed` (PRN): never reminds; doses are only logged.
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

interface ScheduleBase {
  /** IANA time zone the schedule's local dates and times are in. */
  timezone: string;
  /** First day with doses, "YYYY-MM-DD" in `timezone`; absent means from now on. */
  startDate?: string;
  /** Last day with doses, inclusive; absent means no end. */
  endDate?: string;
}

export interface TimesSchedule extends ScheduleBase {
  type?: 'times';
  /** Local times of day, "HH:MM", 24-hour. */
  times: string[];
  /** Days the doses happen; absent means every day. */
  daysOfWeek?: Weekday[];
}

export interface IntervalSchedule extends ScheduleBase {
  type: 'interval';
  everyHours: number;
  /** Local time of the first dose on `startDate` (which is required for this kind). */
  firstDoseTime: string;
  startDate: string;
}

export interface OnceSchedule {
  type: 'once';
  timezone: string;
  /** Local date and time, "YYYY-MM-DDTHH:MM". */
  at: string;
}

export interface AsNeededSchedule {
  type: 'as_needed';
  timezone: string;
}

export type MedicationSchedule = TimesSchedule | IntervalSchedule | OnceSchedule | AsNeededSchedule;

/** A scheduled dose: the instant it is due, and the local slot it stands for ("2026-03-08T02:30"). */
export interface Dose {
  at: Date;
  /**
   * The dose's identity on the patient's calendar: the local date and the scheduled time (not the
   * instant's clock time: the 02:30 dose moved to 03:30 by DST is still the 02:30 slot). Slots
   * compare as strings; a zone change never repeats or skips one.
   */
  slot: string;
}

export const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;
/**
 * A real Gregorian date, years 1000-9999, leap days included: a string that matches is a date, so
 * the pattern alone (also in the OpenAPI document) says everything the API checks.
 */
const REAL_DATE =
  '(?:[1-9]\\d{3}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))' +
  '|(?:[1-9]\\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)';
export const CALENDAR_DATE = new RegExp(`^${REAL_DATE}$`);
export const LOCAL_DATE_TIME = new RegExp(`^(${REAL_DATE})T(([01]\\d|2[0-3]):[0-5]\\d)$`);

export function isValidTimeZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

export function isValidCalendarDate(date: string): boolean {
  return CALENDAR_DATE.test(date) && DateTime.fromISO(date, { zone: 'UTC' }).isValid;
}

export function scheduleType(schedule: MedicationSchedule): NonNullable<MedicationSchedule['type']> {
  return schedule.type ?? 'times';
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

const dayOf = (date: string, zone: string) => DateTime.fromISO(date, { zone }).startOf('day');

function nextTimesDose(schedule: TimesSchedule, afterMs: number): Dose | null {
  const zone = schedule.timezone;
  const after = DateTime.fromMillis(afterMs, { zone });
  const start = schedule.startDate ? dayOf(schedule.startDate, zone) : undefined;
  const end = schedule.endDate ? dayOf(schedule.endDate, zone) : undefined;
  const days = schedule.daysOfWeek?.length ? new Set(schedule.daysOfWeek) : undefined;

  // Start one day early: a dose late on the previous local day can still be after `after` when
  // the zone's offset changes. With at least one weekday allowed, a dose is at most 8 days away.
  let day = after.startOf('day').minus({ days: 1 });
  if (start && start > day) day = start;
  for (let scanned = 0; scanned < 9; scanned++, day = day.plus({ days: 1 })) {
    if (end && day > end) return null;
    if (days && !days.has(WEEKDAYS[day.weekday - 1]!)) continue;
    const doses = [...schedule.times]
      .sort()
      .map((time) => ({ at: localTimeToInstant(day, time, zone).toMillis(), slot: `${day.toISODate()}T${time}` }))
      .filter((d) => d.at > afterMs)
      .sort((a, b) => a.at - b.at);
    if (doses.length > 0) return { at: new Date(doses[0]!.at), slot: doses[0]!.slot };
  }
  return null;
}

function nextIntervalDose(schedule: IntervalSchedule, afterMs: number, anchorMs?: number): Dose | null {
  const zone = schedule.timezone;
  const anchor =
    anchorMs ?? localTimeToInstant(dayOf(schedule.startDate, zone), schedule.firstDoseTime, zone).toMillis();
  const step = schedule.everyHours * 3_600_000;
  const k = afterMs < anchor ? 0 : Math.floor((afterMs - anchor) / step) + 1;
  const at = anchor + k * step;
  const local = DateTime.fromMillis(at, { zone });
  if (schedule.endDate && local.startOf('day') > dayOf(schedule.endDate, zone)) return null;
  // Elapsed-time doses are identified by their instant: the slot is its UTC time.
  return { at: new Date(at), slot: new Date(at).toISOString().slice(0, 16) };
}

function nextOnceDose(schedule: OnceSchedule, afterMs: number): Dose | null {
  const match = LOCAL_DATE_TIME.exec(schedule.at);
  if (!match) throw new RangeError(`Invalid local date-time "${schedule.at}"`);
  const at = localTimeToInstant(dayOf(match[1]!, schedule.timezone), match[2]!, schedule.timezone).toMillis();
  return at > afterMs ? { at: new Date(at), slot: schedule.at } : null;
}

/**
 * The first dose strictly after `afterMs` (epoch milliseconds), or null when there is none left.
 * `intervalAnchorMs` replaces an interval schedule's first dose as the point its rhythm counts from
 * (after a zone change, the last dose's instant).
 */
export function nextDose(schedule: MedicationSchedule, afterMs: number, intervalAnchorMs?: number): Dose | null {
  switch (schedule.type) {
    case undefined:
    case 'times':
      return nextTimesDose(schedule, afterMs);
    case 'interval':
      return nextIntervalDose(schedule, afterMs, intervalAnchorMs);
    case 'once':
      return nextOnceDose(schedule, afterMs);
    case 'as_needed':
      return null;
  }
}

/** The instant of the first dose strictly after `afterMs`, or null. */
export function nextDoseAfter(schedule: MedicationSchedule, afterMs: number): Date | null {
  return nextDose(schedule, afterMs)?.at ?? null;
}

/**
 * The first dose after the last one handled (`last`), for a schedule that may just have changed
 * zone. Clock-time schedules go by slot, not by instant: the next slot after the last one in the
 * calendar, never one at or before it (no duplicate after flying west), never one skipped (after
 * flying east, a slot whose instant has already passed in the new zone comes out due at once).
 * Elapsed-time schedules keep their rhythm: their next dose is simply the next instant.
 */
export function nextDoseAfterSlot(schedule: MedicationSchedule, last: Dose | null, nowMs: number): Dose | null {
  if (!last) return nextDose(schedule, nowMs);
  switch (schedule.type) {
    case undefined:
    case 'times':
      return nextTimesSlot(schedule, last.slot);
    case 'once':
      return schedule.at > last.slot ? nextOnceDose(schedule, Number.NEGATIVE_INFINITY) : null;
    default:
      return nextDose(schedule, last.at.getTime());
  }
}

function nextTimesSlot(schedule: TimesSchedule, lastSlot: string): Dose | null {
  const zone = schedule.timezone;
  const start = schedule.startDate ? dayOf(schedule.startDate, zone) : undefined;
  const end = schedule.endDate ? dayOf(schedule.endDate, zone) : undefined;
  const days = schedule.daysOfWeek?.length ? new Set(schedule.daysOfWeek) : undefined;
  let day = dayOf(lastSlot.slice(0, 10), zone);
  if (start && start > day) day = start;
  for (let scanned = 0; scanned < 9; scanned++, day = day.plus({ days: 1 })) {
    if (end && day > end) return null;
    if (days && !days.has(WEEKDAYS[day.weekday - 1]!)) continue;
    for (const time of [...schedule.times].sort()) {
      const slot = `${day.toISODate()}T${time}`;
      if (slot > lastSlot) return { at: localTimeToInstant(day, time, zone).toJSDate(), slot };
    }
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

/** How many doses the schedule gives on an ordinary day (for refill estimates). */
export function dosesPerDay(schedule: MedicationSchedule): number {
  switch (schedule.type) {
    case undefined:
    case 'times':
      return (schedule.times.length * (schedule.daysOfWeek?.length ?? 7)) / 7;
    case 'interval':
      return 24 / schedule.everyHours;
    default:
      return 0;
  }
}
