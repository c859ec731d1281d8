/**
 * Documents: POST takes a multipart upload (`file`, `careCircleId`), checks its size and what it
 * really is (by its bytes, not its name), stores the bytes in PostgreSQL (document_blobs) and
 * starts workflow `document:<id>`, answering 202 at once; GET shows the upload's progress, and GET
 * …/content hands the file itself to a member of the circle.
 *
 * Health documents are private: no URL of the file is stored or handed out, at any store. The API
 * reads the file back from the store (Cloudinary: through a signed download URL that expires within
 * a minute) only after checking that the caller may see it, and streams it, uncached.
 *
 * Why PostgreSQL for the bytes: the API must answer before the upload, so the file has to be
 * durable first, survive a restart, and be readable by a worker on another machine; the database
 * already is all three, while a local folder is none of the last. The blob is deleted once the
 * provider has the file.
 *
 * Caregivers and family upload to their circle; every member sees its documents. The route is
 * mounted before the API's JSON body limit: it takes multipart bodies up to DOCUMENT_MAX_BYTES.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { fileTypeFromBuffer } from 'file-type';
import { createDocumentStore, type DocumentStore } from '../../providers/documents.ts';
import { config } from '../../shared/config.ts';
import type { Document } from '../../shared/db.ts';
import { documentWorkflowId } from '../../shared/ids.ts';
import { CareCircleId } from '../../shared/search-attributes.ts';
import { PRIORITY, TASK_QUEUES } from '../../shared/task-queues.ts';
import type { documentUploadWorkflow } from '../../workflows/document-upload.ts';
import { authorize } from '../access.ts';
import { idempotency } from '../idempotency.ts';
import type { ApiDeps } from '../deps.ts';
import { beyondSchema, createRouter, jsonResponse, problems, uuidParams, type Router } from '../openapi.ts';
import { notFound, ProblemError, problemResponse, unavailable, validationFailed, type FieldError } from '../problem.ts';
import { isUuid } from '../validation.ts';
import { startWorkflow } from '../workflow-calls.ts';

/** Room for the multipart envelope and the other fields around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

const DocumentSchema = z
  .object({
    id: z.uuid(),
    careCircleId: z.uuid(),
    filename: z.string(),
    contentType: z.string().openapi({ description: 'What the bytes are (not what the upload declared)' }),
    sizeBytes: z.number().int(),
    sha256: z.string(),
    status: z.enum(['pending', 'uploading', 'uploaded', 'failed']),
    progress: z.number().min(0).max(1).openapi({ description: 'Share of the bytes the store has acknowledged' }),
    error: z.string().optional().openapi({ description: 'Why the last attempt failed, until it is uploaded' }),
    attempts: z.number().int(),
    workflowId: z.string(),
    createdAt: z.iso.datetime(),
    uploadedAt: z.iso.datetime().nullable(),
  })
  .openapi('Document');

const AcceptedDocumentSchema = z
  .object({ id: z.uuid(), workflowId: z.string(), status: z.literal('pending') })
  .openapi('AcceptedDocument');

const tags = ['Documents'];

/**
 * The body is multipart, read by the handler itself (its own size limit and messages), so the
 * spec describes it with a plain JSON Schema: a zod schema here would make the router parse it.
 */
const uploadBody = {
  required: true,
  description:
    'The file (at most DOCUMENT_MAX_BYTES, default 20 MiB) and the care circle it belongs to. What the ' +
    'bytes are decides the type, not the declared one: DOCUMENT_ALLOWED_TYPES, by default PDF, JPEG, ' +
    'PNG, WebP, HEIC and UTF-8 plain text.',
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object' as const,
        properties: {
          careCircleId: { type: 'string' as const, format: 'uuid' },
          file: { type: 'string' as const, contentMediaType: 'application/octet-stream', minLength: 1 },
        },
        required: ['careCircleId', 'file'],
      },
    },
  },
};

const getDocument = createRoute({
  method: 'get',
  path: '/{id}',
  tags,
  summary: "A document: its upload's progress (the file itself: GET /v1/documents/{id}/content)",
  request: { params: uuidParams('id') },
  responses: { 200: jsonResponse(DocumentSchema, 'The document'), ...problems(404) },
});

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

/** Content-Disposition for a stored name: an ASCII fallback and the exact name (RFC 6266, RFC 8187). */
function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

export function documentRoutes({ prisma, temporal, documentStore }: ApiDeps): Router {
  const app = createRouter();
  const cfg = config();
  let store: DocumentStore | undefined = documentStore;

  const getContent = createRoute({
    method: 'get',
    path: '/{id}/content',
    tags,
    summary: 'The file of an uploaded document, for members of its circle (never cached, never a public URL)',
    request: { params: uuidParams('id') },
    responses: {
      200: {
        description: 'The bytes, as the type the upload was found to be',
        content: Object.fromEntries(
          cfg.DOCUMENT_ALLOWED_TYPES.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
        ),
      },
      ...problems(404, 409),
    },
  });
  const tooLarge = () =>
    new ProblemError(
      413,
      'payload-too-large',
      'Payload too large',
      `Documents are limited to ${cfg.DOCUMENT_MAX_BYTES} bytes`,
    );

  const uploadDocument = createRoute({
    method: 'post',
    path: '/',
    tags,
    summary: 'Upload a document to a care circle (caregivers, family); the store gets it in the background',
    middleware: [
      bodyLimit({
        maxSize: cfg.DOCUMENT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES,
        onError: (c) => problemResponse(c, tooLarge()),
      }),
      // Here rather than the API-wide one (mounted after this route): after this route's body limit.
      idempotency(prisma),
    ],
    request: { body: uploadBody },
    responses: {
      202: jsonResponse(AcceptedDocumentSchema, 'Stored; its upload workflow is running'),
      ...problems(
        400,
        403,
        404,
        409,
        413,
        beyondSchema(
          415,
          'file: its bytes are of a type in DOCUMENT_ALLOWED_TYPES (PDF, JPEG, PNG, WebP, HEIC, UTF-8 text by default)',
        ),
        422,
      ),
    },
  });

  app.openapi(uploadDocument, async (c) => {
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
    const errors: FieldError[] = [];
    if (!(file instanceof File)) errors.push({ path: 'file', message: 'is required (one file)' });
    else if (file.size === 0) errors.push({ path: 'file', message: 'must not be empty' });
    if (typeof careCircleId !== 'string' || !isUuid(careCircleId)) {
      errors.push({ path: 'careCircleId', message: 'must be a UUID' });
    }
    if (errors.length > 0 || !(file instanceof File) || typeof careCircleId !== 'string')
      throw validationFailed(errors);
    if (file.size > cfg.DOCUMENT_MAX_BYTES) throw tooLarge();
    // Before the content is sniffed: a non-member learns nothing about the circle, not even "wrong type".
    await authorize(c, prisma, careCircleId, 'uploadDocuments');

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
    const id = randomUUID();
    const workflowId = documentWorkflowId(id);
    // The bytes are durable (one transaction with the row) before the answer goes out.
    await prisma.document.create({
      data: {
        id,
        careCircleId,
        filename: cleanFilename(file.name),
        contentType,
        sizeBytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        workflowId,
        blob: { create: { data: bytes } },
      },
    });
    try {
      await startWorkflow<typeof documentUploadWorkflow>(temporal, {
        id,
        workflowType: 'documentUploadWorkflow',
        options: {
          workflowId,
          taskQueue: TASK_QUEUES.documents,
          args: [{ documentId: id }],
          typedSearchAttributes: [{ key: CareCircleId, value: careCircleId }],
          priority: { priorityKey: PRIORITY.low },
        },
      });
    } catch (err) {
      await prisma.document.delete({ where: { id } });
      throw unavailable('Could not start the upload workflow; nothing was stored, retry shortly', err);
    }
    return c.json({ id, workflowId, status: 'pending' as const }, 202);
  });

  app.openapi(getDocument, async (c) => {
    const { id } = c.req.valid('param');
    const document = isUuid(id) ? await prisma.document.findUnique({ where: { id } }) : null;
    if (!document) throw notFound('Document', id);
    await authorize(c, prisma, document.careCircleId, 'view', { kind: 'Document', id });
    return c.json(present(document), 200);
  });

  app.openapi(getContent, async (c) => {
    const { id } = c.req.valid('param');
    const document = isUuid(id) ? await prisma.document.findUnique({ where: { id } }) : null;
    if (!document) throw notFound('Document', id);
    await authorize(c, prisma, document.careCircleId, 'view', { kind: 'Document', id });
    if (document.status !== 'uploaded' || !document.providerId) {
      throw new ProblemError(
        409,
        'document-not-uploaded',
        'Document not uploaded',
        `The document is ${document.status}; its file can be read once it is uploaded`,
      );
    }
    store ??= createDocumentStore(cfg);
    if (document.provider !== store.name) {
      throw unavailable(`The document is kept by ${document.provider}, which this API is not configured for`);
    }
    let content: Awaited<ReturnType<DocumentStore['read']>>;
    try {
      content = await store.read({
        providerId: document.providerId,
        format: document.providerFormat,
        deliveryType: document.deliveryType,
      });
    } catch (err) {
      throw unavailable('The document store is unreachable; retry shortly', err);
    }
    if (!content) throw notFound('Document file', id);
    return c.body(content.body, 200, {
      'Content-Type': document.contentType,
      'Content-Disposition': attachment(document.filename),
      ...(content.bytes !== undefined ? { 'Content-Length': String(content.bytes) } : {}),
      // Health data: not kept by browsers or proxies, and not reinterpreted as another type.
      'Cache-Control': 'private, no-store',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  return app;
}
