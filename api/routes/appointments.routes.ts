/**
 * The appointment routes as the OpenAPI document shows them: response schemas and route
 * definitions. Their handlers are in appointments.ts; request schemas in api/scheduling-schemas.ts.
 */
import { createRoute, z } from '@hono/zod-openapi';
import {
  beyondSchema,
  circlePageRoute,
  jsonBody,
  jsonResponse,
  problems,
  recordRoute,
  uuidParams,
  WRITE_PROBLEMS,
} from '../openapi.ts';
import { circleListQuery, createAppointmentBody, updateAppointmentBody } from '../scheduling-schemas.ts';

const AppointmentSummarySchema = z
  .object({
    id: z.uuid(),
    careCircleId: z.uuid(),
    patientId: z.uuid(),
    title: z.string(),
    location: z.string().nullable(),
    startsAt: z.iso.datetime(),
    timezone: z.string().openapi({ description: 'IANA time zone the appointment is shown in' }),
    attendeeIds: z.array(z.uuid()).openapi({ description: 'The patient first, then the caregivers attending' }),
    reminderOffsetsMinutes: z.array(z.number().int()),
    status: z.enum(['scheduled', 'cancelled', 'completed']),
    version: z.number().int().openapi({ description: 'Bumped by every change' }),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('AppointmentSummary');

const AppointmentSchema = AppointmentSummarySchema.extend({
  nextReminderAt: z.iso
    .datetime()
    .nullable()
    .openapi({ description: "The next reminder, in the reminder workflow's view; null when none is ahead" }),
  reminders: z
    .array(
      z.object({
        offsetMinutes: z.number().int(),
        startsAt: z.iso.datetime().openapi({ description: 'The start time the reminder was about' }),
        status: z.enum(['sent', 'superseded', 'skipped']),
      }),
    )
    .openapi({ description: 'Reminders handled so far' }),
}).openapi('Appointment');

const CreatedAppointmentSchema = z
  .object({
    id: z.uuid(),
    workflowId: z.string(),
    startsAt: z.iso.datetime(),
    nextReminderAt: z.iso.datetime().nullable(),
  })
  .openapi('CreatedAppointment');

const tags = ['Appointments'];
const params = uuidParams('id');

export const createAppointment = createRoute({
  method: 'post',
  path: '/',
  tags,
  summary: 'Create an appointment and start its reminders (caregivers)',
  request: { body: jsonBody(createAppointmentBody) },
  responses: {
    201: jsonResponse(CreatedAppointmentSchema, 'Created; its reminder workflow is running'),
    ...problems(
      beyondSchema(
        400,
        'startsAt: in the future',
        'patientId: a member of the circle with role patient',
        'caregiverIds: caregivers or family members of the circle',
      ),
      ...WRITE_PROBLEMS,
      422,
    ),
  },
});

export const listAppointments = circlePageRoute({
  tags,
  summary: "A care circle's appointments, by start time (earliest first, then id)",
  query: circleListQuery,
  item: AppointmentSummarySchema,
  page: 'AppointmentPage',
  description: 'A page of appointments',
});

export const getAppointment = recordRoute({
  tags,
  summary: 'An appointment, with its reminders as the workflow sees them',
  schema: AppointmentSchema,
  description: 'The appointment',
});

export const updateAppointment = createRoute({
  method: 'patch',
  path: '/{id}',
  tags,
  summary: 'Reschedule an appointment or change its attendees, reminders or wording (caregivers)',
  request: { params, body: jsonBody(updateAppointmentBody) },
  responses: {
    200: jsonResponse(AppointmentSchema, 'Changed; the running workflow has taken the change'),
    ...problems(
      beyondSchema(400, 'startsAt: in the future', 'caregiverIds: caregivers or family members of the circle'),
      ...WRITE_PROBLEMS,
    ),
  },
});

export const cancelAppointment = createRoute({
  method: 'delete',
  path: '/{id}',
  tags,
  summary: 'Cancel an appointment and its reminders (caregivers)',
  request: { params },
  responses: {
    200: jsonResponse(AppointmentSchema, 'Cancelled (again, if it already was)'),
    ...problems(403, 404, 409),
  },
});
