/**
 * Idempotency-Key on POST: a retried request replays the first response and changes nothing more.
 * The API runs against a real database; Temporal is a stand-in that counts workflow starts.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

let db: TestDatabase;
let app: ReturnType<typeof createApp>;
let alice: UserClient;
let bob: UserClient;
const started: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const temporal = {
    workflow: {
      start: async (_type: string, options: { workflowId: string }) => {
        started.push(options.workflowId);
        return { workflowId: options.workflowId };
      },
    },
  } as unknown as Client;
  app = createApp({
    prisma: db.prisma,
    temporal,
    taskQueue: 'idempotency-test',
    devOutbox: true,
    tokens: testTokens(),
  });
  [alice, bob] = await Promise.all([asUser(app, 'alice'), asUser(app, 'bob')]);
});
afterAll(async () => {
  await db?.drop();
});

/** A POST as `as` (Alice unless said), with an Idempotency-Key if given. */
const post = (path: string, body: unknown, key?: string, as: UserClient = alice) =>
  as.post(path, body, key ? { 'idempotency-key': key } : {});

describe('Idempotency-Key', () => {
  it('replays the first response for a retried request and creates nothing more', async () => {
    const circle = (await (await post('/v1/care-circles', { name: 'Retry family' })).json()) as { id: string };
    const patient = (await (
      await post(`/v1/care-circles/${circle.id}/members`, { name: 'Pat', role: 'patient', timezone: 'UTC' })
    ).json()) as { id: string };
    const body = { careCircleId: circle.id, patientId: patient.id, name: 'Aspirin', schedule: { times: ['08:00'] } };

    const first = await post('/v1/medications', body, 'create-aspirin-1');
    expect(first.status).toBe(201);
    const firstBody = await first.json();
    const retry = await post('/v1/medications', body, 'create-aspirin-1');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(firstBody);
    expect(await db.prisma.medication.count()).toBe(1);
    expect(started).toHaveLength(1);

    const reused = await post('/v1/medications', { ...body, name: 'Ibuprofen' }, 'create-aspirin-1');
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { type: string }).type).toBe('urn:carecircle:problem:idempotency-key-reused');

    // Without the header every POST is new.
    expect((await post('/v1/medications', body)).status).toBe(201);
    expect(await db.prisma.medication.count()).toBe(2);
    expect(started).toHaveLength(2);
  });

  it('replays a rejection too, and refuses a malformed key', async () => {
    const bad = await post('/v1/care-circles', { name: '' }, 'bad-circle');
    expect(bad.status).toBe(400);
    const again = await post('/v1/care-circles', { name: '' }, 'bad-circle');
    expect(again.status).toBe(400);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await post('/v1/care-circles', { name: 'x' }, 'bad key with spaces')).status).toBe(400);
  });

  it("is per user: another user's identical key and body is their own request", async () => {
    const first = await post('/v1/care-circles', { name: 'Same key family' }, 'shared-key');
    const theirs = await post('/v1/care-circles', { name: 'Same key family' }, 'shared-key', bob);
    expect([first.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    const [a, b] = (await Promise.all([first.json(), theirs.json()])) as { id: string }[];
    expect(a!.id).not.toBe(b!.id);
  });
  it('replays a retried document upload, though the retry draws a new multipart boundary', async () => {
    const circle = (await (await post('/v1/care-circles', { name: 'Upload family' })).json()) as { id: string };
    const upload = (key: string, text: string) => {
      // A new FormData, as a client builds for each attempt: fetch gives each its own boundary.
      const form = new FormData();
      form.set('careCircleId', circle.id);
      form.set('file', new File([text], 'plan.txt', { type: 'text/plain' }));
      return alice.request('/v1/documents', { method: 'POST', body: form, headers: { 'idempotency-key': key } });
    };
    const first = await upload('upload-plan-1', 'care plan');
    expect(first.status).toBe(202);
    const firstBody = await first.json();
    const retry = await upload('upload-plan-1', 'care plan');
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(firstBody);
    expect(await db.prisma.document.count({ where: { careCircleId: circle.id } })).toBe(1);
    expect(started.filter((id) => id.startsWith('document:'))).toHaveLength(1);

    const otherFile = await upload('upload-plan-1', 'another plan');
    expect(otherFile.status).toBe(422);
    expect(await db.prisma.document.count({ where: { careCircleId: circle.id } })).toBe(1);
  });
});
