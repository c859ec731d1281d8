/**
 * Temporal test environments that use the binaries installed in .tools/bin (see
 * scripts/install-tools.mjs). @temporalio/testing would otherwise download them from GitHub at
 * run time, which is not reachable everywhere these tests run.
 */
import {
  TestWorkflowEnvironment,
  type LocalTestWorkflowEnvironmentOptions,
  type TimeSkippingTestWorkflowEnvironmentOptions,
} from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { allSearchAttributeKeys } from '../../shared/search-attributes.ts';
import { resolveTemporalCli, resolveTemporalTestServer } from '../../dev/temporal-binaries.ts';

/**
 * The Java time-skipping test server: timers fire as soon as the test awaits a result or calls
 * `env.sleep()`, so "remind again in 5 days" runs in milliseconds. Call `env.teardown()` after.
 */
export async function createTimeSkippingEnv(
  opts: TimeSkippingTestWorkflowEnvironmentOptions = {},
): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    ...opts,
    server: { ...opts.server, executable: { type: 'existing-path', path: resolveTemporalTestServer() } },
  });
  // The test server knows no custom search attributes until told; workflows upsert NextDoseAt.
  const { IndexedValueType } = temporal.api.enums.v1;
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      allSearchAttributeKeys.map((key) => [
        key.name,
        key.type === 'DATETIME'
          ? IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
          : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
  return env;
}

/**
 * The real Temporal server (CLI dev server, in memory, random port, no UI) with the project's search
 * attributes registered, for tests that need full server behaviour (visibility queries, etc.).
 */
export function createLocalEnv(opts: LocalTestWorkflowEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    ...opts,
    server: {
      searchAttributes: allSearchAttributeKeys,
      ...opts.server,
      executable: { type: 'existing-path', path: resolveTemporalCli() },
    },
  });
}
