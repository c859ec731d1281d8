/**
 * The custom search attributes operators filter on in the Temporal Web UI, e.g.
 * `CareCircleId = "…" AND ExecutionStatus = "Running"`. The dev server registers them at start.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CareCircleId = defineSearchAttributeKey('CareCircleId', SearchAttributeType.KEYWORD);
export const PatientId = defineSearchAttributeKey('PatientId', SearchAttributeType.KEYWORD);
export const NextDoseAt = defineSearchAttributeKey('NextDoseAt', SearchAttributeType.DATETIME);
export const MedicationId = defineSearchAttributeKey('MedicationId', SearchAttributeType.KEYWORD);
/** active, paused or completed: `ScheduleStatus = "paused"` lists every paused schedule. */
export const ScheduleStatus = defineSearchAttributeKey('ScheduleStatus', SearchAttributeType.KEYWORD);

/** Every key, for test servers that must be told about them. */
export const allSearchAttributeKeys = [CareCircleId, PatientId, NextDoseAt, MedicationId, ScheduleStatus];

/** Name → type, in the form `temporal server start-dev --search-attribute` takes. */
export const searchAttributeDefinitions = {
  CareCircleId: 'Keyword',
  PatientId: 'Keyword',
  NextDoseAt: 'Datetime',
  MedicationId: 'Keyword',
  ScheduleStatus: 'Keyword',
} as const;
