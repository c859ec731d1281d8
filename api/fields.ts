/**
 * The building blocks of every request schema, and the API-wide zod messages. Each schema module
 * imports this one, so the readable messages are installed whichever route is loaded first.
 *
 * Each block says in its JSON Schema (pattern, enum, format, lengths) all that the server checks, so
 * a request valid by the OpenAPI document passes this layer: what JSON Schema cannot say (one field
 * against another, or against the database) is listed in each operation's 400 response.
 */
import { z } from '@hono/zod-openapi';
import { CALENDAR_DATE, LOCAL_DATE_TIME, TIME_OF_DAY } from '../shared/schedule.ts';
import { TIME_ZONES } from '../shared/time-zones.ts';

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
  .enum(TIME_ZONES, { message: 'must be an IANA time zone such as "Europe/Paris"' })
  .openapi('TimeZone', { description: 'An IANA time zone name, e.g. "Europe/Paris"' });
export const calendarDate = z.string().regex(CALENDAR_DATE, 'must be a real date as YYYY-MM-DD');
export const localDateTime = z
  .string()
  .regex(LOCAL_DATE_TIME, 'must be a real local date and time as YYYY-MM-DDTHH:MM');
export const timeOfDay = z.string().regex(TIME_OF_DAY, 'must be a time as HH:MM (24-hour)');

/*
 * Text people type. PostgreSQL cannot store NUL, and no other C0 control character (nor DEL) has a
 * place in a name or a message: they are refused, naming the field, rather than stored or cleaned.
 * Multi-line text may hold tabs and line breaks. "Not only spaces" is part of the pattern, because
 * the value is trimmed before it is checked and stored.
 */
/* eslint-disable no-control-regex -- these patterns are about control characters */
const SINGLE_LINE = /^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$/;
const MULTI_LINE =
  /^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/* eslint-enable no-control-regex */

function text(maxLength: number, multiLine: boolean) {
  const control = multiLine ? CONTROL_BUT_LINES : CONTROL;
  return (
    z
      .string()
      .max(maxLength, `must be at most ${maxLength} characters`)
      // Control characters first, so a NUL gets that message rather than "must not be empty".
      .refine((s) => !control.test(s), {
        message: multiLine
          ? 'must not contain control characters (other than tabs and line breaks)'
          : 'must not contain control characters',
        abort: true,
      })
      .trim()
      .min(1, 'must not be empty')
      .openapi({ pattern: (multiLine ? MULTI_LINE : SINGLE_LINE).source })
  );
}

/** One line of text people type (a name, a title, a dosage): trimmed, 1 to `maxLength` characters. */
export const line = (maxLength = 200) => text(maxLength, false);
/** Text that may span lines (a message body). */
export const paragraph = (maxLength: number) => text(maxLength, true);

/** A name or title people type: trimmed, 1–200 characters. */
export const label = line(200);
export const uuid = z.uuid('must be a UUID');
export const instant = z.iso.datetime({
  offset: true,
  message: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-12-01T08:00:00Z',
});
/**
 * zod's email rule, as a pattern: the document then says exactly what is accepted (`format: email`
 * means different things to different validators).
 */
export const email = z.string().max(320).regex(z.regexes.email, 'must be an email address');

/** No item twice. */
export const unique = <T>(items: T[]) => new Set(items).size === items.length;
/** An array without repeats, said in the document as `uniqueItems`. */
export const uniqueArray = <S extends z.ZodType>(item: S, message: string) =>
  z.array(item).refine(unique, { message }).openapi({ uniqueItems: true });
