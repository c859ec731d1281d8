/**
 * Cursor pagination for every list: items come in a stable order (a timestamp, then the id to break
 * ties), and `nextCursor` is an opaque token for the page after the last item. Unlike offsets, a
 * cursor does not skip or repeat items when new ones arrive between pages.
 *
 * A cursor is the last item's sort key (milliseconds since 1970) and id: any string of that shape
 * names a position, so the pattern in the OpenAPI document is the whole rule, and anything else is
 * the `invalid-cursor` problem.
 */
import { z } from '@hono/zod-openapi';
import { ProblemError } from './problem.ts';

export const MAX_PAGE_SIZE = 100;
/** Up to 15 digits of milliseconds (any of them a valid Date), then a UUID in lower case. */
const CURSOR = /^(\d{1,15})_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export const pageQuery = {
  limit: z.coerce
    .number('must be a number')
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`)
    .default(50)
    .openapi({ param: { name: 'limit', in: 'query' }, description: `Items per page (1–${MAX_PAGE_SIZE})` }),
  cursor: z
    .string()
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: '`nextCursor` of the previous page',
      pattern: CURSOR.source,
    }),
};

/** The position after an item: its sort key and id. */
export interface Cursor {
  at: Date;
  id: string;
}

export function encodeCursor(cursor: Cursor): string {
  return `${cursor.at.getTime()}_${cursor.id}`;
}

export function decodeCursor(value: string | undefined): Cursor | undefined {
  if (value === undefined) return undefined;
  const match = CURSOR.exec(value);
  if (!match) {
    throw new ProblemError(400, 'invalid-cursor', 'Invalid cursor', 'cursor: is not a cursor this API returned');
  }
  return { at: new Date(Number(match[1])), id: match[2]! };
}

/** A Prisma `where` for the items after `cursor` in order (`field` desc or asc, then id the same way). */
function afterCursor<F extends string>(field: F, direction: 'asc' | 'desc', cursor: Cursor | undefined) {
  if (!cursor) return {};
  const op = direction === 'desc' ? 'lt' : 'gt';
  return {
    OR: [{ [field]: { [op]: cursor.at } }, { [field]: cursor.at, id: { [op]: cursor.id } }],
  } as Record<string, unknown>;
}

/** Fetch limit + 1 rows; this trims to the page and says where the next one starts. */
function toPage<T extends { id: string }>(rows: T[], limit: number, sortKey: (row: T) => Date) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last ? encodeCursor({ at: sortKey(last), id: last.id }) : null,
  };
}

/**
 * One page of a list ordered by `field` then id: the Prisma `where` (to combine with the list's own
 * filters), `orderBy` and `take` to query with, and `page(rows)` to cut the result into
 * `{ items, nextCursor }`. An unknown cursor is a 400 here, before any query.
 */
export function pageWindow<F extends string>(
  field: F,
  direction: 'asc' | 'desc',
  query: { limit: number; cursor?: string | undefined },
) {
  const where = afterCursor(field, direction, decodeCursor(query.cursor));
  return {
    where,
    orderBy: [{ [field]: direction } as Record<F, 'asc' | 'desc'>, { id: direction }],
    take: query.limit + 1,
    page: <T extends { id: string } & Record<F, Date>>(rows: T[]) => toPage(rows, query.limit, (row) => row[field]),
  };
}

/** The response shape of a page of `item`. */
export function pageSchema<S extends z.ZodType>(item: S, name: string) {
  return z
    .object({
      items: z.array(item),
      nextCursor: z
        .string()
        .nullable()
        .openapi({ description: 'Pass as `cursor` for the next page; null on the last' }),
    })
    .openapi(name);
}
