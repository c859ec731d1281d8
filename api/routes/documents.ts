/**
 * Documents: POST takes a multipart upload (`file`, `careCircleId`), checks its size and what it
 * really is (by its bytes, not its name), stores the bytes in PostgreSQL (document_blobs) and
 * starts workflow `document:<id>`, answering 202 at once; GET shows the upload's progress and, once
 * uploaded, its URL.
 *
 * Why PostgreSQL for the bytes: the API must answer before the upload, so the file has to be
 * durable first, survive a restart, and be readable by a worker on another machine; the database
 * already is all three, while a local folder is none of the last. The blob is deleted once the
 * provider has the file.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { fileTypeFromBuffer } from 'file-type';
import { config } from '../../shared/config.ts';
import type { Document } from '../../shared/db.ts';
import { documentWorkflowId } from '../../shared/ids.ts';
import { CareCircleId } from '../../shared/search-attributes.ts';
import { PRIORITY, TASK_QUEUES } from '../../shared/task-queues.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, ProblemError, problemResponse, unavailable, validationFailed } from '../problem.ts';
import { isUuid } from '../validation.ts';
import { startWorkflow } from '../workflow-calls.ts';

/** Room for the multipart envelope and the other fields around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

function present(d: Document) {
  return {
    id: d.id,
    careCircleId: d.careCircleId,
    filename: d.filename,
    contentType: d.contentType,
    sizeBytes: d.sizeBytes,
    sha256: d.sha256,
    status: d.status,
    progress: d.sizeBytes > 0 ? Math.round((d.uploadedBytes / d.sizeBytes) * 1000) / 1000 : 0,
    ...(d.url ? { url: d.url } : {}),
    ...(d.error && d.status !== 'uploaded' ? { error: d.error } : {}),
    attempts: d.attempts,
    workflowId: d.workflowId,
    createdAt: d.createdAt.toISOString(),
    uploadedAt: d.uploadedAt?.toISOString() ?? null,
  };
}

/** The content type of the bytes: sniffed for binary formats; text/plain only for valid UTF-8 text. */
async function detectType(bytes: Uint8Array, declared: string): Promise<string | null> {
  const sniffed = await fileTypeFromBuffer(bytes);
  if (sniffed) return sniffed.mime;
  if (declared.split(';')[0]!.trim().toLowerCase() !== 'text/plain' || bytes.includes(0)) return null;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return 'text/plain';
  } catch {
    return null;
  }
}

/** Keeps a file name printable and short (it ends up in URLs and headers). */
function cleanFilename(name: string): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = name.replace(/[\u0000-\u001f\u007f/\\]+/g, '_').trim();
  return (cleaned || 'document').slice(0, 200);
}

export function documentRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();
  const cfg = config();
  const tooLarge = () =>
    new ProblemError(
      413,
      'payload-too-large',
      'Payload too large',
      `Documents are limited to ${cfg.DOCUMENT_MAX_BYTES} bytes`,
    );

  app.post(
    '/',
    bodyLimit({
      maxSize: cfg.DOCUMENT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES,
      onError: (c) => problemResponse(c, tooLarge()),
    }),
    async (c) => {
      if (!/^multipart\/form-data\b/i.test(c.req.header('content-type') ?? '')) {
        throw new ProblemError(
          415,
          'unsupported-media-type',
          'Unsupported media type',
          'Send the document as multipart/form-data with the fields file and careCircleId',
        );
      }
      let form: Record<string, string | File | (string | File)[]>;
      try {
        form = await c.req.parseBody({ all: true });
      } catch (err) {
        if (err instanceof ProblemError) throw err;
        throw new ProblemError(400, 'malformed-body', 'Malformed body', 'The multipart body could not be read');
      }
      const file = form.file;
      const careCircleId = form.careCircleId;
      const errors = [];
      if (!(file instanceof File)) errors.push({ path: 'file', message: 'is required (one file)' });
      else if (file.size === 0) errors.push({ path: 'file', message: 'must not be empty' });
      if (typeof careCircleId !== 'string' || !isUuid(careCircleId)) {
        errors.push({ path: 'careCircleId', message: 'must be a UUID' });
      }
      if (errors.length > 0 || !(file instanceof File) || typeof careCircleId !== 'string')
        throw validationFailed(errors);
      if (file.size > cfg.DOCUMENT_MAX_BYTES) throw tooLarge();

      const bytes = new Uint8Array(await file.arrayBuffer());
      const contentType = await detectType(bytes, file.type);
      if (!contentType || !cfg.DOCUMENT_ALLOWED_TYPES.includes(contentType)) {
        throw new ProblemError(
          415,
          'unsupported-document-type',
          'Unsupported document type',
          `The file is ${contentType ?? 'of an unknown type'}; accepted: ${cfg.DOCUMENT_ALLOWED_TYPES.join(', ')}`,
        );
      }
      const circle = await prisma.careCircle.findUnique({ where: { id: careCircleId } });
      if (!circle) throw notFound('Care circle', careCircleId);

      const id = randomUUID();
      const workflowId = documentWorkflowId(id);
      // The bytes are durable (one transaction with the row) before the answer goes out.
      await prisma.document.create({
        data: {
          id,
          careCircleId: circle.id,
          filename: cleanFilename(file.name),
          contentType,
          sizeBytes: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          workflowId,
          blob: { create: { data: bytes } },
        },
      });
      try {
        await startWorkflow(temporal, {
          workflowId,
          workflowType: 'documentUploadWorkflow',
          taskQueue: TASK_QUEUES.documents,
          args: [{ documentId: id }],
          typedSearchAttributes: [{ key: CareCircleId, value: circle.id }],
          priority: { priorityKey: PRIORITY.low },
        });
      } catch (err) {
        await prisma.document.delete({ where: { id } });
        throw unavailable(`Could not start the upload workflow: ${(err as Error).message}`);
      }
      return c.json({ id, workflowId, status: 'pending' }, 202);
    },
  );

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    const document = isUuid(id) ? await prisma.document.findUnique({ where: { id } }) : null;
    if (!document) throw notFound('Document', id);
    return c.json(present(document));
  });

  return app;
}
