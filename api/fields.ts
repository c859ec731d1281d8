/**
 * The building blocks of every request schema, and the API-wide zod messages. Each schema module
 * imports this one, so the readable messages are installed whichever route is loaded first.
 */
import { z } from 'zod';
import { isValidCalendarDate, isValidTimeZone, TIME_OF_DAY } from '../shared/schedule.ts';

// Clients read these messages: say "is required" rather than zod's "expected string, received undefined".
z.config({
  customError: (issue) => {
    if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
    if (issue.code === 'invalid_type')
      return `must be ${issue.expected === 'array' ? 'an array' : `a ${issue.expected}`}`;
    if (issue.code === 'unrecognized_keys')
      return `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`;
    return undefined;
  },
});

export const timezone = z
  .string()
  .refine(isValidTimeZone, { message: 'must be an IANA time zone such as "Europe/Paris"' });
export const calendarDate = z.string().refine(isValidCalendarDate, { message: 'must be a date as YYYY-MM-DD' });
export const timeOfDay = z.string().regex(TIME_OF_DAY, 'must be a time as HH:MM (24-hour)');
/** A name or title people type: trimmed, 1–200 characters. */
export const label = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
export const uuid = z.uuid('must be a UUID');
export const instant = z.iso.datetime({
  offset: true,
  message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T08:00:00Z',
});

/** No item twice. */
export const unique = <T>(items: T[]) => new Set(items).size === items.length;
