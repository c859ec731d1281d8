/**
 * The shift routes as the OpenAPI document shows them: response schemas and route definitions.
 * Their handlers are in shifts.ts; request schemas in api/scheduling-schemas.ts.
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
import { circleListQuery, createShiftBody, updateShiftBody } from '../scheduling-schemas.ts';

const ShiftSummarySchema = z
  .object({
    id: z.uuid(),
    careCircleId: z.uuid(),
    title: z.string().nullable(),
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    assigneeId: z.uuid().nullable().openapi({ description: 'The member taking the shift; null while unassigned' }),
    reminderLeadMinutes: z.number().int(),
    unassignedAlertMinutes: z.number().int(),
    status: z.enum(['scheduled', 'cancelled', 'completed']),
    version: z.number().int().openapi({ description: 'Bumped by every change (assign, reassign, swap)' }),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('ShiftSummary');

const ShiftSchema = ShiftSummarySchema.extend({
  next: z
    .object({
      action: z.enum(['remind_assignee', 'alert_circle', 'start', 'end']),
      at: z.iso.datetime(),
    })
    .nullable()
    .openapi({ description: "What the shift's workflow does next, and when; null when unknown or over" }),
  remindedAssignees: z.array(z.uuid()).openapi({ description: 'Assignees reminded so far' }),
}).openapi('Shift');

const ShiftChangeSchema = ShiftSchema.extend({
  swappedWith: z
    .object({ id: z.uuid(), assigneeId: z.uuid().nullable() })
    .optional()
    .openapi({ description: 'After a swap: the other shift and its new assignee' }),
}).openapi('ShiftChange');

const CreatedShiftSchema = z.object({ id: z.uuid(), workflowId: z.string() }).openapi('CreatedShift');

const tags = ['Shifts'];
const params = uuidParams('id');

export const createShift = createRoute({
  method: 'post',
  path: '/',
  tags,
  summary: 'Create a caregiver shift and start its reminders (caregivers)',
  request: { body: jsonBody(createShiftBody) },
  responses: {
    201: jsonResponse(CreatedShiftSchema, 'Created; its workflow is running'),
    ...problems(
      beyondSchema(
        400,
        'startsAt: in the future',
        'endsAt: after startsAt, at most 7 days later',
        'assigneeId: a caregiver or family member of the circle',
      ),
      ...WRITE_PROBLEMS,
      422,
    ),
  },
});

export const listShifts = circlePageRoute({
  tags,
  summary: "A care circle's shifts, by start time (earliest first, then id)",
  query: circleListQuery,
  item: ShiftSummarySchema,
  page: 'ShiftPage',
  description: 'A page of shifts',
});

export const getShift = recordRoute({
  tags,
  summary: 'A shift, with what its workflow does next',
  schema: ShiftSchema,
  description: 'The shift',
});

export const updateShift = createRoute({
  method: 'patch',
  path: '/{id}',
  tags,
  summary: 'Assign, reassign or unassign a shift, or swap assignees with another shift (caregivers)',
  request: { params, body: jsonBody(updateShiftBody) },
  responses: {
    200: jsonResponse(ShiftChangeSchema, 'Changed; the running workflows have taken the change'),
    ...problems(
      beyondSchema(
        400,
        'assigneeId: a caregiver or family member of the circle',
        'swapWithShiftId: another shift of the same circle',
      ),
      ...WRITE_PROBLEMS,
    ),
  },
});

export const cancelShift = createRoute({
  method: 'delete',
  path: '/{id}',
  tags,
  summary: 'Cancel a shift and its reminders (caregivers)',
  request: { params },
  responses: {
    200: jsonResponse(ShiftSchema, 'Cancelled (again, if it already was)'),
    ...problems(403, 404, 409),
  },
});
