/** A fresh, migrated database per test file, dropped afterwards: tests never see each other's rows. */
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import type { PrismaClient } from '../../shared/db.ts';
import { createScratchDatabaseWithClient } from '../../dev/scratch-database.ts';

export interface TestDatabase {
  url: string;
  prisma: PrismaClient;
  drop(): Promise<void>;
}

export function createTestDatabase(): Promise<TestDatabase> {
  return createScratchDatabaseWithClient(inject('adminDatabaseUrl'), 'carecircle_test');
}

/** A care circle with one patient (push token + email) and one active medication. */
export async function seedPatientWithMedication(prisma: PrismaClient, overrides: { pushTokens?: string[] } = {}) {
  const circle = await prisma.careCircle.create({ data: { name: 'Test family' } });
  const patient = await prisma.member.create({
    data: {
      careCircleId: circle.id,
      name: 'Ada',
      role: 'patient',
      timezone: 'America/New_York',
      email: 'ada@example.com',
      pushTokens: { create: (overrides.pushTokens ?? ['token-a']).map((token) => ({ token })) },
    },
  });
  const medicationId = randomUUID();
  const medication = await prisma.medication.create({
    data: {
      id: medicationId,
      careCircleId: circle.id,
      patientId: patient.id,
      name: 'Lisinopril',
      dosage: '10 mg',
      schedule: { times: ['08:00'], timezone: 'America/New_York' },
      workflowId: `medication:${medicationId}`,
    },
  });
  return { circle, patient, medication };
}
