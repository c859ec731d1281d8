/**
 * The offline migration path (scripts/migrations.ts) against a real PostgreSQL: a brand-new database
 * gets every migration of prisma/migrations, recorded as `prisma migrate deploy` records them, and a
 * second deploy is a no-op. Uses DATABASE_URL's server (default: the local PostgreSQL) and a
 * throw-away database on it.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMigrationsDir, migrateDeploy, migrationChecksum } from '../scripts/migrations.ts';

const serverUrl = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
const dbName = `migrations_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const dbUrl = (() => {
  const u = new URL(serverUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function migrationFolders(): Promise<string[]> {
  const entries = await readdir(defaultMigrationsDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

describe('migrateDeploy', () => {
  beforeAll(() => admin(`CREATE DATABASE "${dbName}"`));
  afterAll(() => admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));

  it('applies every migration to an empty database and records it like prisma migrate deploy', async () => {
    const folders = await migrationFolders();
    expect(folders.length).toBeGreaterThan(0);

    const { applied } = await migrateDeploy(dbUrl);
    expect(applied).toEqual(folders);

    const tables = (await query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'`)).map(
      (r) => r.t,
    );
    expect(tables).toEqual(
      expect.arrayContaining(['_prisma_migrations', 'care_circles', 'members', 'medications', 'dose_events']),
    );

    const rows = await query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      logs: string | null;
    }>('SELECT migration_name, checksum, finished_at, logs FROM _prisma_migrations ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(folders);
    for (const row of rows) {
      const sql = await readFile(path.join(defaultMigrationsDir, row.migration_name, 'migration.sql'), 'utf8');
      expect(row.checksum).toBe(migrationChecksum(sql));
      expect(row.finished_at).not.toBeNull();
      expect(row.logs).toBeNull();
    }
  });

  it('applies nothing the second time, even when runs overlap', async () => {
    const runs = await Promise.all([migrateDeploy(dbUrl), migrateDeploy(dbUrl)]);
    expect(runs).toEqual([{ applied: [] }, { applied: [] }]);
    const [{ n }] = (await query<{ n: number }>('SELECT count(*)::int AS n FROM _prisma_migrations')) as [
      { n: number },
    ];
    expect(n).toBe((await migrationFolders()).length);
  });
});
