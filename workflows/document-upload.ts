/**
 * One workflow per uploaded document, id `document:<documentId>`: runs `uploadDocument` (which
 * heartbeats its progress and resumes from the last heartbeat on every retry) under the replaced design's
 * document policy, 5 attempts with exponential backoff. When the upload fails for good the document
 * is marked failed and a dead letter is recorded; the workflow itself completes normally.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import { RETRY_POLICIES, START_TO_CLOSE } from '../shared/retry-policies.ts';

export interface DocumentUploadInput {
  documentId: string;
  /** How soon a worker that died mid-upload is noticed (default 2 minutes; tests use seconds). */
  heartbeatTimeoutMs?: number;
}

export type DocumentUploadResult =
  { status: 'uploaded'; providerId: string } | { status: 'failed'; error: string; errorType: string | null };

/** How soon a worker that died mid-upload is noticed, unless the input says otherwise. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 2 * 60_000;

const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: START_TO_CLOSE.bookkeeping,
  retry: RETRY_POLICIES.bookkeeping,
});

export async function documentUploadWorkflow(input: DocumentUploadInput): Promise<DocumentUploadResult> {
  const upload = proxyActivities<Activities>({
    startToCloseTimeout: START_TO_CLOSE.document,
    // A worker that dies mid-upload is noticed this soon; the retry resumes from its last heartbeat.
    heartbeatTimeout: input.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS,
    retry: RETRY_POLICIES.document,
  });
  try {
    const { providerId } = await upload.uploadDocument({ documentId: input.documentId });
    return { status: 'uploaded', providerId };
  } catch (err) {
    if (!(err instanceof ActivityFailure) || isCancellation(err)) throw err;
    const error = err.cause?.message ?? err.message;
    const errorType = err.cause instanceof ApplicationFailure ? (err.cause.type ?? null) : null;
    await bookkeeping.failDocumentUpload({ documentId: input.documentId, error, errorType });
    return { status: 'failed', error, errorType };
  }
}
