/**
 * An interrupted document upload, on the real Temporal dev server (the time-skipping server keeps
 * an attempt handed to a worker that is going away "running" forever): the workers are shut down
 * while a chunk is in flight at the fake Cloudinary; a new worker resumes the upload from the last
 * heartbeat with the same upload id, the chunks already acknowledged are not sent again, and one
 * intact file arrives.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../activities/index.ts';
import type { UploadHeartbeat } from '../activities/documents.ts';
import { CloudinaryDocumentStore, parseCloudinaryUrl } from '../providers/cloudinary.ts';
import { documentWorkflowId } from '../shared/ids.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import type { DocumentUploadResult } from '../workflows/document-upload.ts';
import { startFakeProviders, type FakeProviders } from './fakes/provider-server.ts';
import { createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { waitFor } from './helpers/wait.ts';

const CHUNK = 64 * 1024;
let fake: FakeProviders;
let care: CareEnv;
const attempts: { attempt: number; heartbeat: UploadHeartbeat | undefined }[] = [];

function recordAttempts(activities: Activities): Activities {
  return {
    ...activities,
    uploadDocument(input: { documentId: string }) {
      const info = Context.current().info;
      attempts.push({ attempt: info.attempt, heartbeat: info.heartbeatDetails as UploadHeartbeat | undefined });
      return activities.uploadDocument(input);
    },
  };
}

beforeAll(async () => {
  fake = await startFakeProviders({ cloudinary: { cloudName: 'carecircle', apiKey: 'key', apiSecret: 'secret' } });
  const store = new CloudinaryDocumentStore(parseCloudinaryUrl(fake.cloudinary.cloudinaryUrl), { timeoutMs: 30_000 });
  care = await createCareEnv({ documents: store, documentChunkBytes: CHUNK, wrap: recordAttempts, server: 'local' });
}, 120_000);

afterAll(async () => {
  await care?.teardown();
  await fake?.close();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('documentUploadWorkflow, interrupted', () => {
  it('resumes from its last heartbeat after the worker is shut down mid-upload; the file arrives once', async () => {
    const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(5 * CHUNK + 123 - 9)]);
    const circle = await care.db.prisma.careCircle.create({ data: { name: 'Docs family' } });
    const id = randomUUID();
    await care.db.prisma.document.create({
      data: {
        id,
        careCircleId: circle.id,
        filename: 'scan.pdf',
        contentType: 'application/pdf',
        sizeBytes: bytes.length,
        sha256: sha(bytes),
        workflowId: documentWorkflowId(id),
        blob: { create: { data: new Uint8Array(bytes) } },
      },
    });
    // The third chunk hangs the first time it is sent: the worker goes away while it is in flight.
    let hung = false;
    fake.cloudinary.respondWith((request) => {
      if (request.range?.start === 2 * CHUNK && !hung) {
        hung = true;
        return { kind: 'hang' };
      }
      return undefined;
    });

    const handle = await care.run(async () => {
      const started = await care.env.client.workflow.start('documentUploadWorkflow', {
        workflowId: documentWorkflowId(id),
        taskQueue: TASK_QUEUES.documents,
        args: [{ documentId: id }],
      });
      await waitFor('the third chunk in flight', async () => (hung ? true : undefined));
      expect(await care.db.prisma.document.findUniqueOrThrow({ where: { id } })).toMatchObject({
        status: 'uploading',
        uploadedBytes: 2 * CHUNK,
      });
      return started;
    }); // leaving run() shuts the workers down: the attempt is cancelled mid-chunk

    const started = Date.now();
    const result = await care.run(() => handle.result() as Promise<DocumentUploadResult>);
    expect(result.status).toBe('uploaded');
    // The second attempt started from the heartbeat after the last acknowledged chunk, within seconds.
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(attempts[0]!.heartbeat).toBeUndefined();
    expect(attempts[1]!.heartbeat).toMatchObject({ uploadId: `carecircle-${id}`, offset: 2 * CHUNK });
    expect(Date.now() - started).toBeLessThan(15_000);
    // Chunks 1 and 2 were sent once, chunk 3 twice (the hung one, then again): one intact file.
    expect(fake.cloudinary.requests.map((r) => r.range!.start / CHUNK)).toEqual([0, 1, 2, 2, 3, 4, 5]);
    expect(new Set(fake.cloudinary.requests.map((r) => r.uploadId))).toEqual(new Set([`carecircle-${id}`]));
    expect(fake.cloudinary.uploads).toHaveLength(1);
    expect(sha(fake.cloudinary.uploads[0]!.content)).toBe(sha(bytes));
    expect(await care.db.prisma.document.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'uploaded',
      attempts: 2,
      uploadedBytes: bytes.length,
    });
  });
});
