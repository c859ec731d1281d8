/**
 * The operator's view of dead letters (deliveries that exhausted their retries or failed for good):
 * list, count, inspect, retry, discard. Operators only (see docs/queues.md).
 *
 * GET  /v1/dead-letters?status=open&kind=&limit=50&cursor=   newest first, cursor pagination
 * GET  /v1/dead-letters/count                                 open (and retrying) counts, for alerting
 * GET  /v1/dead-letters/{id}                                  one, with its notification
 * POST /v1/dead-letters/{id}/retry                            202: a retry workflow re-runs the delivery
 * POST /v1/dead-letters/{id}/discard                          200: closed without delivery
 *
 * Retry and discard act only on an `open` dead letter (409 otherwise), with a conditional update,
 * so two operators clicking at once start one retry. A dose reminder or follow-up whose dose is
 * closed or past its window is not retried (409): it can only be discarded.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { DeadLetter } from '../../shared/db.ts';
import { documentIdOfDeadLetter } from '../../shared/ids.ts';
import { staleDoseReminder } from '../../shared/stale-dose-reminders.ts';
import { TASK_QUEUES } from '../../shared/task-queues.ts';
import { requireOperator } from '../auth.ts';
import type { ApiDeps } from '../deps.ts';
import { line } from '../fields.ts';
import { beyondSchema, createRouter, jsonResponse, problems, uuidParams, type Router } from '../openapi.ts';
import { pageQuery, pageSchema, pageWindow } from '../pagination.ts';
import { notFound, ProblemError, unavailable } from '../problem.ts';
import { channel } from '../schemas.ts';
import { isUuid } from '../validation.ts';

const STATUSES = ['open', 'retrying', 'retried', 'discarded'] as const;
const deadLetterStatus = z.enum(STATUSES);

const listQuery = z.object({
  status: deadLetterStatus
    .optional()
    .openapi({ param: { name: 'status', in: 'query' }, description: 'Only dead letters in this state' }),
  kind: line(100)
    .optional()
    .openapi({ param: { name: 'kind', in: 'query' }, description: 'Only this kind, e.g. dose_reminder' }),
  ...pageQuery,
});

const idParams = uuidParams('id');

const DeadLetterSchema = z
  .object({
    id: z.uuid(),
    kind: z.string().openapi({ description: 'What failed: dose_reminder, document_upload, …' }),
    status: deadLetterStatus,
    dedupeKey: z.string().nullable(),
    recipientId: z.uuid().nullable(),
    channel: channel.nullable(),
    error: z.string(),
    errorType: z.string().nullable(),
    attempts: z.number().int(),
    workflowId: z.string(),
    runId: z.string(),
    retryCount: z.number().int(),
    lastRetriedAt: z.iso.datetime().nullable(),
    retryWorkflowId: z.string().nullable(),
    createdAt: z.iso.datetime(),
    resolvedAt: z.iso.datetime().nullable(),
  })
  .openapi('DeadLetter');

const DeadLetterDetailSchema = DeadLetterSchema.extend({
  payload: z.unknown().openapi({ description: 'What the failed delivery was asked to do' }),
  notification: z
    .object({
      id: z.uuid(),
      kind: z.string(),
      channel,
      status: z.string(),
      title: z.string(),
      body: z.string(),
      attempts: z.number().int(),
      error: z.string().nullable(),
      sentAt: z.iso.datetime().nullable(),
    })
    .nullable()
    .openapi({ description: 'The notification it was delivering, if any' }),
}).openapi('DeadLetterDetail');

const DeadLetterCountSchema = z
  .object({
    open: z.number().int(),
    retrying: z.number().int(),
    openByKind: z.record(z.string(), z.number().int()),
  })
  .openapi('DeadLetterCount');

const RetryStartedSchema = z
  .object({ id: z.uuid(), status: z.literal('retrying'), workflowId: z.string() })
  .openapi('DeadLetterRetryStarted');

const tags = ['Dead letters'];

const listRoute = createRoute({
  method: 'get',
  path: '/',
  tags,
  summary: 'Dead letters, newest first (operators)',
  middleware: [requireOperator],
  request: { query: listQuery },
  responses: {
    200: jsonResponse(pageSchema(DeadLetterSchema, 'DeadLetterPage'), 'A page of dead letters'),
    ...problems(400, 403),
  },
});

const countRoute = createRoute({
  method: 'get',
  path: '/count',
  tags,
  summary: 'Open and retrying dead letters, for alerting (operators)',
  middleware: [requireOperator],
  responses: { 200: jsonResponse(DeadLetterCountSchema, 'The counts'), ...problems(403) },
});

const getRoute = createRoute({
  method: 'get',
  path: '/{id}',
  tags,
  summary: 'A dead letter and the notification it was delivering (operators)',
  middleware: [requireOperator],
  request: { params: idParams },
  responses: { 200: jsonResponse(DeadLetterDetailSchema, 'The dead letter'), ...problems(403, 404) },
});

const retryRoute = createRoute({
  method: 'post',
  path: '/{id}/retry',
  tags,
  summary: 'Re-run what failed: the notification delivery, or the document upload from its kept bytes (operators)',
  middleware: [requireOperator],
  request: { params: idParams },
  responses: {
    202: jsonResponse(RetryStartedSchema, 'A retry workflow was started'),
    ...problems(403, 404, 409, beyondSchema(422, 'the dead letter names a notification or document to re-run')),
  },
});

const discardRoute = createRoute({
  method: 'post',
  path: '/{id}/discard',
  tags,
  summary: 'Close an open dead letter without delivering it (operators)',
  middleware: [requireOperator],
  request: { params: idParams },
  responses: { 200: jsonResponse(DeadLetterSchema, 'The discarded dead letter'), ...problems(403, 404, 409) },
});

function present(d: DeadLetter) {
  return {
    id: d.id,
    kind: d.kind,
    status: d.status,
    dedupeKey: d.dedupeKey,
    recipientId: d.recipientId,
    channel: d.channel,
    error: d.error,
    errorType: d.errorType,
    attempts: d.attempts,
    workflowId: d.workflowId,
    runId: d.runId,
    retryCount: d.retryCount,
    lastRetriedAt: d.lastRetriedAt?.toISOString() ?? null,
    retryWorkflowId: d.retryWorkflowId,
    createdAt: d.createdAt.toISOString(),
    resolvedAt: d.resolvedAt?.toISOString() ?? null,
  };
}

const conflict = (d: DeadLetter, action: string) =>
  new ProblemError(
    409,
    'conflict',
    'Conflict',
    `Dead letter ${d.id} is ${d.status}; only an open one can be ${action}`,
  );

export function deadLetterRoutes({ prisma, temporal }: ApiDeps): Router {
  const app = createRouter();

  app.openapi(listRoute, async (c) => {
    const q = c.req.valid('query');
    const paging = pageWindow('createdAt', 'desc', q);
    const rows = await prisma.deadLetter.findMany({
      where: {
        ...(q.status ? { status: q.status } : {}),
        ...(q.kind ? { kind: q.kind } : {}),
        ...paging.where,
      },
      orderBy: paging.orderBy,
      take: paging.take,
    });
    const page = paging.page(rows);
    return c.json({ items: page.items.map(present), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(countRoute, async (c) => {
    const groups = await prisma.deadLetter.groupBy({
      by: ['status', 'kind'],
      where: { status: { in: ['open', 'retrying'] } },
      _count: { _all: true },
    });
    const byKind: Record<string, number> = {};
    let open = 0;
    let retrying = 0;
    for (const g of groups) {
      if (g.status === 'open') {
        open += g._count._all;
        byKind[g.kind] = (byKind[g.kind] ?? 0) + g._count._all;
      } else {
        retrying += g._count._all;
      }
    }
    return c.json({ open, retrying, openByKind: byKind }, 200);
  });

  async function load(id: string): Promise<DeadLetter> {
    const row = isUuid(id) ? await prisma.deadLetter.findUnique({ where: { id } }) : null;
    if (!row) throw notFound('Dead letter', id);
    return row;
  }

  app.openapi(getRoute, async (c) => {
    const row = await load(c.req.valid('param').id);
    const notification = row.dedupeKey
      ? await prisma.notificationLog.findUnique({ where: { dedupeKey: row.dedupeKey } })
      : null;
    return c.json(
      {
        ...present(row),
        payload: row.payload,
        notification: notification && {
          id: notification.id,
          kind: notification.kind,
          channel: notification.channel,
          status: notification.status,
          title: notification.title,
          body: notification.body,
          attempts: notification.attempts,
          error: notification.error,
          sentAt: notification.sentAt?.toISOString() ?? null,
        },
      },
      200,
    );
  });

  app.openapi(retryRoute, async (c) => {
    const row = await load(c.req.valid('param').id);
    // Retry re-runs a notification delivery, or uploads a failed document again from its kept bytes.
    const documentId = documentIdOfDeadLetter(row);
    const retryable = documentId
      ? await prisma.document.findUnique({ where: { id: documentId }, select: { id: true } })
      : row.dedupeKey
        ? await prisma.notificationLog.findUnique({ where: { dedupeKey: row.dedupeKey }, select: { id: true } })
        : null;
    if (!retryable) {
      throw new ProblemError(
        422,
        'not-retryable',
        'Not retryable here',
        `Dead letter ${row.id} (${row.kind}) names no notification or document to re-run; discard it`,
      );
    }
    const log =
      documentId || !row.dedupeKey
        ? null
        : await prisma.notificationLog.findUnique({ where: { dedupeKey: row.dedupeKey } });
    const stale = log ? await staleDoseReminder(prisma, log) : null;
    if (stale) {
      throw new ProblemError(
        409,
        'dose-reminder-stale',
        'Reminder no longer valid',
        `Dead letter ${row.id} is a ${log!.kind} for a dose that may no longer be reminded: ${stale}. Discard it`,
      );
    }
    const workflowId = `dead-letter-retry:${row.id}:${row.retryCount + 1}`;
    const claimed = await prisma.deadLetter.updateMany({
      where: { id: row.id, status: 'open', retryCount: row.retryCount },
      data: {
        status: 'retrying',
        retryCount: { increment: 1 },
        lastRetriedAt: new Date(),
        retryWorkflowId: workflowId,
      },
    });
    if (claimed.count === 0) throw conflict(await load(row.id), 'retried');
    try {
      await temporal.workflow.start('retryDeadLetterWorkflow', {
        workflowId,
        taskQueue: TASK_QUEUES.deadLetters,
        args: [{ deadLetterId: row.id }],
      });
    } catch (err) {
      // Not started: the dead letter is open again, as if nothing had happened.
      await prisma.deadLetter.updateMany({
        where: { id: row.id, status: 'retrying', retryWorkflowId: workflowId },
        data: { status: 'open', retryCount: row.retryCount, retryWorkflowId: row.retryWorkflowId },
      });
      throw unavailable('Could not start the retry (Temporal did not answer); the dead letter is still open', err);
    }
    return c.json({ id: row.id, status: 'retrying' as const, workflowId }, 202);
  });

  app.openapi(discardRoute, async (c) => {
    const row = await load(c.req.valid('param').id);
    const discarded = await prisma.deadLetter.updateMany({
      where: { id: row.id, status: 'open' },
      data: { status: 'discarded', resolvedAt: new Date() },
    });
    if (discarded.count === 0) throw conflict(await load(row.id), 'discarded');
    return c.json(present(await load(row.id)), 200);
  });

  return app;
}
