import { defineConfig } from 'prisma/config';

// The datasource URL is only needed by commands that talk to a database; migrations run through
// scripts/db-migrate.ts (Prisma's wasm schema engine), so generation works with no database at all.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
});
