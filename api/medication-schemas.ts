/** Medication requests: the schedule kinds, edits, acknowledgements and queries, with precise errors. */
import { z } from '@hono/zod-openapi';
import { MAX_SNOOZE_MINUTES } from '../workflows/medication-messages.ts';
import { WEEKDAYS, type MedicationSchedule } from '../shared/schedule.ts';
import {
  calendarDate,
  email,
  instant,
  label as name,
  line,
  localDateTime,
  timeOfDay,
  timezone,
  uniqueArray,
  uuid,
} from './fields.ts';
import { pageQuery } from './pagination.ts';

const endNotBeforeStart = (s: { startDate?: string | undefined; endDate?: string | undefined }) =>
  !s.startDate || !s.endDate || s.endDate >= s.startDate;

const timesSchedule = z
  .strictObject({
    type: z.literal('times').optional(),
    times: uniqueArray(timeOfDay, 'must not repeat a time')
      .min(1, 'needs at least one time')
      .max(24, 'at most 24 times a day'),
    timezone: timezone.optional(),
    daysOfWeek: uniqueArray(
      z.enum(WEEKDAYS, { message: `must be one of ${WEEKDAYS.join(', ')}` }),
      'must not repeat a day',
    )
      .min(1, 'needs at least one day (omit it for every day)')
      .optional(),
    startDate: calendarDate.optional(),
    endDate: calendarDate.optional(),
  })
  .refine(endNotBeforeStart, { message: 'must not be before startDate', path: ['endDate'] });

const intervalSchedule = z
  .strictObject({
    type: z.literal('interval'),
    everyHours: z
      .number()
      .int('must be a whole number of hours')
      .min(1, 'must be at least 1')
      .max(168, 'must be at most 168'),
    firstDoseTime: timeOfDay,
    startDate: calendarDate,
    endDate: calendarDate.optional(),
    timezone: timezone.optional(),
  })
  .refine(endNotBeforeStart, { message: 'must not be before startDate', path: ['endDate'] });

const onceSchedule = z.strictObject({
  type: z.literal('once'),
  at: localDateTime,
  timezone: timezone.optional(),
});

const asNeededSchedule = z.strictObject({ type: z.literal('as_needed'), timezone: timezone.optional() });

/** A schedule without `type` is the classic times-of-day kind. */
export const scheduleBody = z
  .discriminatedUnion('type', [timesSchedule, intervalSchedule, onceSchedule, asNeededSchedule], {
    error: 'must have type times, interval, once or as_needed',
  })
  .openapi('ScheduleInput', {
    description: "When to remind. Local dates and times are in `timezone`, the patient's time zone by default.",
  });
export type ScheduleBody = z.infer<typeof scheduleBody>;

/**
 * The schedule as stored and read back: its kind and time zone resolved. Its shape is
 * shared/schedule.ts's `MedicationSchedule`, which the type checks hold it to (here and where
 * medications are presented); `scheduleBody` above is the same kinds as a client writes them,
 * with their rules.
 */
export const storedScheduleSchema = z
  .union([
    z.object({
      type: z.literal('times').optional(),
      times: z.array(z.string()).openapi({ description: 'Local times of day, HH:MM' }),
      daysOfWeek: z.array(z.enum(WEEKDAYS)).optional(),
      startDate: z.string().optional(),
      endDate: z.string().optional(),
      timezone: z.string(),
    }),
    z.object({
      type: z.literal('interval'),
      everyHours: z.number().int(),
      firstDoseTime: z.string(),
      startDate: z.string(),
      endDate: z.string().optional(),
      timezone: z.string(),
    }),
    z.object({ type: z.literal('once'), at: z.string(), timezone: z.string() }),
    z.object({ type: z.literal('as_needed'), timezone: z.string() }),
  ])
  .openapi('MedicationSchedule', {
    description: 'The stored schedule; `timezone` is always resolved',
  }) satisfies z.ZodType<MedicationSchedule>;

const escalationWindowMinutes = z.number().int().min(5, 'must be at least 5').max(720, 'must be at most 720');
const pillCount = z.number().int().min(0, 'must not be negative').max(100_000);
const pillsPerDose = z.number().int().min(1, 'must be at least 1').max(100);
const refillThresholdDays = z.number().int().min(1, 'must be at least 1').max(90);

export const createMedicationBody = z
  .strictObject({
    careCircleId: uuid,
    patientId: uuid.openapi({ description: 'A member of the circle with role patient' }),
    name,
    dosage: line(200).optional(),
    schedule: scheduleBody,
    escalationWindowMinutes: escalationWindowMinutes.optional(),
    pillCount: pillCount.optional(),
    pillsPerDose: pillsPerDose.optional(),
    refillThresholdDays: refillThresholdDays.optional(),
  })
  .openapi('CreateMedication');

export const patchMedicationBody = z
  .strictObject({
    name: name.optional(),
    dosage: line(200).nullable().optional(),
    schedule: scheduleBody.optional(),
    escalationWindowMinutes: escalationWindowMinutes.optional(),
    pillCount: pillCount.nullable().optional(),
    pillsPerDose: pillsPerDose.optional(),
    refillThresholdDays: refillThresholdDays.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'must change at least one field' })
  .openapi('PatchMedication', { minProperties: 1 });

/** Who acknowledges is the caller: their membership of the medication's circle. */
export const acknowledgeDoseBody = z
  .strictObject({
    doseAt: instant,
    action: z.enum(['taken', 'skipped', 'snoozed'], { message: 'must be taken, skipped or snoozed' }),
    snoozeMinutes: z
      .number()
      .int()
      .min(1, 'must be at least 1')
      .max(MAX_SNOOZE_MINUTES, `must be at most ${MAX_SNOOZE_MINUTES}`)
      .optional(),
  })
  .refine((b) => b.action !== 'snoozed' || b.snoozeMinutes !== undefined, {
    message: 'is required to snooze',
    path: ['snoozeMinutes'],
  })
  .refine((b) => b.action === 'snoozed' || b.snoozeMinutes === undefined, {
    message: 'only applies to snoozed',
    path: ['snoozeMinutes'],
  })
  .openapi('AcknowledgeDose', {
    // snoozeMinutes with snoozed, and only then.
    oneOf: [
      { properties: { action: { const: 'snoozed' } }, required: ['snoozeMinutes'] },
      { properties: { action: { enum: ['taken', 'skipped'] } }, not: { required: ['snoozeMinutes'] } },
    ],
  });

/** An as-needed dose, logged by the caller. */
export const logDoseBody = z
  .strictObject({ takenAt: instant.optional().openapi({ description: 'When it was taken; default now' }) })
  .openapi('LogDose');

/** A page of the circle's medications. */
export const medicationListQuery = z.object({
  careCircleId: uuid.openapi({ param: { name: 'careCircleId', in: 'query' }, description: 'The care circle' }),
  ...pageQuery,
});

/** A page of dose history, optionally over local days [from, to] in the schedule's time zone. */
export const doseHistoryQuery = z
  .object({
    from: calendarDate.optional().openapi({ param: { name: 'from', in: 'query' }, description: 'YYYY-MM-DD' }),
    to: calendarDate.optional().openapi({ param: { name: 'to', in: 'query' }, description: 'YYYY-MM-DD' }),
    ...pageQuery,
  })
  .refine((q) => !q.from || !q.to || q.to >= q.from, { message: 'must not be before from', path: ['to'] });

export const adherenceQuery = z
  .object({
    from: calendarDate.openapi({ param: { name: 'from', in: 'query' }, description: 'First local day, YYYY-MM-DD' }),
    to: calendarDate.openapi({ param: { name: 'to', in: 'query' }, description: 'Last local day, YYYY-MM-DD' }),
  })
  .refine((q) => q.to >= q.from, { message: 'must not be before from', path: ['to'] });

export const patchMemberBody = z
  .strictObject({
    name: name.optional(),
    timezone: timezone.optional(),
    email: email.nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'must change at least one field' })
  .openapi('PatchMember', { minProperties: 1 });
