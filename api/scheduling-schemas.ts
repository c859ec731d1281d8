/** Request bodies of appointments, shifts, circle notifications and member preferences. */
import { z } from '@hono/zod-openapi';
import { instant, label as title, line, paragraph, timeOfDay, timezone, uniqueArray } from './fields.ts';
import { pageQuery } from './pagination.ts';
import { channel } from './schemas.ts';

const MINUTES_PER_DAY = 24 * 60;

const memberIds = uniqueArray(z.uuid('must be a UUID'), 'must not repeat a member').max(50, 'at most 50 members');

export const reminderOffsets = uniqueArray(
  z
    .number()
    .int('must be whole minutes')
    .min(1, 'must be at least 1 minute')
    .max(30 * MINUTES_PER_DAY, 'must be at most 30 days (43200 minutes)'),
  'must not repeat an offset',
)
  .min(1, 'needs at least one reminder')
  .max(10, 'at most 10 reminders');

export const createAppointmentBody = z
  .strictObject({
    careCircleId: z.uuid('must be a UUID'),
    patientId: z.uuid('must be a UUID'),
    title,
    location: line(500).optional(),
    startsAt: instant,
    /** Default: the patient's time zone. */
    timezone: timezone.optional().openapi({ description: "IANA time zone; default: the patient's" }),
    /** Caregivers (or family) attending with the patient. */
    caregiverIds: memberIds
      .optional()
      .openapi({ description: 'Caregivers or family members of the circle attending with the patient' }),
    /** Minutes before the start; default APPOINTMENT_REMINDER_OFFSETS_MINUTES (1440, 60). */
    reminderOffsetsMinutes: reminderOffsets
      .optional()
      .openapi({ description: 'When to remind the attendees, in minutes before the start (default 1440, 60)' }),
  })
  .openapi('CreateAppointment');

export const updateAppointmentBody = z
  .strictObject({
    title: title.optional(),
    location: line(500).nullable().optional(),
    startsAt: instant.optional(),
    timezone: timezone.optional(),
    caregiverIds: memberIds.optional(),
    reminderOffsetsMinutes: reminderOffsets.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'needs at least one field to change' })
  .openapi('PatchAppointment', { minProperties: 1 });

export const createShiftBody = z
  .strictObject({
    careCircleId: z.uuid('must be a UUID'),
    title: title.optional(),
    startsAt: instant,
    endsAt: instant,
    assigneeId: z
      .uuid('must be a UUID')
      .nullable()
      .optional()
      .openapi({ description: 'A caregiver or family member of the circle; default: nobody yet' }),
    /** Default SHIFT_REMINDER_LEAD_MINUTES (120). */
    reminderLeadMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * MINUTES_PER_DAY)
      .optional()
      .openapi({ description: 'Remind the assignee this many minutes before the start (default 120)' }),
    /** Default SHIFT_UNASSIGNED_ALERT_MINUTES (1440). */
    unassignedAlertMinutes: z
      .number()
      .int()
      .min(1)
      .max(30 * MINUTES_PER_DAY)
      .optional()
      .openapi({
        description: 'Alert the circle if nobody is assigned this many minutes before the start (default 1440)',
      }),
  })
  .refine((s) => Date.parse(s.endsAt) > Date.parse(s.startsAt), { message: 'must be after startsAt', path: ['endsAt'] })
  .refine((s) => Date.parse(s.endsAt) - Date.parse(s.startsAt) <= 7 * 24 * 3_600_000, {
    message: 'a shift lasts at most 7 days',
    path: ['endsAt'],
  })
  .openapi('CreateShift');

/** Assign (a member id), unassign (null), or swap assignees with another shift of the circle. */
export const updateShiftBody = z
  .strictObject({
    assigneeId: z
      .uuid('must be a UUID')
      .nullable()
      .optional()
      .openapi({ description: 'Assign this member (a caregiver or family member), or null to unassign' }),
    swapWithShiftId: z
      .uuid('must be a UUID')
      .optional()
      .openapi({ description: 'Swap assignees with this other shift of the same circle' }),
  })
  .refine((b) => (b.assigneeId !== undefined) !== (b.swapWithShiftId !== undefined), {
    message: 'give either assigneeId or swapWithShiftId',
  })
  .openapi('PatchShift', { oneOf: [{ required: ['assigneeId'] }, { required: ['swapWithShiftId'] }] });

export const createCircleNotificationBody = z
  .strictObject({
    title,
    body: paragraph(2000),
    /** Urgent messages ignore quiet hours and overtake other work. */
    urgent: z.boolean().optional().openapi({ description: 'Urgent messages ignore quiet hours' }),
  })
  .openapi('CreateCircleNotification');

const quietHours = z
  .strictObject({
    start: timeOfDay,
    end: timeOfDay,
  })
  .refine((q) => q.start !== q.end, { message: 'start and end must differ', path: ['end'] });

/** A member's notification preferences; quietHours null removes them. */
export const updateMemberPreferencesBody = z
  .strictObject({
    quietHours: quietHours
      .nullable()
      .optional()
      .openapi({ description: "Local times (HH:MM, the member's time zone) to hold messages back; null removes them" }),
    channels: uniqueArray(channel, 'must not repeat a channel').min(1, 'needs at least one channel').optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'needs at least one field to change' })
  .openapi('PatchMemberPreferences', { minProperties: 1 });

/** The lists of appointments and shifts: one care circle's, a page at a time. */
export const circleListQuery = z.object({
  careCircleId: z
    .uuid('must be a UUID')
    .openapi({ param: { name: 'careCircleId', in: 'query' }, description: 'The care circle whose items to list' }),
  ...pageQuery,
});
