#!/usr/bin/env node
/**
 * `prisma generate`, offline. Runs from `postinstall` and `npm run db:generate`; writes the
 * Prisma Client to generated/prisma (see the generator block in prisma/schema.prisma).
 *
 * Why not plain `prisma generate`: the Prisma 7 CLI resolves the native schema engine before any
 * command and downloads it when it is missing, which fails without internet. Generation never runs
 * that engine, and the CLI skips the download when PRISMA_SCHEMA_ENGINE_BINARY names an existing
 * file, so we point it at a stub that explains itself if anything ever does run it. Migrations use
 * the wasm engine instead (scripts/db-migrate.ts).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(`\nprisma-generate: ${message}\n`);
  process.exit(1);
}

function prismaCli() {
  const require = createRequire(path.join(projectRoot, 'package.json'));
  let pkgPath;
  try {
    pkgPath = require.resolve('prisma/package.json');
  } catch {
    fail('the `prisma` package is not installed: run `npm install` first.');
  }
  const bin = JSON.parse(readFileSync(pkgPath, 'utf8')).bin;
  return path.join(path.dirname(pkgPath), typeof bin === 'string' ? bin : bin.prisma);
}

/** An executable that only says why it should not have been run. */
function engineStub() {
  const dir = path.join(projectRoot, 'node_modules', '.cache', 'carecircle-prisma');
  const file = path.join(dir, 'schema-engine-offline-stub');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      file,
      '#!/bin/sh\n' +
        'echo "The native Prisma schema engine is not installed (offline set-up, see scripts/prisma-generate.mjs)." >&2\n' +
        'echo "Use npm run db:migrate / npm run db:migrate:create -- <name> for migrations." >&2\n' +
        'exit 1\n',
    );
    chmodSync(file, 0o755);
  }
  return file;
}

const env = {
  ...process.env,
  // A path the user gave (e.g. a real engine) wins.
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || engineStub(),
  // No telemetry/update check (it would call checkpoint.prisma.io) and no update banner.
  CHECKPOINT_DISABLE: process.env.CHECKPOINT_DISABLE ?? '1',
  PRISMA_HIDE_UPDATE_MESSAGE: process.env.PRISMA_HIDE_UPDATE_MESSAGE ?? '1',
};

const started = Date.now();
const result = spawnSync(process.execPath, [prismaCli(), 'generate', ...process.argv.slice(2)], {
  cwd: projectRoot, // where prisma.config.ts is
  env,
  stdio: 'inherit',
});
if (result.error) fail(`could not start the Prisma CLI: ${result.error.message}`);
if (result.status !== 0) {
  fail(
    `\`prisma generate\` failed (exit ${result.status ?? result.signal}); see its output above. ` +
      'The Prisma Client in generated/prisma is missing or stale until it succeeds (retry: npm run db:generate).',
  );
}
if (!existsSync(path.join(projectRoot, 'generated', 'prisma', 'client.ts'))) {
  fail('`prisma generate` succeeded but generated/prisma/client.ts is missing: check the generator block.');
}
console.log(`prisma-generate: Prisma Client generated in ${Date.now() - started} ms`);
