/**
 * For the appointment, shift, circle-notification and document tests: a fresh database, the
 * time-skipping Temporal server, and the project's workers (workers/build.ts) on the real task
 * queues with the real activities; providers are the dev outbox unless a test passes its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createActivities, type Activities } from '../../activities/index.ts';
import { OutboxEmailSender, OutboxPushSender } from '../../providers/dev-outbox.ts';
import { DevDocumentStore } from '../../providers/dev-document-store.ts';
import type { DocumentStore } from '../../providers/documents.ts';
import type { EmailSender, PushSender } from '../../providers/types.ts';
import { loadConfig } from '../../shared/config.ts';
import { taskQueueSettings, type Workload } from '../../shared/task-queues.ts';
import { buildWorkers } from '../../workers/build.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { createLocalEnv, createTimeSkippingEnv } from './temporal-env.ts';
import { workflowBundle } from './workers.ts';

export interface CareEnv {
  env: TestWorkflowEnvironment;
  db: TestDatabase;
  activities: Activities;
  /** Where the workers upload documents (the API reads them back from it). */
  documents: DocumentStore;
  /** Runs `fn` while the workers poll (they stop afterwards). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  teardown(): Promise<void>;
}

export const CARE_WORKLOADS: Workload[] = ['appointment', 'shift', 'notifications', 'email', 'documents'];

export async function createCareEnv(
  opts: {
    push?: PushSender;
    email?: EmailSender;
    documents?: DocumentStore;
    documentChunkBytes?: number;
    /** Wraps the activities (e.g. to record calls) before the workers get them. */
    wrap?: (activities: Activities) => Activities;
    /** The time-skipping test server (default), or the real dev server where real time matters. */
    server?: 'time-skipping' | 'local';
    /** Which workers run (default CARE_WORKLOADS). */
    workloads?: Workload[];
  } = {},
): Promise<CareEnv> {
  const [env, db, bundle] = await Promise.all([
    opts.server === 'local' ? createLocalEnv() : createTimeSkippingEnv(),
    createTestDatabase(),
    workflowBundle(),
  ]);
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-docs-'));
  const prisma = db.prisma;
  const documents = opts.documents ?? new DevDocumentStore(storeDir);
  const created = createActivities({
    prisma,
    push: opts.push ?? new OutboxPushSender(prisma),
    email: opts.email ?? new OutboxEmailSender(prisma),
    documents,
    ...(opts.documentChunkBytes ? { documentChunkBytes: opts.documentChunkBytes } : {}),
  });
  const activities = opts.wrap ? opts.wrap(created) : created;
  // Circle notifications run their workflows on the notifications queue; the email rate limit
  // would only slow a test of a few hundred emails down in real time.
  const settings = taskQueueSettings({ ...loadConfig({}), EMAIL_RATE_LIMIT_PER_MINUTE: 1_000_000 });
  settings.notifications = { ...settings.notifications, runsWorkflows: true };

  async function run<T>(fn: () => Promise<T>): Promise<T> {
    const workers: Worker[] = await buildWorkers({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      settings,
      workloads: opts.workloads ?? CARE_WORKLOADS,
      activities,
      workflowBundle: bundle,
      shutdownGraceTime: '1 second',
    });
    const running = workers.map((w) => w.run());
    try {
      return await fn();
    } finally {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
    }
  }

  return {
    env,
    db,
    activities,
    documents,
    run,
    async teardown() {
      await env.teardown();
      await db.drop();
      fs.rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
