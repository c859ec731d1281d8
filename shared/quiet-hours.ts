/**
 * Quiet hours: a daily local window ("22:00"–"07:00") in a member's time zone during which
 * non-urgent messages wait. Pure and deterministic (Luxon over Intl), so workflows call it with
 * their own clock and the wait is a durable timer.
 *
 * The window is [start, end): a message at 07:00 sharp goes out. A start after the end spans
 * midnight; start = end means no quiet hours. The end is a local clock time, so it moves with DST:
 * an end inside the spring-forward gap (02:30 on the change day) comes at the gap's end (03:30), an
 * end inside the fall-back overlap at its first occurrence.
 */
import { DateTime } from 'luxon';

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The instant the quiet hours around `atMs` end, or null when `atMs` is outside them. */
export function quietHoursEnd(atMs: number, timezone: string, start: string, end: string): number | null {
  const s = minutesOf(start);
  const e = minutesOf(end);
  if (s === e) return null;
  const local = DateTime.fromMillis(atMs, { zone: timezone });
  const now = local.hour * 60 + local.minute;
  const inside = s < e ? now >= s && now < e : now >= s || now < e;
  if (!inside) return null;
  // Before the end on the same local day, or (a window across midnight, evening part) tomorrow.
  const day = now < e ? local.startOf('day') : local.startOf('day').plus({ days: 1 });
  const endsAt = day.set({ hour: Math.floor(e / 60), minute: e % 60, second: 0, millisecond: 0 }).toMillis();
  // Inside a fall-back overlap the end's first occurrence may already be behind us.
  return endsAt > atMs ? endsAt : null;
}
