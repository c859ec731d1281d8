/** A fresh, migrated database per test file, dropped afterwards: tests never see each other's rows. */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPrisma, type PrismaClient } from '../../shared/db.ts';
import { migrateDeploy } from '../../shared/migrations.ts';

export interface TestDatabase {
  url: string;
  prisma: PrismaClient;
  drop(): Promise<void>;
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `carecircle_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(inject('adminDatabaseUrl'));
  url.pathname = `/${name}`;
  await migrateDeploy(url.toString());
  const prisma = createPrisma(url.toString());
  return {
    url: url.toString(),
    prisma,
    async drop() {
      await prisma.$disconnect();
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
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
