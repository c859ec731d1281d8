/**
 * Uploading a document: the replaced design's "job with progress". The bytes wait in document_blobs (written
 * by the API before it answered); `uploadDocument` sends them chunk by chunk, heartbeating
 * `{uploadId, offset}` after each acknowledged chunk and recording the progress on the row. A retry
 * (after a worker crash, a shutdown or a provider failure) reads the last heartbeat and goes on
 * from that offset with the same upload id, so the provider assembles one file and the chunks
 * already acknowledged are not sent again.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DocumentStore, StoredFile } from '../providers/documents.ts';
import { DOCUMENT_DEAD_LETTER_KIND, documentDeadLetterKey } from '../shared/ids.ts';
import type { PrismaClient } from '../shared/db.ts';
import { VALIDATION_ERROR } from '../shared/retry-policies.ts';
import { toActivityFailure } from './retry.ts';

export interface UploadHeartbeat {
  uploadId: string;
  /** Bytes acknowledged by the provider. */
  offset: number;
  /** Set once the provider has the whole file (a crash before recording it loses nothing). */
  result?: StoredFile;
}

export interface UploadResult {
  /** The store's id for the file (no URL: documents are private). */
  providerId: string;
  /** Where this attempt started (0, or the offset of the last heartbeat). */
  resumedFrom: number;
  chunksSent: number;
}

/** One upload id per document: every attempt continues the same upload at the provider. */
export const documentUploadId = (documentId: string): string => `carecircle-${documentId}`;
/** Documents land in a folder per care circle. */
export const documentPublicId = (careCircleId: string, documentId: string): string =>
  `carecircle/${careCircleId}/${documentId}`;

/** How often a chunk in flight heartbeats (so a slow chunk is not taken for a dead worker). */
const HEARTBEAT_EVERY_MS = 10_000;

export function createDocumentActivities(deps: { prisma: PrismaClient; store: DocumentStore; chunkBytes: number }) {
  const { prisma, store, chunkBytes } = deps;

  async function readChunk(documentId: string, offset: number, length: number): Promise<Buffer> {
    const rows = await prisma.$queryRaw<{ chunk: Uint8Array | null }[]>`
      SELECT substring(data FROM ${offset + 1}::int FOR ${length}::int) AS chunk
      FROM document_blobs WHERE document_id = ${documentId}::uuid`;
    const chunk = rows[0]?.chunk;
    if (!chunk) throw ApplicationFailure.nonRetryable(`The bytes of document ${documentId} are gone`, VALIDATION_ERROR);
    return Buffer.from(chunk);
  }

  async function upload(documentId: string): Promise<UploadResult> {
    const ctx = Context.current();
    const doc = await prisma.document.findUnique({ where: { id: documentId } });
    if (!doc) throw ApplicationFailure.nonRetryable(`No document ${documentId}`, VALIDATION_ERROR);
    if (doc.status === 'uploaded' && doc.providerId) {
      return { providerId: doc.providerId, resumedFrom: doc.sizeBytes, chunksSent: 0 };
    }

    // Heartbeats reach the server throttled (and a crashed worker's last one may never arrive);
    // the row records every acknowledged chunk, so the further of the two is where to go on.
    const previous = ctx.info.heartbeatDetails as UploadHeartbeat | undefined;
    const progress: UploadHeartbeat = {
      uploadId: previous?.uploadId ?? documentUploadId(doc.id),
      offset: Math.max(previous?.offset ?? 0, doc.uploadedBytes),
      ...(previous?.result ? { result: previous.result } : {}),
    };
    const resumedFrom = progress.offset;
    ctx.heartbeat(progress);
    await prisma.document.update({
      where: { id: doc.id },
      data: { status: 'uploading', attempts: ctx.info.attempt, uploadedBytes: progress.offset },
    });

    const target = {
      uploadId: progress.uploadId,
      publicId: documentPublicId(doc.careCircleId, doc.id),
      filename: doc.filename,
      contentType: doc.contentType,
      totalBytes: doc.sizeBytes,
    };
    let chunksSent = 0;
    const keepAlive = setInterval(() => ctx.heartbeat(progress), HEARTBEAT_EVERY_MS);
    try {
      while (!progress.result) {
        if (progress.offset >= doc.sizeBytes) {
          // Every byte acknowledged but no resource: start this upload over on the next attempt.
          ctx.heartbeat({ uploadId: progress.uploadId, offset: 0 });
          await prisma.document.update({ where: { id: doc.id }, data: { uploadedBytes: 0 } });
          throw new Error('The provider acknowledged every chunk but did not complete the file');
        }
        const chunk = await readChunk(doc.id, progress.offset, Math.min(chunkBytes, doc.sizeBytes - progress.offset));
        // A cancelled activity (worker shutdown, workflow cancelled) stops between or during chunks.
        const sending = store.uploadChunk(target, progress.offset, chunk);
        sending.catch(() => undefined); // abandoned on cancellation: its late failure is nobody's
        const answer = await Promise.race([sending, ctx.cancelled]);
        chunksSent++;
        progress.offset += chunk.length;
        if (answer.done) {
          const { providerId, format, deliveryType } = answer;
          progress.result = { providerId, format: format ?? null, deliveryType: deliveryType ?? null };
        }
        ctx.heartbeat(progress);
        await prisma.document.update({ where: { id: doc.id }, data: { uploadedBytes: progress.offset } });
      }
    } finally {
      clearInterval(keepAlive);
    }

    const { providerId, format, deliveryType } = progress.result;
    // Uploaded: the provider keeps the file from now on, so the database stops holding its bytes.
    await prisma.$transaction([
      prisma.document.update({
        where: { id: doc.id },
        data: {
          status: 'uploaded',
          provider: store.name,
          providerId,
          providerFormat: format ?? null,
          deliveryType: deliveryType ?? null,
          uploadedBytes: doc.sizeBytes,
          uploadedAt: new Date(),
          error: null,
        },
      }),
      prisma.documentBlob.deleteMany({ where: { documentId: doc.id } }),
    ]);
    return { providerId, resumedFrom, chunksSent };
  }

  return {
    async uploadDocument({ documentId }: { documentId: string }): Promise<UploadResult> {
      try {
        return await upload(documentId);
      } catch (err) {
        const signal = Context.current().cancellationSignal;
        if (signal.aborted) {
          // The worker is going away, which says nothing about the provider: another worker picks
          // the upload up in seconds (from the last heartbeat) rather than after the backoff.
          if ((signal.reason as Error | undefined)?.message === 'WORKER_SHUTDOWN') {
            throw ApplicationFailure.create({
              message: 'The worker shut down during the upload; another worker resumes it',
              type: 'WorkerShutdown',
              nextRetryDelay: 1000 + Math.round(Math.random() * 2000),
            });
          }
          throw err;
        }
        await prisma.document
          .update({ where: { id: documentId }, data: { error: (err as Error).message } })
          .catch(() => undefined);
        throw toActivityFailure(err);
      }
    },

    /**
     * The upload failed for good (5 attempts, or a permanent error): mark the document failed and
     * keep a dead letter (kind `document_upload`, one open per document) for an operator.
     */
    async failDocumentUpload(input: { documentId: string; error: string; errorType: string | null }): Promise<void> {
      const { workflowId, runId } = Context.current().info.workflowExecution ?? {
        workflowId: 'unknown',
        runId: 'unknown',
      };
      const dedupeKey = documentDeadLetterKey(input.documentId);
      const doc = await prisma.document.findUnique({ where: { id: input.documentId } });
      await prisma.$transaction([
        prisma.document.updateMany({
          where: { id: input.documentId, status: { not: 'uploaded' } },
          data: { status: 'failed', error: input.error },
        }),
        prisma.deadLetter.deleteMany({ where: { dedupeKey, status: 'open' } }),
        prisma.deadLetter.create({
          data: {
            kind: DOCUMENT_DEAD_LETTER_KIND,
            dedupeKey,
            payload: { documentId: input.documentId, uploadedBytes: doc?.uploadedBytes ?? 0 },
            error: input.error,
            errorType: input.errorType,
            attempts: doc?.attempts ?? 0,
            workflowId,
            runId,
          },
        }),
      ]);
    },
  };
}
