/**
 * The migration that made documents private: rows written before it (with a public URL) keep
 * what reading them back needs (delivery type `upload`, the format from the URL), and no URL.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultMigrationsDir, migrateDeploy } from '../scripts/migrations.ts';

const MIGRATION = '20261205040000_private_documents';
const serverUrl = process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
const dbName = `private_docs_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const dbUrl = Object.assign(new URL(serverUrl), { pathname: `/${dbName}` }).toString();
const before = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-before-'));

async function sql<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  await sql(serverUrl, `CREATE DATABASE "${dbName}"`);
  // Every migration up to (not including) this one.
  for (const entry of fs.readdirSync(defaultMigrationsDir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name >= MIGRATION) continue;
    fs.cpSync(path.join(defaultMigrationsDir, entry.name), path.join(before, entry.name), { recursive: true });
  }
});
afterAll(async () => {
  await sql(serverUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  fs.rmSync(before, { recursive: true, force: true });
});

it('keeps documents uploaded before it readable, and drops their URLs', async () => {
  await migrateDeploy(dbUrl, { migrationsDir: before });
  const [circle] = await sql<{ id: string }>(
    dbUrl,
    `INSERT INTO care_circles (id, name) VALUES ($1, 'c') RETURNING id`,
    [randomUUID()],
  );
  const insert = (id: string, provider: string | null, providerId: string | null, url: string | null) =>
    sql(
      dbUrl,
      `INSERT INTO documents (id, care_circle_id, filename, content_type, size_bytes, sha256, status, url, provider,
         provider_id, workflow_id, updated_at)
       VALUES ($1, $2, 'f', 'application/pdf', 1, 'x', $3, $4, $5, $6, $7, now())`,
      [id, circle!.id, url ? 'uploaded' : 'pending', url, provider, providerId, `document:${id}`],
    );
  const ids = { image: randomUUID(), raw: randomUUID(), dev: randomUUID(), pending: randomUUID() };
  await insert(
    ids.image,
    'cloudinary',
    'image/carecircle/c/d',
    'https://res.cloudinary.com/demo/image/upload/v1/carecircle/c/d.pdf',
  );
  await insert(
    ids.raw,
    'cloudinary',
    'raw/carecircle/c/e',
    'https://res.cloudinary.com/demo/raw/upload/v1/carecircle/c/e',
  );
  await insert(ids.dev, 'dev-document-store', 'carecircle/c/f', 'file:///data/dev-documents/carecircle/c/f');
  await insert(ids.pending, null, null, null);

  expect((await migrateDeploy(dbUrl)).applied).toContain(MIGRATION);
  const rows = await sql<Record<string, unknown>>(
    dbUrl,
    'SELECT id, provider_id, provider_format, delivery_type FROM documents',
  );
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
  expect(byId[ids.image]).toMatchObject({
    provider_id: 'image/carecircle/c/d',
    provider_format: 'pdf',
    delivery_type: 'upload',
  });
  expect(byId[ids.raw]).toMatchObject({
    provider_id: 'raw/carecircle/c/e',
    provider_format: null,
    delivery_type: 'upload',
  });
  expect(byId[ids.dev]).toMatchObject({ provider_id: 'carecircle/c/f', provider_format: null, delivery_type: null });
  expect(byId[ids.pending]).toMatchObject({ provider_id: null, delivery_type: null });
  const columns = await sql<{ column_name: string }>(
    dbUrl,
    `SELECT column_name FROM information_schema.columns WHERE table_name = 'documents'`,
  );
  expect(columns.map((c) => c.column_name)).not.toContain('url');
});
