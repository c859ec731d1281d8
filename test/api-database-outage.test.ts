/**
 * PostgreSQL unreachable for the API: every route answers 503 with Retry-After and the problem
 * shape, never 500, whichever way the outage shows itself to the driver — a refused connection,
 * a server that is shutting down (57P03 to new connections), or pooled connections it terminates
 * (57P01, which reaches the API as Prisma's P2039 "Database error"). Nothing is written and no
 * workflow is started; once the database is back, the same app serves again.
 *
 * The API reaches the test database through a TCP proxy this file controls, so the outage can be
 * switched on and off without stopping the PostgreSQL other test files share.
 */
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { createPrisma, type PrismaClient } from '../shared/db.ts';
import { freePort } from '../shared/free-port.ts';
import { asUser, testTokens, type UserClient } from './helpers/api-auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

/** A PostgreSQL ErrorResponse message (FATAL), as a server sends it before closing. */
function fatal(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`);
  const length = Buffer.alloc(4);
  length.writeInt32BE(fields.length + 4);
  return Buffer.concat([Buffer.from('E'), length, fields]);
}

/** Forwards to PostgreSQL while up; while down, answers as a server in shutdown does. */
class OutageProxy {
  down = false;
  private readonly server: net.Server;
  private readonly links = new Set<{ client: net.Socket; upstream: net.Socket }>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    client.on('error', () => {});
    if (this.down) {
      client.once('data', () => client.end(fatal('57P03', 'the database system is shutting down')));
      return;
    }
    const upstream = net.connect(this.target);
    const link = { client, upstream };
    this.links.add(link);
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.links.delete(link);
    });
    upstream.on('close', () => client.destroy());
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('data', (chunk) => {
      if (!this.down) {
        upstream.write(chunk);
        return;
      }
      // A pooled connection's next query meets the terminated backend.
      upstream.destroy();
      client.end(fatal('57P01', 'terminating connection due to administrator command'));
    });
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.links) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const calls: string[] = [];
const fakeTemporal = {
  workflow: {
    start: async (_type: string, options: { workflowId: string }) => {
      calls.push(`start ${options.workflowId}`);
      return { workflowId: options.workflowId };
    },
    getHandle: (workflowId: string) => ({
      cancel: async () => {
        calls.push(`cancel ${workflowId}`);
      },
    }),
  },
} as unknown as Client;

const UNAVAILABLE = {
  type: 'urn:carecircle:problem:service-unavailable',
  title: 'Service unavailable',
  status: 503,
  detail: 'The database is unreachable; retry shortly',
};

let db: TestDatabase;
let proxy: OutageProxy;
let proxied: PrismaClient;
let refused: PrismaClient;
const reported: unknown[] = [];
const appOver = (prisma: PrismaClient) =>
  createApp(
    { prisma, temporal: fakeTemporal, taskQueue: 'outage-test', devOutbox: false, tokens: testTokens() },
    (err) => reported.push(err),
  );
let alice: UserClient;
let circleId: string;
let patientId: string;
let medicationId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const url = new URL(db.url);
  proxy = new OutageProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.port = String(await proxy.listen());
  proxied = createPrisma(url.toString());
  alice = await asUser(appOver(proxied), 'alice');

  const circle = await alice.post('/v1/care-circles', { name: 'Lovelace family' });
  expect(circle.status).toBe(201);
  circleId = ((await circle.json()) as { id: string }).id;
  const patient = await alice.post(`/v1/care-circles/${circleId}/members`, {
    name: 'Ada',
    role: 'patient',
    timezone: 'UTC',
  });
  expect(patient.status).toBe(201);
  patientId = ((await patient.json()) as { id: string }).id;
  const medication = await alice.post('/v1/medications', medicationBody());
  expect(medication.status).toBe(201);
  medicationId = ((await medication.json()) as { id: string }).id;

  // Nothing listens on this port: connections are refused.
  url.port = String(await freePort());
  refused = createPrisma(url.toString());
}, 60_000);

afterAll(async () => {
  await proxied?.$disconnect();
  await refused?.$disconnect();
  await proxy?.close();
  await db?.drop();
});

const medicationBody = () => ({
  careCircleId: circleId,
  patientId,
  name: 'Levothyroxine',
  schedule: { times: ['08:00'] },
});

/** The routes the outage was seen on, reads and writes, one POST with an Idempotency-Key. */
const requests = (user: UserClient): [string, () => Promise<Response>][] => [
  [`GET /v1/medications/:id`, () => user.get(`/v1/medications/${medicationId}`)],
  [`GET /v1/medications`, () => user.get(`/v1/medications?careCircleId=${circleId}`)],
  [`POST /v1/care-circles`, () => user.post('/v1/care-circles', { name: 'During the outage' })],
  [`POST /v1/medications`, () => user.post('/v1/medications', medicationBody())],
  [
    `POST /v1/medications (Idempotency-Key)`,
    () => user.post('/v1/medications', medicationBody(), { 'Idempotency-Key': randomUUID() }),
  ],
];

async function expectAllUnavailable(user: UserClient): Promise<void> {
  const answers = [];
  for (const [name, send] of requests(user)) {
    const res = await send();
    answers.push({
      name,
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      contentType: res.headers.get('content-type'),
      body: await res.json(),
    });
  }
  expect(answers).toEqual(
    requests(user).map(([name]) => ({
      name,
      status: 503,
      retryAfter: '5',
      contentType: 'application/problem+json',
      body: UNAVAILABLE,
    })),
  );
}

async function counts() {
  const [circles, members, medications, idempotencyRecords] = await Promise.all([
    db.prisma.careCircle.count(),
    db.prisma.member.count(),
    db.prisma.medication.count(),
    db.prisma.idempotencyRecord.count(),
  ]);
  return { circles, members, medications, idempotencyRecords };
}

describe('the API while PostgreSQL is unreachable', () => {
  it('answers 503 with Retry-After when connections are refused, writes nothing, starts nothing', async () => {
    const before = await counts();
    calls.length = 0;
    reported.length = 0;
    await expectAllUnavailable(await asUser(appOver(refused), 'alice'));
    expect(calls).toEqual([]);
    expect(await counts()).toEqual(before);
    // Operators see what the database said; the client does not.
    expect(reported.length).toBe(requests(alice).length);
  });

  it('answers 503 while the server shuts down and terminates pooled connections, and serves again after', async () => {
    // The pool holds connections from the set-up: the first queries meet 57P01 on them, later
    // ones 57P03 on new connections.
    const before = await counts();
    calls.length = 0;
    proxy.down = true;
    try {
      await expectAllUnavailable(alice);
      await expectAllUnavailable(alice);
    } finally {
      proxy.down = false;
    }
    expect(calls).toEqual([]);
    expect(await counts()).toEqual(before);

    const back = await alice.get(`/v1/medications/${medicationId}`);
    expect(back.status).toBe(200);
  });
});
