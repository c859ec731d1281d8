import { DateTime } from 'luxon';

/** The instant a local calendar day (plus `plusDays`) begins in `zone`: date ranges in the API are local days. */
export function dayStart(date: string, zone: string, plusDays = 0): Date {
  return DateTime.fromISO(date, { zone }).startOf('day').plus({ days: plusDays }).toJSDate();
}
