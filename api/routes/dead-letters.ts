/**
 * The operator's view of dead letters (deliveries that exhausted their retries or failed for good):
 * list, count, inspect, retry, discard. Operator-only (see docs/queues.md).
 *
 * GET  /v1/dead-letters?status=open&kind=&limit=50&cursor=   newest first, cursor pagination
 * GET  /v1/dead-letters/count                                 open (and retrying) counts, for alerting
 * GET  /v1/dead-letters/:id                                   one, with its notification
 * POST /v1/dead-letters/:id/retry                             202: a retry workflow re-runs the delivery
 * POST /v1/dead-letters/:id/discard                           200: closed without delivery
 *
 * Retry and discard act only on an `open` dead letter (409 otherwise), with a conditional update,
 * so two operators clicking at once start one retry.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { DeadLetter } from '../../shared/db.ts';
import { TASK_QUEUES } from '../../shared/task-queues.ts';
import type { ApiDeps } from '../deps.ts';
import { notFound, ProblemError, unavailable, validationFailed } from '../problem.ts';
import { isUuid, readQuery } from '../validation.ts';

const STATUSES = ['open', 'retrying', 'retried', 'discarded'] as const;

const listQuery = z.object({
  status: z.enum(STATUSES).optional(),
  kind: z.string().trim().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/** Opaque to clients: the last item's creation time and id (the sort key, newest first). */
function encodeCursor(row: Pick<DeadLetter, 'createdAt' | 'id'>): string {
  return Buffer.from(`${row.createdAt.toISOString()}|${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !isUuid(id) || Number.isNaN(createdAt.getTime())) {
    throw validationFailed([{ path: 'query.cursor', message: 'is not a cursor this API returned' }]);
  }
  return { createdAt, id };
}

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

export function deadLetterRoutes({ prisma, temporal }: ApiDeps): Hono {
  const app = new Hono();

  app.get('/', async (c) => {
    const q = readQuery(c, listQuery);
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    const rows = await prisma.deadLetter.findMany({
      where: {
        ...(q.status ? { status: q.status } : {}),
        ...(q.kind ? { kind: q.kind } : {}),
        ...(after
          ? {
              OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }],
            }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    return c.json({
      items: page.map(present),
      nextCursor: rows.length > q.limit ? encodeCursor(page[page.length - 1]!) : null,
    });
  });

  app.get('/count', async (c) => {
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
    return c.json({ open, retrying, openByKind: byKind });
  });

  async function load(id: string): Promise<DeadLetter> {
    const row = isUuid(id) ? await prisma.deadLetter.findUnique({ where: { id } }) : null;
    if (!row) throw notFound('Dead letter', id);
    return row;
  }

  app.get('/:id', async (c) => {
    const row = await load(c.req.param('id'));
    const notification = row.dedupeKey
      ? await prisma.notificationLog.findUnique({ where: { dedupeKey: row.dedupeKey } })
      : null;
    return c.json({
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
    });
  });

  app.post('/:id/retry', async (c) => {
    const row = await load(c.req.param('id'));
    // Retry re-runs a notification delivery; other kinds (a document upload) are re-run by their own API.
    const notification = row.dedupeKey
      ? await prisma.notificationLog.findUnique({ where: { dedupeKey: row.dedupeKey }, select: { id: true } })
      : null;
    if (!notification) {
      throw new ProblemError(
        422,
        'not-retryable',
        'Not retryable here',
        `Dead letter ${row.id} (${row.kind}) is not a notification delivery; discard it or re-run it through its own API`,
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
      throw unavailable(`Could not start the retry: ${(err as Error).message}`);
    }
    return c.json({ id: row.id, status: 'retrying', workflowId }, 202);
  });

  app.post('/:id/discard', async (c) => {
    const row = await load(c.req.param('id'));
    const discarded = await prisma.deadLetter.updateMany({
      where: { id: row.id, status: 'open' },
      data: { status: 'discarded', resolvedAt: new Date() },
    });
    if (discarded.count === 0) throw conflict(await load(row.id), 'discarded');
    return c.json(present(await load(row.id)));
  });

  return app;
}
