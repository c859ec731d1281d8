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

/** The local clock time of a dose for the patient ("08:00"). */
export function localDoseTime(doseAt: Date, timezone: string): string {
  return DateTime.fromJSDate(doseAt, { zone: timezone }).toFormat('HH:mm');
}

export function doseFollowUpText(input: { medicationName: string; doseAt: Date; timezone: string }): {
  title: string;
  body: string;
} {
  const local = localDoseTime(input.doseAt, input.timezone);
  return {
    title: `Still time for ${input.medicationName}`,
    body: `Your ${local} ${input.medicationName} is not confirmed yet. Mark it taken or skipped in the app.`,
  };
}

export function missedDoseAlertText(input: {
  patientName: string;
  medicationName: string;
  doseAt: Date;
  timezone: string;
}): { title: string; body: string } {
  const local = localDoseTime(input.doseAt, input.timezone);
  return {
    title: `Missed dose: ${input.patientName}`,
    body: `${input.patientName} has not confirmed the ${local} ${input.medicationName}.`,
  };
}

export function refillText(input: { patientName: string; medicationName: string; daysLeft: number }): {
  title: string;
  body: string;
} {
  const days = Math.max(0, Math.floor(input.daysLeft));
  return {
    title: `Refill ${input.medicationName} soon`,
    body: `${input.patientName} has about ${days} day${days === 1 ? '' : 's'} of ${input.medicationName} left.`,
  };
}

// ---- Appointments, shifts, circle notifications ----

/** "in 1 hour", "in 2 days", "in 25 minutes": how far ahead, rounded the way people say it. */
export function timeUntil(fromMs: number, toMs: number): string {
  const minutes = Math.max(0, Math.round((toMs - fromMs) / 60_000));
  if (minutes < 60) return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `in ${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.round(hours / 24);
  return `in ${days} days`;
}

export function appointmentReminderText(input: {
  title: string;
  location: string | null;
  startsAt: Date;
  timezone: string;
  /** When the reminder goes out. */
  sendAt: Date;
}): { title: string; body: string } {
  const when = DateTime.fromJSDate(input.startsAt, { zone: input.timezone }).toFormat("ccc d LLL 'at' HH:mm");
  const ahead = timeUntil(input.sendAt.getTime(), input.startsAt.getTime());
  const where = input.location ? ` at ${input.location}` : '';
  return { title: `${input.title} ${ahead}`, body: `${input.title}${where}, ${when}.` };
}

export function shiftReminderText(input: {
  shiftTitle: string | null;
  startsAt: Date;
  endsAt: Date;
  timezone: string;
}): { title: string; body: string } {
  const start = DateTime.fromJSDate(input.startsAt, { zone: input.timezone });
  const end = DateTime.fromJSDate(input.endsAt, { zone: input.timezone });
  const what = input.shiftTitle ?? 'Your care shift';
  return {
    title: `${what} starts at ${start.toFormat('HH:mm')}`,
    body: `${what}: ${start.toFormat('ccc d LLL, HH:mm')}–${end.toFormat('HH:mm')}.`,
  };
}

export function shiftUnassignedText(input: {
  shiftTitle: string | null;
  startsAt: Date;
  endsAt: Date;
  timezone: string;
}): { title: string; body: string } {
  const start = DateTime.fromJSDate(input.startsAt, { zone: input.timezone });
  const end = DateTime.fromJSDate(input.endsAt, { zone: input.timezone });
  const what = input.shiftTitle ?? 'A care shift';
  return {
    title: `Nobody has the ${start.toFormat('ccc HH:mm')} shift yet`,
    body: `${what} on ${start.toFormat('ccc d LLL, HH:mm')}–${end.toFormat('HH:mm')} has no one assigned. Can you take it?`,
  };
}
