/**
 * The start helpers beside the workflows (workflows/*-start.ts) name the workflow type as a string,
 * which Temporal resolves by the workflow function's name: a renamed function would leave its
 * records without a workflow. Pure, no server.
 */
import { describe, expect, it } from 'vitest';
import type { Appointment, Medication, Shift } from '../shared/db.ts';
import { appointmentReminderWorkflow } from '../workflows/appointment-reminder.ts';
import { appointmentWorkflowStart } from '../workflows/appointment-start.ts';
import { medicationReminderWorkflow } from '../workflows/medication-reminder.ts';
import { medicationWorkflowStart } from '../workflows/medication-start.ts';
import { shiftReminderWorkflow } from '../workflows/shift-reminder.ts';
import { shiftWorkflowStart } from '../workflows/shift-start.ts';

const at = new Date('2027-01-04T09:00:00Z');
const ids = { id: 'rec-1', careCircleId: 'circle-1', workflowId: 'wf-1', version: 3 };

describe('workflow start helpers', () => {
  it('name the workflow function Temporal runs, and pass it its input', () => {
    const medication = {
      ...ids,
      patientId: 'patient-1',
      schedule: { type: 'times', times: ['08:00'], timezone: 'Europe/Paris' },
      escalationWindowMinutes: 30,
      status: 'paused',
    } as unknown as Medication;
    const med = medicationWorkflowStart(medication, 'medication-reminders', 60);
    expect(med.workflowType).toBe(medicationReminderWorkflow.name);
    expect(med.options).toMatchObject({
      workflowId: 'wf-1',
      taskQueue: 'medication-reminders',
      args: [{ medicationId: 'rec-1', escalationWindowMinutes: 30, armLeadSeconds: 60, state: 'paused' }],
      staticSummary: 'Medication schedule (times) in Europe/Paris',
    });

    const appointment = { ...ids, patientId: 'patient-1', startsAt: at, reminderOffsetsMinutes: [60] } as Appointment;
    const appt = appointmentWorkflowStart(appointment);
    expect(appt.workflowType).toBe(appointmentReminderWorkflow.name);
    expect(appt.options.args).toEqual([
      { appointmentId: 'rec-1', snapshot: { version: 3, startsAt: at.toISOString(), reminderOffsetsMinutes: [60] } },
    ]);

    const shift = {
      ...ids,
      startsAt: at,
      endsAt: at,
      assigneeId: null,
      reminderLeadMinutes: 120,
      unassignedAlertMinutes: 1440,
    } as unknown as Shift;
    const sh = shiftWorkflowStart(shift);
    expect(sh.workflowType).toBe(shiftReminderWorkflow.name);
    expect(sh.options.args[0]).toMatchObject({ shiftId: 'rec-1', snapshot: { version: 3, assigneeId: null } });
  });
});
