/**
 * The medication routes as the OpenAPI document shows them: response schemas and route
 * definitions. Their handlers are in medications.ts; request schemas in api/medication-schemas.ts.
 */
import { createRoute, z } from '@hono/zod-openapi';
import {
  acknowledgeDoseBody,
  createMedicationBody,
  doseHistoryQuery,
  logDoseBody,
  medicationListQuery,
  patchMedicationBody,
  storedScheduleSchema,
} from '../medication-schemas.ts';
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
import { pageSchema } from '../pagination.ts';

const instant = z.iso.datetime({ offset: true });
const medicationStatus = z.enum(['active', 'paused', 'cancelled', 'completed']);

const OpenDoseSchema = z
  .object({
    doseAt: instant,
    status: z.enum(['armed', 'reminded', 'snoozed']),
    snoozedUntil: instant.nullable(),
    escalatesAt: instant.openapi({ description: 'When caregivers are alerted unless acknowledged before' }),
  })
  .openapi('OpenDose');

export const MedicationSchema = z
  .object({
    id: z.uuid(),
    careCircleId: z.uuid(),
    patientId: z.uuid(),
    name: z.string(),
    dosage: z.string().nullable(),
    schedule: storedScheduleSchema,
    status: medicationStatus,
    workflowId: z.string(),
    escalationWindowMinutes: z.number().int(),
    pillCount: z.number().int().nullable(),
    pillsPerDose: z.number().int(),
    refillThresholdDays: z.number().int(),
    nextDoseAt: instant.nullable(),
    upcomingDoses: z.array(instant),
    openDoses: z.array(OpenDoseSchema),
    lastDoseAt: instant.nullable(),
    createdAt: instant,
  })
  .openapi('Medication');
/** A medication as every read answers it. */
export type MedicationView = z.infer<typeof MedicationSchema>;

const MedicationSummarySchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    dosage: z.string().nullable(),
    patientId: z.uuid(),
    status: medicationStatus,
    createdAt: instant,
  })
  .openapi('MedicationSummary');

const CreatedMedicationSchema = z
  .object({ id: z.uuid(), workflowId: z.string(), nextDoseAt: instant.nullable() })
  .openapi('CreatedMedication');

const DoseAcknowledgementSchema = z
  .object({
    doseAt: instant,
    status: z.enum(['taken', 'skipped', 'snoozed']),
    snoozedUntil: instant.nullable(),
    late: z.boolean().openapi({ description: 'Logged after the dose window closed' }),
  })
  .openapi('DoseAcknowledgement');

const LoggedDoseSchema = z.object({ takenAt: instant }).openapi('LoggedDose');

const DoseEventSchema = z
  .object({
    doseAt: instant,
    status: z.enum(['scheduled', 'reminded', 'snoozed', 'taken', 'skipped', 'missed']),
    source: z.enum(['schedule', 'as_needed']),
    remindedAt: instant.nullable(),
    acknowledgedAt: instant.nullable(),
    acknowledgedBy: z
      .object({ id: z.uuid(), name: z.string(), role: z.enum(['patient', 'caregiver', 'family']) })
      .nullable(),
    snoozedUntil: instant.nullable(),
    late: z.boolean(),
  })
  .openapi('DoseEvent');

const tags = ['Medications'];
const params = uuidParams('id');

export const createMedication = createRoute({
  method: 'post',
  path: '/',
  tags,
  summary: 'Create a medication and start its reminders (caregivers)',
  request: { body: jsonBody(createMedicationBody) },
  responses: {
    201: jsonResponse(CreatedMedicationSchema, 'Created; its reminder workflow is running'),
    ...problems(
      beyondSchema(
        400,
        'patientId: a member of the circle with role patient',
        'schedule: endDate is not before startDate, and the schedule has a dose still to come',
      ),
      ...WRITE_PROBLEMS,
      422,
    ),
  },
});

export const listMedications = circlePageRoute({
  tags,
  summary: "A care circle's medications, newest first",
  query: medicationListQuery,
  item: MedicationSummarySchema,
  page: 'MedicationPage',
  description: 'A page of medications',
});

export const getMedication = recordRoute({
  tags,
  summary: 'A medication, with its next and open doses',
  schema: MedicationSchema,
  description: 'The medication',
});

export const patchMedication = createRoute({
  method: 'patch',
  path: '/{id}',
  tags,
  summary: 'Edit a medication or its schedule (caregivers)',
  request: { params, body: jsonBody(patchMedicationBody) },
  responses: {
    200: jsonResponse(MedicationSchema, 'The medication as changed'),
    ...problems(
      beyondSchema(400, 'schedule: endDate is not before startDate, and the schedule has a dose still to come'),
      ...WRITE_PROBLEMS,
      422,
    ),
  },
});

/** Pause and resume: the medication's schedule changes state, and the medication is the answer. */
const scheduleStateRoute = <P extends string>(path: P, summary: string, answer: string) =>
  createRoute({
    method: 'post',
    path,
    tags,
    summary,
    request: { params },
    responses: {
      200: jsonResponse(MedicationSchema, answer),
      ...problems(...WRITE_PROBLEMS, 422),
    },
  });

export const pauseMedication = scheduleStateRoute(
  '/{id}/pause',
  'Pause reminders (caregivers)',
  'The medication, paused',
);
export const resumeMedication = scheduleStateRoute(
  '/{id}/resume',
  'Resume reminders (caregivers)',
  'The medication, active again',
);

export const acknowledgeDose = createRoute({
  method: 'post',
  path: '/{id}/doses/acknowledge',
  tags,
  summary: 'Mark a due dose taken, skipped or snoozed, as yourself (the patient or caregivers)',
  request: { params, body: jsonBody(acknowledgeDoseBody) },
  responses: {
    200: jsonResponse(DoseAcknowledgementSchema, 'The dose as acknowledged'),
    ...problems(...WRITE_PROBLEMS, 422),
  },
});

export const logDose = createRoute({
  method: 'post',
  path: '/{id}/doses',
  tags,
  summary: 'Log an as-needed dose taken, as yourself (the patient or caregivers)',
  request: { params, body: jsonBody(logDoseBody) },
  responses: {
    201: jsonResponse(LoggedDoseSchema, 'Logged'),
    ...problems(...WRITE_PROBLEMS, 422),
  },
});

export const doseHistory = createRoute({
  method: 'get',
  path: '/{id}/doses',
  tags,
  summary: 'Dose history, newest first: what happened to each dose and who acknowledged it',
  request: { params, query: doseHistoryQuery },
  responses: {
    200: jsonResponse(pageSchema(DoseEventSchema, 'DoseEventPage'), 'A page of doses'),
    ...problems(beyondSchema(400, 'to: not before from'), 404),
  },
});

export const deleteMedication = createRoute({
  method: 'delete',
  path: '/{id}',
  tags,
  summary: 'Cancel a medication and stop its reminders (caregivers)',
  request: { params },
  responses: { 200: jsonResponse(MedicationSchema, 'The medication, cancelled'), ...problems(403, 404, 409) },
});
