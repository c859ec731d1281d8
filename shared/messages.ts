/** The words people read. Kept apart from delivery so copy changes never touch activities. */
import { DateTime } from 'luxon';

export function doseReminderText(input: {
  medicationName: string;
  dosage: string | null;
  doseAt: Date;
  timezone: string;
}): {
  title: string;
  body: string;
} {
  const local = DateTime.fromJSDate(input.doseAt, { zone: input.timezone }).toFormat('HH:mm');
  const what = input.dosage ? `${input.medicationName} (${input.dosage})` : input.medicationName;
  return { title: `Time for ${input.medicationName}`, body: `It's ${local}: time to take ${what}.` };
}
