/** The faults that are not a burst of doses: bad input at the API, the interrupted upload, probes. */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import type { Stack } from './stack.ts';
import { api, CHAOS_USER, type ApiCaller } from './seed.ts';

// ── 6. Bad input ─────────────────────────────────────────────────────────────────────────────
export const BAD_NAME = 'chaos-bad-input';

export interface BadInputResult {
  requests: number;
  /** Requests answered with anything but a 4xx problem+json. */
  failures: string[];
  statuses: Record<number, number>;
  /** Requests sent a second time after a client-side connection failure. */
  resent: number;
}

/** Row counts of every table a bad request could write to, and the number of workflows. */
export async function footprint(stack: Stack): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
  const out: Record<string, number> = {};
  try {
    for (const table of [
      'care_circles',
      'members',
      'push_tokens',
      'medications',
      'documents',
      'document_blobs',
      'notification_log',
      'dead_letters',
    ]) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
      out[table] = (rows[0] as { n: number }).n;
    }
    const { rows } = await client.query(
      `SELECT (SELECT count(*) FROM care_circles WHERE name = $1) + (SELECT count(*) FROM members WHERE name = $1)
        + (SELECT count(*) FROM medications WHERE name = $1) AS n`,
      [BAD_NAME],
    );
    out.rows_named_bad_input = Number((rows[0] as { n: string }).n);
  } finally {
    await client.end();
  }
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const { count } = await new Client({ connection }).workflow.count();
    out.workflows = count;
  } finally {
    await connection.close();
  }
  return out;
}

/**
 * Bad requests from the circle's caregiver (each must get a 4xx problem), then requests that
 * would be valid but carry no token, a malformed one or a forged one (each must get 401), and two
 * from a signed-in user who is not a member of the circle (404, as if it did not exist).
 */
export async function badInput(
  stack: Stack,
  ids: { circleId: string; patientId: string; medicationId?: string },
): Promise<BadInputResult> {
  const { circleId, patientId } = ids;
  const caregiver = `Bearer ${await stack.token(CHAOS_USER)}`;
  const stranger = `Bearer ${await stack.token('chaos-stranger')}`;
  // The claims the API expects (issuer, audience, a caregiver's sub), signed with a key it does not know.
  const secret = randomBytes(32).toString('base64url');
  const forged = `Bearer ${await stack.token(CHAOS_USER, { secret })}`;
  const forgedOperator = `Bearer ${await stack.token(CHAOS_USER, { secret, operator: true })}`;
  const med = (over: Record<string, unknown>) => ({
    careCircleId: circleId,
    patientId,
    name: BAD_NAME,
    schedule: { times: ['08:00'] },
    ...over,
  });
  const json = (path: string, body: unknown, method = 'POST') => ({ method, path, body: JSON.stringify(body) });
  const cases: {
    method: string;
    path: string;
    body?: string | Buffer;
    contentType?: string;
    form?: FormData;
    /** The Authorization header; the caregiver's token unless set (null: none). */
    authorization?: string | null;
    /** The one status expected; any 4xx otherwise. */
    expect?: number;
  }[] = [
    { method: 'POST', path: '/v1/care-circles', body: '{"name": "chaos-bad-input",' },
    { method: 'POST', path: '/v1/medications', body: '{"careCircleId": ' },
    { method: 'POST', path: '/v1/medications', body: 'not json at all' },
    { method: 'POST', path: '/v1/care-circles', body: 'name=chaos-bad-input', contentType: 'text/plain' },
    json('/v1/care-circles', { name: 42 }),
    json('/v1/care-circles', [BAD_NAME]),
    json('/v1/care-circles', { name: 'x'.repeat(200 * 1024) }),
    { method: 'POST', path: '/v1/medications', body: Buffer.alloc(2 * 1024 * 1024, 'a') },
    json(`/v1/care-circles/${circleId}/members`, { name: BAD_NAME, role: 'patient', timezone: 'Mars/Olympus' }),
    json(`/v1/care-circles/${circleId}/members`, { name: BAD_NAME, role: 'admiral', timezone: 'UTC' }),
    json(`/v1/care-circles/${circleId}/members`, { name: BAD_NAME, role: 'patient', timezone: 'UTC', email: 42 }),
    json('/v1/medications', med({ name: 123, dosage: ['a'] })),
    json('/v1/medications', med({ schedule: 'twice a day' })),
    json('/v1/medications', med({ schedule: { times: ['25:00'] } })),
    json('/v1/medications', med({ schedule: { times: [] } })),
    json('/v1/medications', med({ schedule: { times: ['08:00'], timezone: 'Europe/Atlantis' } })),
    json('/v1/medications', med({ schedule: { type: 'once', at: '2026-13-45T25:99', timezone: 'UTC' } })),
    json('/v1/medications', med({ schedule: { type: 'once', at: '2020-01-01T08:00', timezone: 'UTC' } })),
    json('/v1/medications', med({ schedule: { type: 'interval', everyHours: 0, firstDoseTime: '08:00' } })),
    json('/v1/medications', med({ schedule: { type: 'weekly', day: 'mon' } })),
    json('/v1/medications', med({ escalationWindowMinutes: -5 })),
    json('/v1/medications', med({ pillCount: 'lots' })),
    json('/v1/medications', med({ careCircleId: 'not-a-uuid' })),
    json('/v1/medications', med({ careCircleId: '00000000-0000-4000-8000-000000000000' })),
    json('/v1/medications', med({ patientId: '00000000-0000-4000-8000-000000000000' })),
    json('/v1/medications', { ...med({}), extra: { deeply: { nested: [1, 2, 3] } }, schedule: null }),
  ];
  if (ids.medicationId) {
    cases.push(json(`/v1/medications/${ids.medicationId}`, { schedule: { times: ['99:99'] } }, 'PATCH'));
    cases.push(
      json(`/v1/medications/${ids.medicationId}/doses/acknowledge`, { doseAt: 'yesterday', action: 'eaten' }, 'POST'),
    );
  }
  // Documents: not multipart; a type the API refuses by its content.
  cases.push({ method: 'POST', path: '/v1/documents', body: '{"file": "x"}', contentType: 'application/json' });
  const exe = new FormData();
  exe.set('careCircleId', circleId);
  exe.set('file', new Blob([Buffer.concat([Buffer.from('MZ\x90\x00'), randomBytes(4096)])]), 'virus.pdf');
  cases.push({ method: 'POST', path: '/v1/documents', form: exe });
  const noCircle = new FormData();
  noCircle.set('file', new Blob([Buffer.from('%PDF-1.7\nhello')]), 'a.pdf');
  cases.push({ method: 'POST', path: '/v1/documents', form: noCircle });

  // Requests that would write if they were signed in: refused before anything is read.
  const validCircle = json('/v1/care-circles', { name: BAD_NAME });
  const validMember = json(`/v1/care-circles/${circleId}/members`, { name: BAD_NAME, role: 'family', timezone: 'UTC' });
  const validMedication = json('/v1/medications', med({ dosage: '1 tablet' }));
  const unauthenticated = (authorization: string | null) => ({ authorization, expect: 401 });
  cases.push(
    { ...validCircle, ...unauthenticated(null) },
    { ...validMedication, ...unauthenticated(null) },
    { ...validCircle, ...unauthenticated('Bearer not-a-token') },
    { ...validCircle, ...unauthenticated('Basic Y2hhb3M6Y2hhb3M=') },
    { ...validCircle, ...unauthenticated(forged) },
    { ...validMember, ...unauthenticated(forged) },
    { ...validMedication, ...unauthenticated(forged) },
    { method: 'GET', path: '/v1/dead-letters', ...unauthenticated(forgedOperator) },
    // Signed in, but not a member of the circle: it does not exist for them.
    { ...validMember, authorization: stranger, expect: 404 },
    { ...validMedication, authorization: stranger, expect: 404 },
  );

  const result: BadInputResult = { requests: 0, failures: [], statuses: {}, resent: 0 };
  for (const c of cases) {
    result.requests++;
    let status = 0;
    let contentType = '';
    const authorization = c.authorization === undefined ? caregiver : c.authorization;
    const send = () =>
      fetch(`${stack.apiUrl}${c.path}`, {
        method: c.method,
        headers: {
          ...(authorization === null ? {} : { authorization }),
          ...(c.form || c.body === undefined ? {} : { 'content-type': c.contentType ?? 'application/json' }),
        },
        body: c.form ?? c.body,
        signal: AbortSignal.timeout(30_000),
      });
    try {
      // After a 413 the server closes the connection while the client may still be sending; the
      // next request on that kept-alive socket can fail on the client side: send it again once.
      const res = await send().catch(() => {
        result.resent++;
        return send();
      });
      status = res.status;
      contentType = res.headers.get('content-type') ?? '';
      await res.arrayBuffer();
    } catch (err) {
      result.failures.push(`${c.method} ${c.path}: ${(err as Error).message}`);
      continue;
    }
    result.statuses[status] = (result.statuses[status] ?? 0) + 1;
    const expected = c.expect === undefined ? status >= 400 && status < 500 : status === c.expect;
    if (!expected || !contentType.includes('application/problem+json')) {
      const auth = c.authorization === undefined ? '' : ` (authorization: ${c.authorization?.slice(0, 20) ?? 'none'})`;
      result.failures.push(
        `${c.method} ${c.path}${auth} ${String(c.body ?? 'form').slice(0, 60)}: ${status} ${contentType}` +
          (c.expect === undefined ? '' : `, expected ${c.expect}`),
      );
    }
  }
  return result;
}

// ── 3. API answers while the database is down ────────────────────────────────────────────────
export interface ProbeResult {
  requests: number;
  statuses: Record<string, number>;
  /** 5xx answers other than 503, and failed connections. */
  failures: string[];
}

export function probeApi(caller: ApiCaller, medicationId: string): { stop(): Promise<ProbeResult> } {
  const result: ProbeResult = { requests: 0, statuses: {}, failures: [] };
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [method, path, body] of [
        ['GET', `/v1/medications/${medicationId}`, undefined],
        ['POST', '/v1/care-circles', { name: 'chaos probe' }],
        ['GET', '/health', undefined],
      ] as const) {
        result.requests++;
        try {
          const res = await api(caller, method, path, body, { signal: AbortSignal.timeout(15_000) });
          const key = `${method} ${path.replace(/[0-9a-f-]{36}/, ':id')} ${res.status}`;
          result.statuses[key] = (result.statuses[key] ?? 0) + 1;
          if (res.status >= 500 && res.status !== 503) result.failures.push(`${key} ${JSON.stringify(res.body)}`);
        } catch (err) {
          result.failures.push(`${method} ${path}: ${(err as Error).message}`);
        }
      }
      await delay(1_000);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return result;
    },
  };
}

// ── 5. SIGTERM during a long document upload ─────────────────────────────────────────────────
export interface UploadResult {
  ok: boolean;
  detail: string;
  sizeBytes: number;
  chunks: number;
  chunkRequests: number;
  progressAtSigterm: number;
  workerExit: string;
  attempts: number;
  filesStored: number;
  intact: boolean;
  seconds: number;
}

export async function interruptedUpload(
  stack: Stack,
  caller: ApiCaller,
  circleId: string,
  log: (l: string) => void,
): Promise<UploadResult> {
  const started = Date.now();
  const size = 2 * 1024 * 1024 + 777;
  const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(size - 9)]);
  const sha = createHash('sha256').update(bytes).digest('hex');
  // Each chunk takes 250 ms at the "provider": the whole upload about 8 s.
  stack.fake.cloudinary.respondWith(() => ({ kind: 'delay', ms: 250 }));
  const form = new FormData();
  form.set('careCircleId', circleId);
  form.set('file', new Blob([bytes], { type: 'application/pdf' }), 'chaos-scan.pdf');
  const res = await fetch(`${caller.url}/v1/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller.token}` },
    body: form,
  });
  const accepted = (await res.json()) as { id: string };
  if (res.status !== 202) throw new Error(`POST /v1/documents answered ${res.status}: ${JSON.stringify(accepted)}`);
  const id = accepted.id;
  const doc = async () => (await api(caller, 'GET', `/v1/documents/${id}`)).body as Record<string, unknown>;

  let progress = 0;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await delay(100)) {
    progress = Number((await doc()).progress ?? 0);
    if (progress >= 0.3) break;
  }
  log(`document ${id}: SIGTERM to the worker at ${Math.round(progress * 100)} %`);
  const workerExit = await stack.signalWorker('SIGTERM');
  await stack.startWorker();

  let last: Record<string, unknown> = {};
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; await delay(500)) {
    last = await doc();
    if (last.status === 'uploaded' || last.status === 'failed') break;
  }
  stack.fake.cloudinary.respondWith(null);

  const stored = stack.fake.cloudinary.uploads.filter((u) => u.resource.public_id.endsWith(id));
  const intact = stored.length === 1 && createHash('sha256').update(stored[0]!.content).digest('hex') === sha;
  const chunkRequests = stack.fake.cloudinary.requests.filter((r) => r.uploadId?.endsWith(id)).length;
  const chunks = Math.ceil(bytes.length / (64 * 1024));
  const attempts = Number(last.attempts ?? 0);
  const problems: string[] = [];
  if (last.status !== 'uploaded') problems.push(`status ${String(last.status)} (${String(last.error ?? '')})`);
  if (stored.length !== 1) problems.push(`${stored.length} files stored`);
  if (!intact) problems.push('stored bytes differ');
  if (attempts < 2) problems.push('the SIGTERM did not interrupt the upload (1 attempt)');
  if (workerExit !== 'exit code 0') problems.push(`worker exit: ${workerExit}`);
  // At most the chunk in flight is sent again.
  if (chunkRequests > chunks + 1) problems.push(`${chunkRequests} chunk requests for ${chunks} chunks`);
  return {
    ok: problems.length === 0,
    detail: problems.join('; ') || 'ok',
    sizeBytes: bytes.length,
    chunks,
    chunkRequests,
    progressAtSigterm: progress,
    workerExit,
    attempts,
    filesStored: stored.length,
    intact,
    seconds: (Date.now() - started) / 1000,
  };
}
