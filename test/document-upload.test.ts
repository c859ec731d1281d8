/**
 * Document uploads through the real Cloudinary SDK to the fake provider server (test/fakes), on
 * the time-skipping server with the real activities: a chunked upload with progress, five
 * transient failures (the replaced design's 5 attempts) and a permanent 4xx each ending as a failed document
 * with one dead letter, and an operator's retry of that dead letter uploading the kept bytes once.
 * The interrupted upload is test/document-resume.test.ts.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Activities } from '../activities/index.ts';
import type { UploadHeartbeat } from '../activities/documents.ts';
import { CloudinaryDocumentStore, parseCloudinaryUrl } from '../providers/cloudinary.ts';
import { resetCircuits } from '../providers/circuit-breaker.ts';
import { documentWorkflowId } from '../shared/ids.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import type { DeadLetterRetryOutcome } from '../activities/index.ts';
import type { DocumentUploadResult } from '../workflows/document-upload.ts';
import { startFakeProviders, type FakeProviders } from './fakes/provider-server.ts';
import { CARE_WORKLOADS, createCareEnv, type CareEnv } from './helpers/care-env.ts';

const CHUNK = 64 * 1024;
let fake: FakeProviders;
let care: CareEnv;
/** What each attempt of uploadDocument started from. */
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
  const store = new CloudinaryDocumentStore(parseCloudinaryUrl(fake.cloudinary.cloudinaryUrl), {
    timeoutMs: 10_000,
    // The breaker is not under test here: let five failures in a row through.
    breaker: { failures: 100, openMs: 1000 },
  });
  care = await createCareEnv({
    documents: store,
    documentChunkBytes: CHUNK,
    wrap: recordAttempts,
    workloads: [...CARE_WORKLOADS, 'deadLetters'],
  });
}, 120_000);

afterAll(async () => {
  await care?.teardown();
  await fake?.close();
});

beforeEach(() => {
  fake.reset();
  resetCircuits();
  attempts.length = 0;
});

async function createDocument(bytes: Buffer) {
  const circle = await care.db.prisma.careCircle.create({ data: { name: 'Docs family' } });
  const id = randomUUID();
  await care.db.prisma.document.create({
    data: {
      id,
      careCircleId: circle.id,
      filename: 'scan.pdf',
      contentType: 'application/pdf',
      sizeBytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      workflowId: documentWorkflowId(id),
      blob: { create: { data: new Uint8Array(bytes) } },
    },
  });
  return id;
}

const start = (documentId: string) =>
  care.env.client.workflow.start('documentUploadWorkflow', {
    workflowId: documentWorkflowId(documentId),
    taskQueue: TASK_QUEUES.documents,
    args: [{ documentId }],
  });

const pdf = (size: number) => Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(size - 9)]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('documentUploadWorkflow', () => {
  it('uploads in chunks as a private asset, records progress and where it is, and drops the stored bytes', async () => {
    const bytes = pdf(4 * CHUNK + 1000);
    const id = await createDocument(bytes);
    await care.run(async () => {
      const result = (await (await start(id)).result()) as DocumentUploadResult;
      expect(result.status).toBe('uploaded');
      expect(fake.cloudinary.uploads).toHaveLength(1);
      const [asset] = fake.cloudinary.uploads;
      expect(sha(asset!.content)).toBe(sha(bytes));
      expect(asset!.resource.public_id).toMatch(new RegExp(`^carecircle/[0-9a-f-]+/${id}$`));
      expect(fake.cloudinary.requests.map((r) => r.range?.start)).toEqual([0, 1, 2, 3, 4].map((n) => n * CHUNK));
      expect(new Set(fake.cloudinary.requests.map((r) => r.uploadId))).toEqual(new Set([`carecircle-${id}`]));
      const doc = await care.db.prisma.document.findUniqueOrThrow({ where: { id }, include: { blob: true } });
      expect(doc).toMatchObject({
        status: 'uploaded',
        uploadedBytes: bytes.length,
        providerId: `${asset!.resource.resource_type}/${asset!.resource.public_id}`,
        providerFormat: 'pdf',
        deliveryType: 'authenticated',
      });
      expect(asset!.resource.type).toBe('authenticated');
      expect(doc.blob).toBeNull();
    });
  });

  it('after 5 failed attempts the document is failed and a dead letter', async () => {
    const bytes = pdf(CHUNK / 2);
    const id = await createDocument(bytes);
    fake.cloudinary.failNext(503, 5);
    await care.run(async () => {
      const result = (await (await start(id)).result()) as DocumentUploadResult;
      expect(result).toMatchObject({ status: 'failed', errorType: 'TransientDeliveryError' });
    });
    expect(fake.cloudinary.requests).toHaveLength(5);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(fake.cloudinary.uploads).toHaveLength(0);
    expect(await care.db.prisma.document.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: 'failed',
      attempts: 5,
    });
    const deadLetters = await care.db.prisma.deadLetter.findMany({ where: { dedupeKey: `document:${id}` } });
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]).toMatchObject({ kind: 'document_upload', attempts: 5, status: 'open' });
  });

  it('a permanent 4xx is not retried', async () => {
    const id = await createDocument(pdf(1000));
    fake.cloudinary.failNext({ kind: 'status', status: 400, message: 'Invalid image file' });
    await care.run(async () => {
      const result = (await (await start(id)).result()) as DocumentUploadResult;
      expect(result).toMatchObject({ status: 'failed', errorType: 'PermanentDeliveryError' });
    });
    expect(fake.cloudinary.requests).toHaveLength(1);
    expect((await care.db.prisma.document.findUniqueOrThrow({ where: { id } })).error).toMatch(
      /400.*Invalid image file/,
    );
  });
});

describe("an operator's retry of a failed upload", () => {
  /** Fails the upload for good, then retries its dead letter as POST /v1/dead-letters/:id/retry does. */
  async function failThenRetry(bytes: Buffer, failuresDuringRetry: number) {
    const id = await createDocument(bytes);
    fake.cloudinary.failNext(503, 5 + failuresDuringRetry);
    return care.run(async () => {
      await (await start(id)).result();
      const deadLetter = await care.db.prisma.deadLetter.findFirstOrThrow({ where: { dedupeKey: `document:${id}` } });
      await care.db.prisma.deadLetter.update({
        where: { id: deadLetter.id },
        data: { status: 'retrying', retryCount: 1, retryWorkflowId: `dead-letter-retry:${deadLetter.id}:1` },
      });
      const outcome = (await care.env.client.workflow.execute('retryDeadLetterWorkflow', {
        workflowId: `dead-letter-retry:${deadLetter.id}:1`,
        taskQueue: TASK_QUEUES.deadLetters,
        args: [{ deadLetterId: deadLetter.id }],
      })) as DeadLetterRetryOutcome;
      return { id, deadLetterId: deadLetter.id, outcome };
    });
  }

  it('uploads the kept bytes once, on the document queue, and resolves the dead letter', async () => {
    const bytes = pdf(2 * CHUNK + 10);
    const { id, deadLetterId, outcome } = await failThenRetry(bytes, 0);
    expect(outcome).toEqual({ status: 'delivered', detail: 'uploaded' });
    expect(fake.cloudinary.uploads).toHaveLength(1);
    expect(sha(fake.cloudinary.uploads[0]!.content)).toBe(sha(bytes));
    const doc = await care.db.prisma.document.findUniqueOrThrow({ where: { id }, include: { blob: true } });
    expect(doc).toMatchObject({
      status: 'uploaded',
      providerId: `${fake.cloudinary.uploads[0]!.resource.resource_type}/${fake.cloudinary.uploads[0]!.resource.public_id}`,
      error: null,
    });
    expect(doc.blob).toBeNull();
    expect(await care.db.prisma.deadLetter.findMany({ where: { dedupeKey: `document:${id}` } })).toEqual([
      expect.objectContaining({ id: deadLetterId, status: 'retried' }),
    ]);
  });

  it('a retry that fails again leaves one open dead letter with the new error, and the document failed', async () => {
    const { id, deadLetterId, outcome } = await failThenRetry(pdf(CHUNK / 2), 5);
    expect(outcome).toMatchObject({ status: 'failed', errorType: 'TransientDeliveryError' });
    expect(fake.cloudinary.uploads).toHaveLength(0);
    expect(fake.cloudinary.requests).toHaveLength(10);
    expect(await care.db.prisma.document.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'failed' });
    const deadLetters = await care.db.prisma.deadLetter.findMany({ where: { dedupeKey: `document:${id}` } });
    expect(deadLetters).toEqual([expect.objectContaining({ id: deadLetterId, status: 'open', retryCount: 1 })]);
    expect(deadLetters[0]!.error).toMatch(/503/);
  });
});
