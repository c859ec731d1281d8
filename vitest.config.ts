import { defineConfig } from 'vitest/config';
import { SkipGuard } from './test/helpers/skip-guard.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests start real servers (Temporal, PostgreSQL) and bundle workflow code: allow for that.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
    // In CI a skipped test fails the run (test/helpers/skip-guard.ts).
    reporters: process.env.CI ? ['default', new SkipGuard()] : ['default'],
  },
});
