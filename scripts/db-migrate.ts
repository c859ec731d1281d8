/**
 * Prisma migrations without the Prisma CLI (which needs a native engine download; see
 * scripts/migrations.ts):
 *
 *   tsx scripts/db-migrate.ts deploy          apply pending prisma/migrations (npm run db:migrate)
 *   tsx scripts/db-migrate.ts create <name>   write a migration for schema.prisma changes
 *                                             (npm run db:migrate:create -- <name>)
 *
 * DATABASE_URL picks the database; without it, the embedded PostgreSQL that `npm start` uses (in
 * DATA_DIR) is started for the command and stopped after it. `create` never changes that
 * database: it replays the migrations into a temporary shadow database on the same server, or into
 * SHADOW_DATABASE_URL if set (an empty throw-away database).
 * Exit codes: 0 done (also when there was nothing to do), 1 failed, 2 bad usage.
 */
import { performance } from 'node:perf_hooks';
import { startEmbeddedPostgres } from '../dev/embedded-postgres.ts';
import { config } from '../shared/config.ts';
import { migrateCreate, migrateDeploy, redact } from './migrations.ts';
const USAGE = 'usage: tsx scripts/db-migrate.ts deploy | create <name>';

async function main(argv: string[]): Promise<number> {
  const cfg = config();
  if (cfg.DATABASE_URL) return run(argv, cfg.DATABASE_URL);
  const embedded = await startEmbeddedPostgres({ dataDir: cfg.DATA_DIR, port: cfg.EMBEDDED_PG_PORT });
  console.log(`Using the embedded PostgreSQL in ${cfg.DATA_DIR} (set DATABASE_URL to use another).`);
  try {
    return await run(argv, embedded.url);
  } finally {
    await embedded.stop();
  }
}

async function run(argv: string[], databaseUrl: string): Promise<number> {
  const [command, ...rest] = argv;
  const log = (msg: string) => console.log(msg);
  const started = performance.now();
  const took = () => `${Math.round(performance.now() - started)} ms`;

  switch (command) {
    case 'deploy': {
      if (rest.length > 0) break;
      const { applied } = await migrateDeploy(databaseUrl, { log });
      console.log(
        applied.length === 0
          ? `Database ${redact(databaseUrl)} is up to date: no pending migrations (${took()}).`
          : `Applied ${applied.length} migration(s) to ${redact(databaseUrl)} (${took()}).`,
      );
      return 0;
    }
    case 'create': {
      const name = rest.join('_');
      if (!name) break;
      const shadowDatabaseUrl = process.env.SHADOW_DATABASE_URL?.trim() || undefined;
      const { path } = await migrateCreate(databaseUrl, name, { log, ...(shadowDatabaseUrl && { shadowDatabaseUrl }) });
      if (path) console.log(`Review it, then apply it with npm run db:migrate (${took()}).`);
      return 0;
    }
  }
  console.error(USAGE);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  const e = err as Error & { code?: string };
  console.error(`\ndb-migrate failed${e.code ? ` (${e.code})` : ''}: ${e.message ?? String(err)}`);
  if (e.code === 'P3009') {
    console.error('Fix the failed migration in the database, then mark it rolled back (see the link above).');
  }
  process.exitCode = 1;
}
