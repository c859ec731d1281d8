/**
 * Throw-away databases on an existing PostgreSQL server, for the test suite, the benchmarks and the
 * chaos runs: created under a random name, migrated like production, dropped (even with
 * connections still open) when done.
 */
import { randomBytes } from 'node:crypto';
import { createPrisma, type PrismaClient } from '../shared/db.ts';
import { adminQuery, migrateDeploy, withDatabase } from '../scripts/migrations.ts';

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(8).toString('hex')}`;
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const drop = () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  const url = withDatabase(serverUrl, name);
  try {
    await migrateDeploy(url);
  } catch (err) {
    await drop();
    throw err;
  }
  return { name, url, drop };
}

/** A scratch database with a Prisma client on it; drop() disconnects the client first. */
export async function createScratchDatabaseWithClient(
  serverUrl: string,
  prefix: string,
): Promise<ScratchDatabase & { prisma: PrismaClient }> {
  const scratch = await createScratchDatabase(serverUrl, prefix);
  const prisma = createPrisma(scratch.url);
  return {
    ...scratch,
    prisma,
    async drop() {
      await prisma.$disconnect();
      await scratch.drop();
    },
  };
}
