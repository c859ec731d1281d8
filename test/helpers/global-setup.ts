/**
 * Once per test run: the PostgreSQL server the tests create their databases on. CI (and anyone
 * with a server) sets DATABASE_URL, so the suite proves the production database; without it an
 * embedded PostgreSQL is started in a temporary folder, so `npm test` works on a bare laptop.
 */
import fs from 'node:fs';
import { freePort } from '../../shared/free-port.ts';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../dev/embedded-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const configured = process.env.DATABASE_URL?.trim();
  if (configured) {
    project.provide('adminDatabaseUrl', configured);
    return async () => {};
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-test-'));
  const pg = await startEmbeddedPostgres({ dataDir, port: await freePort() });
  project.provide('adminDatabaseUrl', pg.url);
  return async () => {
    await pg.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
}
