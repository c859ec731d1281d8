/**
 * Who may read what on PostgreSQL, no Temporal needed: a member's notifications go to that member
 * and to the caregivers of their circle (403 to the circle's other members, 404 to everyone
 * else), newest first in cursor pages; the dev outbox pages the same way for operators; /health
 * and /ready answer without a token.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import type { ApiDeps } from '../api/deps.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let carol: UserClient; // caregiver of the Lovelace circle
let pat: UserClient; // its patient
let fran: UserClient; // its family member
let olga: UserClient; // caregiver of another circle
let patientId: string;
let familyId: string;
let notificationIds: string[];

/** Temporal is never asked here; /health and /ready see it as down. */
const unreachableTemporal = {
  workflowService: { getSystemInfo: () => Promise.reject(new Error('connection refused')) },
} as unknown as ApiDeps['temporal'];

const json = async <T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> =>
  (await (await res).json()) as T;
type Page = { items: { id: string; createdAt: string; title?: string }[]; nextCursor: string | null };

async function createdId(res: Promise<Response>): Promise<string> {
  const r = await res;
  expect(r.status).toBe(201);
  return (await json<{ id: string }>(r)).id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  app = createApp({
    prisma: db.prisma,
    temporal: unreachableTemporal,
    taskQueue: 'unused',
    devOutbox: true,
    tokens: testTokens(),
  });
  [carol, pat, fran, olga] = await Promise.all([
    asUser(app, 'carol'),
    asUser(app, 'pat'),
    asUser(app, 'fran'),
    asUser(app, 'olga'),
  ]);

  const circleId = await createdId(carol.post('/v1/care-circles', { name: 'Lovelace' }));
  patientId = await createdId(
    carol.post(`/v1/care-circles/${circleId}/members`, {
      name: 'Ada',
      role: 'patient',
      timezone: 'UTC',
      userId: 'pat',
    }),
  );
  familyId = await createdId(
    carol.post(`/v1/care-circles/${circleId}/members`, {
      name: 'Fran',
      role: 'family',
      timezone: 'UTC',
      userId: 'fran',
    }),
  );
  await createdId(olga.post('/v1/care-circles', { name: 'Elsewhere' }));

  // Five for the patient (two at the same instant: the id breaks the tie), one for the family member.
  const base = Date.UTC(2026, 5, 1, 8);
  notificationIds = [];
  for (let i = 0; i < 5; i++) {
    const row = await db.prisma.notificationLog.create({
      data: {
        dedupeKey: `test:${randomUUID()}`,
        kind: 'dose_reminder',
        recipientId: patientId,
        channel: 'push',
        title: `Reminder ${i}`,
        body: '10 mg',
        createdAt: new Date(base + Math.min(i, 3) * 60_000),
      },
    });
    notificationIds.push(row.id);
  }
  await db.prisma.notificationLog.create({
    data: {
      dedupeKey: `test:${randomUUID()}`,
      kind: 'circle_message',
      recipientId: familyId,
      channel: 'email',
      title: 'For Fran',
      body: 'hello',
    },
  });
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

async function readAll(client: UserClient, path: string, limit: number) {
  const seen: Page['items'] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const query: string = cursor ? `&cursor=${cursor}` : '';
    const res: Response = await client.get(`${path}${path.includes('?') ? '&' : '?'}limit=${limit}${query}`);
    expect(res.status).toBe(200);
    const page: Page = await json<Page>(res);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  return { seen, pages };
}

/** Newest first: createdAt descending, then id descending. */
const newestFirst = (items: Page['items']) =>
  [...items].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));

describe('GET /v1/notifications', () => {
  it('gives the recipient their own, newest first, in cursor pages without repeats', async () => {
    const { seen, pages } = await readAll(pat, `/v1/notifications?recipientId=${patientId}`, 2);
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst(seen));
    // The two sent at the same instant come first, the higher id first; then the older ones.
    const [n0, n1, n2, n3, n4] = notificationIds as [string, string, string, string, string];
    expect(seen.map((n) => n.id)).toEqual([...[n3, n4].sort().reverse(), n2, n1, n0]);
    expect(seen[0]).toMatchObject({
      kind: 'dose_reminder',
      channel: 'push',
      status: 'pending',
      title: expect.any(String),
    });
  });

  it('gives a caregiver of the circle anyone’s, and a family member their own', async () => {
    const all = await json<Page>(carol.get(`/v1/notifications?recipientId=${patientId}`));
    expect(all.items).toHaveLength(5);
    expect(all.nextCursor).toBeNull();
    const own = await json<Page>(fran.get(`/v1/notifications?recipientId=${familyId}`));
    expect(own.items.map((n) => n.title)).toEqual(['For Fran']);
  });

  it('refuses a member of the same circle reading someone else’s (403)', async () => {
    const res = await fran.get(`/v1/notifications?recipientId=${patientId}`);
    expect(res.status).toBe(403);
    expect((await json(res)).type).toBe('urn:carecircle:problem:forbidden');
    // The patient may not read the family member's either.
    expect((await pat.get(`/v1/notifications?recipientId=${familyId}`)).status).toBe(403);
  });

  it('answers another circle’s user, or a user in no circle, exactly as for a member that does not exist (404)', async () => {
    const unknown = randomUUID();
    const missing = await olga.get(`/v1/notifications?recipientId=${unknown}`);
    expect(missing.status).toBe(404);
    const missingBody = await json(missing);

    for (const client of [olga, await asUser(app, 'nobody'), await asUser(app, 'ops-1', { operator: true })]) {
      const res = await client.get(`/v1/notifications?recipientId=${patientId}`);
      expect(res.status, client.userId).toBe(404);
      const body = await json(res);
      expect(body, client.userId).toEqual({ ...missingBody, detail: `Member ${patientId} does not exist` });
      expect(JSON.stringify(body)).not.toContain('Reminder');
    }
  });

  it('answers 400 for a missing or malformed recipientId, a bad limit or cursor, and 401 without a token', async () => {
    expect((await pat.get('/v1/notifications')).status).toBe(400);
    expect((await pat.get('/v1/notifications?recipientId=nope')).status).toBe(400);
    expect((await pat.get(`/v1/notifications?recipientId=${patientId}&limit=0`)).status).toBe(400);
    const badCursor = await pat.get(`/v1/notifications?recipientId=${patientId}&cursor=nonsense`);
    expect(badCursor.status).toBe(400);
    expect((await json(badCursor)).type).toBe('urn:carecircle:problem:invalid-cursor');
    expect((await app.request(`/v1/notifications?recipientId=${patientId}`)).status).toBe(401);
  });
});

describe('GET /v1/dev/outbox', () => {
  it('pages what was "sent", newest first, without repeats, for operators only', async () => {
    const base = Date.UTC(2026, 5, 2);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const row = await db.prisma.devOutboxMessage.create({
        data: {
          dedupeKey: `outbox:${randomUUID()}`,
          channel: i % 2 ? 'email' : 'push',
          to: `to-${i}`,
          title: `t${i}`,
          body: 'b',
          createdAt: new Date(base + Math.min(i, 3) * 1000),
        },
      });
      ids.push(row.id);
    }
    const operator = await asUser(app, 'ops-1', { operator: true });
    const { seen, pages } = await readAll(operator, '/v1/dev/outbox', 2);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(5);
    expect(new Set(seen.map((m) => m.id))).toEqual(new Set(ids));
    expect(seen).toEqual(newestFirst(seen));
    expect(seen.at(-1)).toEqual({
      id: ids[0],
      channel: 'push',
      to: 'to-0',
      title: 't0',
      body: 'b',
      dedupeKey: expect.stringMatching(/^outbox:/),
      createdAt: new Date(base).toISOString(),
    });

    expect((await carol.get('/v1/dev/outbox')).status).toBe(403);
    expect((await operator.get('/v1/dev/outbox?cursor=nonsense')).status).toBe(400);
  });
});

describe('/health and /ready', () => {
  it('answer without a token, with 503 and the state of each dependency when one is down', async () => {
    const health = await app.request('/health');
    expect(health.status).toBe(503);
    expect(health.headers.get('content-type')).toContain('application/json');
    expect(await health.json()).toEqual({ status: 'unavailable', temporal: 'down', database: 'up' });

    const ready = await app.request('/ready');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', database: 'up', temporal: 'down' });
  });
});
