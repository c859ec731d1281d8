/**
 * What the contract test found, pinned as plain regressions that run without Python: impossible
 * calendar dates and control characters are 400s naming the field (they were 500s), the document's
 * patterns refuse them too, and a known path with another method is a 405 with `Allow`. The API
 * runs against a real database; Temporal is a stand-in that accepts starts and updates.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { openApiDocument } from '../api/routes/docs.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let alice: UserClient;
let circleId: string;
let patientId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const temporal = {
    workflow: { start: async (_type: string, options: { workflowId: string }) => ({ workflowId: options.workflowId }) },
  } as unknown as Client;
  app = createApp({
    prisma: db.prisma,
    temporal,
    taskQueue: 'contract-validation',
    devOutbox: true,
    tokens: testTokens(),
  });
  alice = await asUser(app, 'alice');
  circleId = ((await (await alice.post('/v1/care-circles', { name: 'Curie family' })).json()) as { id: string }).id;
  patientId = (
    (await (
      await alice.post(`/v1/care-circles/${circleId}/members`, { name: 'Marie', role: 'patient', timezone: 'UTC' })
    ).json()) as { id: string }
  ).id;
});
afterAll(async () => {
  await db?.drop();
});

async function problem(res: Response) {
  return {
    status: res.status,
    ...((await res.json()) as { type: string; errors?: { path: string; message: string }[] }),
  };
}

describe('impossible dates', () => {
  it('a one-off dose on 2026-02-30 is a 400 on POST and on PATCH, and nothing is written', async () => {
    const once = (at: string) => ({ type: 'once', at });
    const created = await problem(
      await alice.post('/v1/medications', {
        careCircleId: circleId,
        patientId,
        name: 'Aspirin',
        schedule: once('2026-02-30T10:00'),
      }),
    );
    expect(created).toMatchObject({ status: 400, errors: [{ path: 'schedule.at' }] });
    expect(await db.prisma.medication.count()).toBe(0);

    const ok = await alice.post('/v1/medications', {
      careCircleId: circleId,
      patientId,
      name: 'Aspirin',
      schedule: { times: ['08:00'] },
    });
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: string };
    for (const at of ['2026-02-30T10:00', '0000-00-00T00:00', '2025-02-29T08:00']) {
      const patched = await problem(await alice.patch(`/v1/medications/${id}`, { schedule: once(at) }));
      expect(patched, at).toMatchObject({ status: 400, errors: [{ path: 'schedule.at' }] });
    }
  });

  it("the document's patterns refuse them too, and take a leap day", () => {
    const text = JSON.stringify(openApiDocument(app));
    const patterns = [...text.matchAll(/"pattern":"([^"]*-02-29[^"]*)"/g)].map(
      (m) => new RegExp(JSON.parse(`"${m[1]}"`)),
    );
    expect(patterns.length).toBeGreaterThanOrEqual(2); // dates, and the local date-time of a one-off dose
    for (const pattern of patterns) {
      const withTime = pattern.source.includes('T(');
      const value = (date: string) => (withTime ? `${date}T10:00` : date);
      expect(pattern.test(value('2026-02-30'))).toBe(false);
      expect(pattern.test(value('0000-00-00'))).toBe(false);
      expect(pattern.test(value('2028-02-29'))).toBe(true);
    }
  });
});

describe('control characters', () => {
  it('NUL in a name is a 400 naming the field, on circles, members and medications', async () => {
    const nul = 'a\u0000b';
    expect(await problem(await alice.post('/v1/care-circles', { name: nul }))).toMatchObject({
      status: 400,
      errors: [{ path: 'name', message: 'must not contain control characters' }],
    });
    expect(
      await problem(
        await alice.post(`/v1/care-circles/${circleId}/members`, { name: nul, role: 'family', timezone: 'UTC' }),
      ),
    ).toMatchObject({ status: 400, errors: [{ path: 'name' }] });
    expect(
      await problem(
        await alice.post('/v1/medications', {
          careCircleId: circleId,
          patientId,
          name: 'x',
          dosage: `1\u0007mg`,
          schedule: { times: ['08:00'] },
        }),
      ),
    ).toMatchObject({ status: 400, errors: [{ path: 'dosage' }] });
  });

  it('a message body may span lines, but holds no other control character', async () => {
    const send = (body: string) => alice.post(`/v1/care-circles/${circleId}/notifications`, { title: 'Hello', body });
    expect((await send('line one\n\tline two')).status).toBe(202);
    expect(await problem(await send('bell\u0007'))).toMatchObject({ status: 400, errors: [{ path: 'body' }] });
  });
});

describe('methods', () => {
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Over the wire: fetch refuses to send TRACE. */
  const call = (method: string, path: string) =>
    new Promise<{ status: number; allow: string | undefined }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, allow: res.headers.allow }));
      });
      req.on('error', reject);
      req.end();
    });

  it('a known path with another method is a 405 with Allow; an unknown path stays a 404', async () => {
    expect(await call('TRACE', '/health')).toEqual({ status: 405, allow: 'GET, HEAD' });
    expect(await call('PUT', '/openapi.json')).toEqual({ status: 405, allow: 'GET, HEAD' });
    expect(await call('TRACE', '/nowhere')).toMatchObject({ status: 404 });
  });
});
