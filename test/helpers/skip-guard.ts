/**
 * A reporter for CI (on when `CI` is set): a skipped or todo test fails the run, because a skip in
 * CI means a check nobody ran. The one exception is a skip whose reason holds in CI as well, which
 * the test says by putting SKIP_HOLDS_IN_CI in its name or in its `ctx.skip(note)`.
 */
import type { Reporter, TestModule } from 'vitest/node';

export const SKIP_HOLDS_IN_CI = 'SKIPPED (also in CI):';

export class SkipGuard implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const refused: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state !== 'skipped') continue;
        if (test.fullName.includes(SKIP_HOLDS_IN_CI) || result.note?.includes(SKIP_HOLDS_IN_CI)) continue;
        refused.push(`${module.moduleId}: ${test.fullName}${result.note ? ` (${result.note})` : ''}`);
      }
    }
    if (refused.length === 0) return;
    console.error(
      `\nskip-guard: ${refused.length} test(s) skipped in CI without a reason that holds in CI ` +
        `(install what they need, or name the reason with "${SKIP_HOLDS_IN_CI}"):\n` +
        refused.map((r) => `  - ${r}`).join('\n'),
    );
    process.exitCode = 1;
  }
}
