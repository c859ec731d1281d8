/**
 * Security of the API, for every operation in the OpenAPI document (a new route without an entry
 * in REQUESTS below fails the suite):
 * - tokens: missing, malformed, expired, forged, alg "none", wrong audience or issuer → 401 with a
 *   WWW-Authenticate challenge, and nothing changes;
 * - tenant isolation: a caregiver of another circle (and a non-operator on operator routes) gets
 *   403 or 404 for every operation on circle A's resources, and nothing changes: no row, no
 *   workflow started, signalled, updated or cancelled;
 * - fuzzing (fast-check): request bodies that are arbitrary JSON or near-misses of a valid body
 *   never cause a 5xx, and every 4xx leaves the database and Temporal untouched.
 */
import fc from 'fast-check';
import pg from 'pg';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../api/app.ts';
import { openApiDocument } from '../api/routes/docs.ts';
import { loadConfig } from '../shared/config.ts';
import { signDevToken } from '../shared/auth-tokens.ts';
import { asUser, testTokens, tokenFor, type UserClient } from './helpers/api-auth.ts';
import { CARE_WORKLOADS, createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';

let care: CareEnv;
let stopWorkers: () => void = () => {};
let workersStopped: Promise<void> = Promise.resolve();
let app: ReturnType<typeof createApp>;
let alice: UserClient; // caregiver of circle A
let mallory: UserClient; // caregiver of circle B: every right, in another circle
let temporalCalls: string[] = [];

/** Ids of circle A's resources, which the path parameters and bodies below name. */
const ids: Record<string, string> = {};

const HOUR = 3_600_000;
const timeIn = (zone: string, ms: number) =>
  new Date(Date.now() + ms).toLocaleTimeString('en-GB', {
    timeZone: zone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 60_000) * 60_000).toISOString();

/**
 * Records every call that changed a workflow: starts, signals, accepted updates, cancels. An update
 * the workflow's validator rejects changes nothing (it is not even in the history), so it is not
 * counted; neither is a call that fails.
 */
function watchTemporal(client: Client): void {
  const record = <T>(what: string, call: () => Promise<T>): Promise<T> =>
    call().then((result) => {
      temporalCalls.push(what);
      return result;
    });
  for (const method of ['start', 'signalWithStart', 'execute'] as const) {
    const original = client.workflow[method].bind(client.workflow) as (...args: unknown[]) => Promise<unknown>;
    vi.spyOn(client.workflow, method).mockImplementation(((...args: unknown[]) =>
      record(method, () => original(...args))) as never);
  }
  const getHandle = client.workflow.getHandle.bind(client.workflow);
  vi.spyOn(client.workflow, 'getHandle').mockImplementation(((...args: Parameters<typeof getHandle>) => {
    const handle = getHandle(...args) as WorkflowHandle;
    for (const method of ['signal', 'executeUpdate', 'startUpdate', 'cancel', 'terminate'] as const) {
      const original = (handle[method] as (...a: unknown[]) => Promise<unknown>).bind(handle);
      (handle as unknown as Record<string, unknown>)[method] = (...a: unknown[]) =>
        record(`${method} ${args[0]}`, () => original(...a));
    }
    return handle;
  }) as never);
}

/** One hash per table: any insert, update or delete changes it. */
async function fingerprint(): Promise<string> {
  const client = new pg.Client({ connectionString: care.db.url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations'
        ORDER BY table_name`,
    );
    const sql = tables.rows
      .map(
        (t) =>
          `SELECT '${t.table_name}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM "${t.table_name}" x`,
      )
      .join(' UNION ALL ');
    const rows = await client.query<{ t: string; h: string }>(sql);
    return rows.rows.map((r) => `${r.t}:${r.h}`).join(',');
  } finally {
    await client.end();
  }
}

/**
 * Waits until the workers have finished what earlier requests started (deliveries, uploads): no
 * table has changed for `quietMs`. A change seen afterwards was made by the request under test.
 */
async function settled(quietMs = 1000): Promise<string> {
  let last = await fingerprint();
  let quietSince = Date.now();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await fingerprint();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return now;
    }
  }
  throw new Error('the database kept changing for 60 s');
}

interface RequestSpec {
  /** Path parameters; default from the path's prefix (see paramsFor). */
  params?: Record<string, string>;
  query?: () => Record<string, string>;
  body?: () => unknown;
  multipart?: () => FormData;
}

/** A valid request for every operation on circle A's resources (valid, so a refusal is authorization, not validation). */
const REQUESTS: Record<string, RequestSpec> = {
  'POST /v1/care-circles': { body: () => ({ name: 'Mallory family' }) },
  'GET /v1/care-circles': {},
  'GET /v1/care-circles/{id}': {},
  'POST /v1/care-circles/{id}/members': {
    body: () => ({ name: 'Intruder', role: 'caregiver', timezone: 'UTC', userId: 'mallory-2' }),
  },
  'PATCH /v1/care-circles/{id}/members/{memberId}': { body: () => ({ channels: ['email'] }) },
  'POST /v1/care-circles/{id}/notifications': { body: () => ({ title: 'Hello', body: 'Dinner at 7' }) },
  'GET /v1/care-circles/{id}/notifications': {},
  'GET /v1/care-circles/{id}/notifications/{notificationId}': {},
  'POST /v1/medications': {
    body: () => ({
      careCircleId: ids.circle,
      patientId: ids.patient,
      name: 'Aspirin',
      schedule: { type: 'times', times: ['08:00'] },
    }),
  },
  'GET /v1/medications': { query: () => ({ careCircleId: ids.circle! }) },
  'GET /v1/medications/{id}': {},
  'PATCH /v1/medications/{id}': { body: () => ({ name: 'Renamed' }) },
  'DELETE /v1/medications/{id}': {},
  'POST /v1/medications/{id}/pause': {},
  'POST /v1/medications/{id}/resume': {},
  'POST /v1/medications/{id}/doses/acknowledge': {
    body: () => ({ doseAt: ids.doseAt, action: 'taken' }),
  },
  'POST /v1/medications/{id}/doses': { body: () => ({}) },
  'GET /v1/medications/{id}/doses': {},
  'PATCH /v1/members/{id}': { body: () => ({ name: 'Renamed' }) },
  'POST /v1/members/{id}/push-tokens': { body: () => ({ token: 'attacker-device' }) },
  'GET /v1/patients/{id}/adherence': { query: () => ({ from: '2026-01-01', to: '2026-12-31' }) },
  'POST /v1/appointments': {
    body: () => ({ careCircleId: ids.circle, patientId: ids.patient, title: 'Dentist', startsAt: at(48 * HOUR) }),
  },
  'GET /v1/appointments': { query: () => ({ careCircleId: ids.circle! }) },
  'GET /v1/appointments/{id}': {},
  'PATCH /v1/appointments/{id}': { body: () => ({ title: 'Moved' }) },
  'DELETE /v1/appointments/{id}': {},
  'POST /v1/shifts': {
    body: () => ({ careCircleId: ids.circle, startsAt: at(48 * HOUR), endsAt: at(52 * HOUR) }),
  },
  'GET /v1/shifts': { query: () => ({ careCircleId: ids.circle! }) },
  'GET /v1/shifts/{id}': {},
  'PATCH /v1/shifts/{id}': { body: () => ({ assigneeId: null }) },
  'DELETE /v1/shifts/{id}': {},
  'POST /v1/documents': { multipart: () => documentForm() },
  'GET /v1/documents/{id}': {},
  'GET /v1/documents/{id}/content': {},
  'GET /v1/notifications': { query: () => ({ recipientId: ids.patient! }) },
  'GET /v1/dead-letters': {},
  'GET /v1/dead-letters/count': {},
  'GET /v1/dead-letters/{id}': {},
  'POST /v1/dead-letters/{id}/retry': {},
  'POST /v1/dead-letters/{id}/discard': {},
  'GET /v1/ops/queues': {},
  'GET /v1/dev/outbox': {},
  'GET /health': {},
  'GET /ready': {},
  'GET /metrics': {},
};

function documentForm(): FormData {
  const form = new FormData();
  form.set('careCircleId', ids.circle!);
  form.set('file', new File([Buffer.from('%PDF-1.4 care plan\n')], 'plan.pdf', { type: 'application/pdf' }));
  return form;
}

/** Circle A's id for each path parameter, by the resource the path names. */
function paramsFor(path: string): Record<string, string> {
  const resource = path.split('/')[2];
  const byResource: Record<string, string | undefined> = {
    'care-circles': ids.circle,
    medications: ids.medication,
    members: ids.patient,
    patients: ids.patient,
    appointments: ids.appointment,
    shifts: ids.shift,
    documents: ids.document,
    'dead-letters': ids.deadLetter,
  };
  return { id: byResource[resource ?? ''] ?? '', memberId: ids.patient!, notificationId: ids.notification! };
}

function buildRequest(key: string, overrides: { body?: unknown; rawBody?: string } = {}): [string, RequestInit] {
  const [method, template] = key.split(' ') as [string, string];
  const spec = REQUESTS[key] ?? {};
  const params = { ...paramsFor(template), ...spec.params };
  let url = template.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '');
  const query = spec.query?.();
  if (query) url += `?${new URLSearchParams(query)}`;
  if (spec.multipart) return [url, { method, body: spec.multipart() }];
  const body =
    'rawBody' in overrides
      ? overrides.rawBody
      : 'body' in overrides
        ? JSON.stringify(overrides.body)
        : spec.body
          ? JSON.stringify(spec.body())
          : undefined;
  return [url, body === undefined ? { method } : { method, body, headers: { 'content-type': 'application/json' } }];
}

type Operation = { requestBody?: { content?: Record<string, unknown> } };
let operations: { key: string; op: Operation }[] = [];

beforeAll(async () => {
  // Real workers, so that valid requests (updates of a medication, say) are answered.
  care = await createCareEnv({ workloads: ['medication', ...CARE_WORKLOADS] });
  workersStopped = care.run(() => new Promise<void>((resolve) => (stopWorkers = resolve)));
  app = createApp(
    {
      prisma: care.db.prisma,
      temporal: care.env.client,
      taskQueue: TASK_QUEUES.medication,
      devOutbox: true,
      tokens: testTokens(),
      // The fuzzing below sends hundreds of requests as one user.
      rateLimits: { perUser: 1_000_000, perAddress: 1_000_000 },
    },
    (err) => console.error(err),
  );
  const document = openApiDocument(app) as unknown as { paths: Record<string, Record<string, Operation>> };
  operations = Object.entries(document.paths).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${p}`, op })),
  );

  alice = await asUser(app, 'alice');
  mallory = await asUser(app, 'mallory');
  const created = async (res: Response | Promise<Response>) => {
    const r = await res;
    expect([201, 202], await r.clone().text()).toContain(r.status);
    return ((await r.json()) as { id: string }).id;
  };
  ids.circle = await created(alice.post('/v1/care-circles', { name: 'Curie family' }));
  ids.patient = await created(
    alice.post(`/v1/care-circles/${ids.circle}/members`, {
      name: 'Marie',
      role: 'patient',
      timezone: 'Europe/Paris',
      email: 'marie@example.com',
      userId: 'marie',
    }),
  );
  ids.medication = await created(
    alice.post('/v1/medications', {
      careCircleId: ids.circle,
      patientId: ids.patient,
      name: 'Levothyroxine',
      // Twelve hours away: no dose falls due (and writes rows) while the test runs.
      schedule: { type: 'times', times: [timeIn('Europe/Paris', 12 * HOUR)] },
    }),
  );
  ids.doseAt = new Date(Math.ceil(Date.now() / HOUR) * HOUR).toISOString();
  ids.appointment = await created(
    alice.post('/v1/appointments', {
      careCircleId: ids.circle,
      patientId: ids.patient,
      title: 'Cardiology',
      startsAt: at(72 * HOUR),
    }),
  );
  ids.shift = await created(
    alice.post('/v1/shifts', { careCircleId: ids.circle, startsAt: at(72 * HOUR), endsAt: at(80 * HOUR) }),
  );
  ids.notification = await created(
    alice.post(`/v1/care-circles/${ids.circle}/notifications`, { title: 'Hello', body: 'First message' }),
  );
  const upload = await alice.request('/v1/documents', { method: 'POST', body: documentForm() });
  expect([201, 202]).toContain(upload.status);
  ids.document = ((await upload.json()) as { id: string }).id;
  ids.deadLetter = (
    await care.db.prisma.deadLetter.create({
      data: {
        kind: 'email',
        payload: { to: 'marie@example.com' },
        error: 'bounced',
        attempts: 2,
        workflowId: 'wf',
        runId: 'run',
      },
    })
  ).id;
  // Mallory is a caregiver too, with a circle of her own: the most a tenant can be.
  await created(mallory.post('/v1/care-circles', { name: 'Mallory family' }));
  // The circle notification and the upload above finish in the background first.
  await settled();
  watchTemporal(care.env.client);
}, 180_000);

afterAll(async () => {
  vi.restoreAllMocks();
  stopWorkers();
  await workersStopped;
  await care?.teardown();
});

describe('every operation has a request in this file', () => {
  it('REQUESTS covers the OpenAPI document', () => {
    expect(operations.length).toBeGreaterThan(30);
    expect(operations.map((o) => o.key).filter((k) => !(k in REQUESTS))).toEqual([]);
  });
});

describe('authentication', () => {
  it('refuses missing, malformed, expired, forged, unsigned and misdirected tokens on every /v1 operation', async () => {
    const cfg = loadConfig({ NODE_ENV: 'test' });
    const header = (t: string) => ({ authorization: `Bearer ${t}` });
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({
        sub: 'alice',
        iss: cfg.AUTH_ISSUER,
        aud: cfg.AUTH_AUDIENCE,
        exp: Math.floor(Date.now() / 1000) + 600,
      }),
    ).toString('base64url')}.`;
    const bad: Record<string, Record<string, string>> = {
      missing: {},
      'not bearer': { authorization: 'Basic YWxpY2U6c2VjcmV0' },
      garbage: header('not-a-jwt'),
      expired: header(await tokenFor('alice', { ttlSeconds: -60 })),
      forged: header(
        await signDevToken(cfg, { userId: 'alice', secret: 'another-secret-of-at-least-32-characters!!' }),
      ),
      'alg none': header(unsigned),
      'wrong audience': header(await tokenFor('alice', { audience: 'some-other-api' })),
      'wrong issuer': header(await tokenFor('alice', { issuer: 'https://evil.example' })),
    };
    const before = await fingerprint();
    let checked = 0;
    for (const { key } of operations.filter((o) => o.key.split(' ')[1]!.startsWith('/v1/'))) {
      for (const [kind, headers] of Object.entries(bad)) {
        const [url, init] = buildRequest(key);
        const res = await app.request(url, {
          ...init,
          headers: { ...(init.headers as Record<string, string>), ...headers },
        });
        expect(res.status, `${kind} token on ${key}`).toBe(401);
        expect(res.headers.get('www-authenticate'), `${kind} on ${key}`).toMatch(/^Bearer realm="carecircle"/);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30 * 8);
    expect(await fingerprint()).toBe(before);
    expect(temporalCalls).toEqual([]);
  });

  it('says why a token was refused, without echoing it', async () => {
    const res = await app.request('/v1/care-circles', {
      headers: { authorization: `Bearer ${await tokenFor('a', { ttlSeconds: -5 })}` },
    });
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem).toMatchObject({ type: 'urn:carecircle:problem:unauthenticated', detail: 'The token has expired' });
  });

  it('serves health, readiness, metrics, the spec and the docs without a token', async () => {
    for (const path of ['/health', '/metrics', '/openapi.json', '/docs']) {
      expect((await app.request(path)).status, path).not.toBe(401);
    }
  });
});

describe('tenant isolation', () => {
  it('a caregiver of another circle gets 403 or 404 for every operation on circle A, and nothing changes', async () => {
    const open = new Set([
      'POST /v1/care-circles',
      'GET /v1/care-circles',
      'GET /health',
      'GET /ready',
      'GET /metrics',
    ]);
    const before = await settled();
    temporalCalls = [];
    const outcomes: string[] = [];
    for (const { key } of operations.filter((o) => !open.has(o.key))) {
      const [url, init] = buildRequest(key);
      const res = await mallory.request(url, init);
      outcomes.push(`${key} → ${res.status}`);
      expect([403, 404], `${key} answered ${res.status}: ${await res.clone().text()}`).toContain(res.status);
      // A 404 may repeat an id the request itself named; any other id of circle A is a leak.
      const sent = `${url} ${typeof init.body === 'string' ? init.body : init.body ? ids.circle : ''}`;
      const body = await res.text();
      for (const [name, id] of Object.entries(ids)) {
        if (name !== 'doseAt' && !sent.includes(id)) expect(body, `${key} leaks ${name}`).not.toContain(id);
      }
    }
    expect(outcomes.length).toBeGreaterThan(30);
    expect(await fingerprint()).toBe(before);
    expect(temporalCalls).toEqual([]);
  });

  it("lists only the caller's own circles", async () => {
    const mine = (await (await mallory.get('/v1/care-circles')).json()) as { items: { id: string }[] };
    expect(mine.items).toHaveLength(1);
    expect(mine.items.map((c) => c.id)).not.toContain(ids.circle);
  });

  it('a family member may view but not manage, and gets 403 (not 404) for what their role forbids', async () => {
    await alice.post(`/v1/care-circles/${ids.circle}/members`, {
      name: 'Eve',
      role: 'family',
      timezone: 'UTC',
      userId: 'eve',
    });
    const eve = await asUser(app, 'eve');
    expect((await eve.get(`/v1/medications/${ids.medication}`)).status).toBe(200);
    const before = await settled();
    temporalCalls = [];
    for (const key of [
      'PATCH /v1/medications/{id}',
      'DELETE /v1/medications/{id}',
      'POST /v1/medications',
      'POST /v1/shifts',
    ]) {
      const [url, init] = buildRequest(key);
      const res = await eve.request(url, init);
      expect(res.status, key).toBe(403);
      expect(((await res.json()) as { detail: string }).detail).toContain('family');
    }
    expect(await fingerprint()).toBe(before);
    expect(temporalCalls).toEqual([]);
  });
});

describe('fuzzing request bodies', () => {
  /** Near misses of a valid body: a field replaced by anything, dropped, or an unknown one added. */
  function bodies(valid: unknown): fc.Arbitrary<unknown> {
    const near =
      valid && typeof valid === 'object' && !Array.isArray(valid) && Object.keys(valid).length > 0
        ? fc.oneof(
            fc.tuple(fc.constantFrom(...Object.keys(valid)), fc.jsonValue()).map(([k, v]) => ({ ...valid, [k]: v })),
            fc.constantFrom(...Object.keys(valid)).map((k) => {
              const copy: Record<string, unknown> = { ...(valid as Record<string, unknown>) };
              delete copy[k];
              return copy;
            }),
            fc
              .tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue())
              .map(([k, v]) => ({ ...valid, [`x${k}`]: v })),
          )
        : fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue(), { maxKeys: 4 });
    return fc.oneof(fc.jsonValue({ maxDepth: 3 }), near, near);
  }

  it('never answers 5xx, and a refused body writes nothing and starts nothing', async () => {
    const withJsonBodies = operations.filter((o) => o.op.requestBody?.content?.['application/json']);
    expect(withJsonBodies.length).toBeGreaterThan(12);
    let requests = 0;
    // Only a request that succeeded can have started background work worth waiting for.
    let mayHaveStartedWork = true;
    for (const { key } of withJsonBodies) {
      const valid = REQUESTS[key]?.body?.();
      await fc.assert(
        fc.asyncProperty(bodies(valid), fc.boolean(), async (body, raw) => {
          // Sometimes the bytes are not JSON at all.
          const overrides = raw && typeof body === 'string' ? { rawBody: body } : { body };
          const [url, init] = buildRequest(key, overrides);
          const before = mayHaveStartedWork ? await settled() : await fingerprint();
          temporalCalls = [];
          const res = await alice.request(url, init);
          requests++;
          mayHaveStartedWork = res.status < 400;
          expect(res.status, `${key} ${init.body as string}`).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.headers.get('content-type')).toBe('application/problem+json');
            expect(await fingerprint(), `${key} ${res.status} changed rows`).toBe(before);
            expect(temporalCalls, `${key} ${res.status} touched workflows`).toEqual([]);
          }
        }),
        { numRuns: 20 },
      );
    }
    expect(requests).toBeGreaterThanOrEqual(withJsonBodies.length * 20);
  }, 600_000);
});
