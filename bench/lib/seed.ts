/** Test data for the benchmarks, written straight to the database (setup is not what is measured). */
import { randomUUID } from 'node:crypto';
import { DateTime } from 'luxon';
import type { Channel, PrismaClient } from '../../shared/db.ts';

export interface SeededPatient {
  circleId: string;
  patientId: string;
  timezone: string;
  email: string;
}

/** Minute-aligned zones only, so that one instant is a whole local minute everywhere. */
export const ZONES = ['Europe/Paris', 'America/New_York', 'Asia/Tokyo', 'UTC'];

/**
 * `count` patients, ten to a care circle, each with an email address (and a push token if asked).
 * With `caregiver`, each circle also gets a caregiver member who is that user (`userId`), so that
 * the user's token may act in it; reachable in the app only, so that it receives no email or push.
 */
export async function seedPatients(
  prisma: PrismaClient,
  count: number,
  opts: { channels: Channel[]; pushTokens?: boolean; caregiver?: string },
): Promise<SeededPatient[]> {
  const patients: SeededPatient[] = [];
  const circles: { id: string; name: string }[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 10 === 0) circles.push({ id: randomUUID(), name: `Bench family ${circles.length + 1}` });
    const id = randomUUID();
    patients.push({
      circleId: circles[circles.length - 1]!.id,
      patientId: id,
      timezone: ZONES[i % ZONES.length]!,
      email: `patient-${i}@bench.example.com`,
    });
  }
  await prisma.careCircle.createMany({ data: circles });
  const caregiver = opts.caregiver;
  if (caregiver) {
    await prisma.member.createMany({
      data: circles.map((c) => ({
        careCircleId: c.id,
        name: 'Bench caregiver',
        role: 'caregiver' as const,
        timezone: 'UTC',
        userId: caregiver,
        channels: ['in_app' as const],
      })),
    });
  }
  await prisma.member.createMany({
    data: patients.map((p, i) => ({
      id: p.patientId,
      careCircleId: p.circleId,
      name: `Patient ${i}`,
      role: 'patient' as const,
      timezone: p.timezone,
      email: p.email,
      channels: opts.channels,
    })),
  });
  if (opts.pushTokens) {
    await prisma.pushToken.createMany({
      data: patients.map((p, i) => ({ memberId: p.patientId, token: `bench-device-${i}-${p.patientId}` })),
    });
  }
  return patients;
}

/** The local "YYYY-MM-DDTHH:MM" of an instant in a zone, as a `once` schedule takes it. */
export function localMinute(instantMs: number, zone: string): string {
  return DateTime.fromMillis(instantMs, { zone }).toFormat("yyyy-MM-dd'T'HH:mm");
}

/** The first whole minute at least `leadMs` from now. */
export function nextMinuteBoundary(leadMs: number, now = Date.now()): number {
  return Math.ceil((now + leadMs) / 60_000) * 60_000;
}
