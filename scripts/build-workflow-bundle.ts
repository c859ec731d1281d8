/**
 * The workflow bundle of a compiled worker, written by `npm run build` to dist/workflow-bundle.js
 * (loaded by workers/build.ts). Same inputs as a worker that bundles at start: workflows/index.ts
 * and the workflow interceptor modules every worker gets.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { projectRoot } from '../shared/config.ts';
import { WORKFLOW_BUNDLE_FILE, workflowsPath } from '../workers/build.ts';
import { workerInterceptors } from '../workers/observability.ts';
import { withTracing } from '../workers/tracing.ts';

const { code } = await bundleWorkflowCode({
  workflowsPath,
  workflowInterceptorModules: withTracing(workerInterceptors()).workflowModules ?? [],
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
});
const file = path.join(projectRoot, 'dist', WORKFLOW_BUNDLE_FILE);
await mkdir(path.dirname(file), { recursive: true });
await writeFile(file, code);
console.log(`${path.relative(projectRoot, file)}: ${(code.length / 1024).toFixed(0)} KiB`);
