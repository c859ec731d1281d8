/**
 * Bundles the workflow code in a process of its own, for workers/build.ts: webpack leaves about
 * 150 MB behind in the process that runs it (docs/queues.md, "Memory"), which a worker would keep
 * for its whole life. Receives the bundler's options over IPC, answers with the code or an error.
 */
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';

type Request = Pick<BundleOptions, 'workflowsPath' | 'workflowInterceptorModules'>;
export type BundleChildMessage =
  | { type: 'log'; level: 'warn' | 'error'; message: string }
  | { type: 'done'; code: string }
  | { type: 'failed'; error: string };

const send = (message: BundleChildMessage) =>
  new Promise<void>((resolve) => process.send!(message, undefined, undefined, () => resolve()));

process.once('message', (request: Request) => {
  const forward = (level: 'warn' | 'error') => (message: string) => void send({ type: 'log', level, message });
  const quiet = () => {};
  bundleWorkflowCode({
    ...request,
    logger: { trace: quiet, debug: quiet, info: quiet, log: quiet, warn: forward('warn'), error: forward('error') },
  }).then(
    async ({ code }) => {
      await send({ type: 'done', code });
      process.exit(0);
    },
    async (err: unknown) => {
      await send({ type: 'failed', error: (err as Error).stack ?? String(err) });
      process.exit(1);
    },
  );
});
