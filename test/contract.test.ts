/**
 * The API against Schemathesis, a tool that knows nothing of this project but its OpenAPI
 * document: every operation, every check (`--checks all`), the examples, coverage, fuzzing and
 * stateful phases (the latter follows the document's links: a created circle, member, medication,
 * appointment, shift, document and a listed dead letter feed the operations that need their ids),
 * once as each kind of user: a caregiver, a patient, a family member and an operator.
 *
 * The system under test runs as it does in production, on free ports: a scratch database, the
 * Temporal dev server, the project's workers on the real task queues and the API over HTTP. Path
 * ids are pinned to a seeded circle (schemathesis.toml), so each role meets real resources it may
 * or may not touch instead of random UUIDs that are simply not found.
 *
 * Schemathesis lives in .tools/venv (scripts/install-tools.mjs puts it there at `npm install`);
 * without Python the test is skipped with the reason. `npm run test:contract` runs this file alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/app.ts';
import { projectRoot } from '../shared/config.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import { asUser, server, testTokens, tokenFor, type UserClient } from './helpers/api-auth.ts';
import { CARE_WORKLOADS, createCareEnv, type CareEnv } from './helpers/care-env.ts';

const SCHEMATHESIS = path.join(projectRoot, '.tools', 'venv', 'bin', 'schemathesis');
const installed = fs.existsSync(SCHEMATHESIS);

/**
 * Cases per operation and phase: what keeps four runs within a few minutes on two busy cores.
 * CONTRACT_MAX_EXAMPLES raises it for a deeper run by hand.
 */
const MAX_EXAMPLES = Number(process.env.CONTRACT_MAX_EXAMPLES ?? 8);

const ROLES = [
  // The operator first and the caregiver last: the caregiver deletes and pauses what the others read.
  { role: 'operator', userId: 'contract-operator', operator: true },
  { role: 'family', userId: 'contract-family', operator: false },
  { role: 'patient', userId: 'contract-patient', operator: false },
  { role: 'caregiver', userId: 'contract-caregiver', operator: false },
] as const;

let care: CareEnv;
let http: ServerType;
let baseUrl: string;
let workDir: string;
let stopWorkers: () => void = () => {};
let workersStopped: Promise<void> = Promise.resolve();
const ids: Record<string, string> = {};
let spec: Spec;
const running = new Set<ChildProcess>();

const HOUR = 3_600_000;
const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 60_000) * 60_000).toISOString();

async function seed(caregiver: UserClient): Promise<void> {
  const created = async (res: Response | Promise<Response>) => {
    const r = await res;
    expect([201, 202], await r.clone().text()).toContain(r.status);
    return ((await r.json()) as { id: string }).id;
  };
  ids.circle = await created(caregiver.post('/v1/care-circles', { name: 'Contract family' }));
  const member = (body: Record<string, unknown>) =>
    created(caregiver.post(`/v1/care-circles/${ids.circle}/members`, { timezone: 'Europe/Paris', ...body }));
  ids.patient = await member({
    name: 'Marie',
    role: 'patient',
    email: 'marie@example.com',
    userId: 'contract-patient',
  });
  ids.family = await member({ name: 'Eve', role: 'family', userId: 'contract-family' });
  ids.medication = await created(
    caregiver.post('/v1/medications', {
      careCircleId: ids.circle,
      patientId: ids.patient,
      name: 'Levothyroxine',
      schedule: { type: 'times', times: ['08:00'], timezone: 'Europe/Paris' },
    }),
  );
  ids.appointment = await created(
    caregiver.post('/v1/appointments', {
      careCircleId: ids.circle,
      patientId: ids.patient,
      title: 'Cardiology',
      startsAt: at(72 * HOUR),
    }),
  );
  ids.shift = await created(
    caregiver.post('/v1/shifts', { careCircleId: ids.circle, startsAt: at(72 * HOUR), endsAt: at(80 * HOUR) }),
  );
  ids.notification = await created(
    caregiver.post(`/v1/care-circles/${ids.circle}/notifications`, { title: 'Hello', body: 'First message' }),
  );
  const form = new FormData();
  form.set('careCircleId', ids.circle);
  form.set('file', new File(['care plan'], 'plan.txt', { type: 'text/plain' }));
  ids.document = await created(caregiver.request('/v1/documents', { method: 'POST', body: form }));
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
}

const POSITIVE_DATA_ACCEPTED = ['2xx', '3xx', '401', '403', '404', '409', '429', '5xx'];

/** Path ids of the seeded circle, by the start of the operation's path. */
function seededIds(): [RegExp, Record<string, string>][] {
  return [
    [
      /^\/v1\/care-circles\/\{id\}/,
      { 'path.id': ids.circle!, 'path.memberId': ids.family!, 'path.notificationId': ids.notification! },
    ],
    [/^\/v1\/medications\/\{id\}/, { 'path.id': ids.medication! }],
    [/^\/v1\/appointments\/\{id\}/, { 'path.id': ids.appointment! }],
    [/^\/v1\/shifts\/\{id\}/, { 'path.id': ids.shift! }],
    [/^\/v1\/documents\/\{id\}/, { 'path.id': ids.document! }],
    [/^\/v1\/members\/\{id\}/, { 'path.id': ids.family! }],
    [/^\/v1\/patients\/\{id\}/, { 'path.id': ids.patient! }],
    [/^\/v1\/dead-letters\/\{id\}/, { 'path.id': ids.deadLetter! }],
  ];
}

type Spec = { paths: Record<string, Record<string, { responses: Record<string, { 'x-beyond-schema'?: string[] }> }>> };

/**
 * One entry per operation:
 * - a status the document marks `x-beyond-schema` (a rule JSON Schema cannot say, such as "endsAt
 *   after startsAt", listed in the response) may answer a schema-valid request; no other 4xx may;
 * - with `pinned`, path ids name the seeded circle's resources, so a patient or a family member
 *   meets their own circle (and their role's limits) rather than random ids. The caregiver's run
 *   pins nothing: its stateful phase reaches real resources through the links alone.
 */
function schemathesisConfig(spec: Spec, pinned: boolean): string {
  const str = (v: string) => JSON.stringify(v);
  const entries: string[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      // The label names one operation; include-path with include-method would match either.
      const lines = ['[[operations]]', `include-name = ${str(`${method.toUpperCase()} ${path}`)}`];
      const beyond = Object.entries(operation.responses)
        .filter(([, r]) => r['x-beyond-schema'])
        .map(([status]) => status);
      if (beyond.length > 0) {
        lines.push(
          `checks.positive_data_acceptance.expected-statuses = [${[...POSITIVE_DATA_ACCEPTED, ...beyond].map(str).join(', ')}]`,
        );
      }
      const pins = pinned ? seededIds().find(([prefix]) => prefix.test(path))?.[1] : undefined;
      if (pins) {
        const used = Object.entries(pins).filter(([k]) => path.includes(`{${k.slice('path.'.length)}}`));
        lines.push(`parameters = { ${used.map(([k, v]) => `${str(k)} = ${str(v)}`).join(', ')} }`);
      }
      if (lines.length > 2) entries.push(lines.join('\n'));
    }
  }
  return `${entries.join('\n\n')}\n`;
}

/** "43 operations, 1081 cases, 0 failures, 18.0 s" from Schemathesis's summary. */
function summarize(output: string): string {
  const tested = /^\s*Tested: (\d+)/m.exec(output)?.[1] ?? '?';
  const cases = /^Test cases:\s*\n\s*(.+)$/m.exec(output)?.[1]?.trim() ?? '?';
  const last = /^=+ (.+) =+\s*$/m.exec(output.split('\n').slice(-3).join('\n'))?.[1] ?? '';
  return `${tested} operations; ${cases}; ${last}`;
}

interface RunResult {
  code: number | null;
  output: string;
}

/**
 * The document as served, but for one thing: the TimeZone enum (every IANA name, some 600) is cut
 * to a sample, or the coverage phase would send one request per name for each time zone field.
 * The server still checks the full list; the names left out are not among Schemathesis's
 * "invalid" values, which are made-up strings.
 */
const TIME_ZONE_SAMPLE = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Asia/Calcutta', 'Etc/GMT+9'];
function documentUnderTest(served: Spec): Spec {
  const copy = structuredClone(served) as Spec & { components: { schemas: Record<string, { enum?: string[] }> } };
  const zones = copy.components.schemas.TimeZone!;
  expect(zones.enum).toEqual(expect.arrayContaining(TIME_ZONE_SAMPLE));
  zones.enum = TIME_ZONE_SAMPLE;
  return copy;
}

function runSchemathesis(token: string, name: string, pinned: boolean): Promise<RunResult> {
  const configFile = path.join(workDir, `${name}.toml`);
  fs.writeFileSync(configFile, schemathesisConfig(spec, pinned));
  const args = [
    '--config-file',
    configFile,
    'run',
    path.join(workDir, 'openapi.json'),
    '--url',
    baseUrl,
    '--checks',
    'all',
    '--header',
    `Authorization: Bearer ${token}`,
    '--max-examples',
    String(MAX_EXAMPLES),
    '--seed',
    '1',
    '--generation-database',
    'none',
    '--no-color',
    // One worker: Hypothesis parses source code while it generates, which Python 3.11 cannot do
    // from two threads at once ("AST constructor recursion depth mismatch").
    '--workers',
    '1',
    // Links feed the stateful phase real ids; pinned ids would overrule them.
    // The caregiver's run is the thorough one: every phase, valid and invalid data. The other roles
    // check what their role may do with valid requests to the seeded circle, which is quick.
    '--phases',
    pinned ? 'examples,fuzzing' : 'examples,coverage,fuzzing,stateful',
    '--mode',
    pinned ? 'positive' : 'all',
    '--report',
    'junit',
    '--report-dir',
    path.join(workDir, name),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, { cwd: workDir, env: { ...process.env, NO_COLOR: '1' } });
    running.add(child);
    child.on('exit', () => running.delete(child));
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe.skipIf(!installed)('Schemathesis against the running system', () => {
  beforeAll(async () => {
    care = await createCareEnv({
      server: 'local',
      workloads: [...CARE_WORKLOADS, 'medication', 'deadLetters'],
    });
    const app = createApp(
      {
        prisma: care.db.prisma,
        temporal: care.env.client,
        taskQueue: TASK_QUEUES.medication,
        devOutbox: true,
        tokens: testTokens(),
        rateLimits: { perUser: 1_000_000, perAddress: 1_000_000 },
      },
      (err) => console.error('unhandled error in request', err),
    );
    http = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    stopWorkers = release;
    workersStopped = care.run(() => held);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carecircle-contract-'));
    await seed(await asUser(server(baseUrl), 'contract-caregiver'));
    spec = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as Spec;
    fs.writeFileSync(path.join(workDir, 'openapi.json'), JSON.stringify(documentUnderTest(spec)));
  }, 180_000);

  afterAll(async () => {
    // A run cut off by the test's timeout must not outlive it.
    for (const child of running) child.kill('SIGKILL');
    stopWorkers();
    await workersStopped;
    await new Promise((resolve) => http?.close(resolve));
    await care?.teardown();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  for (const { role, userId, operator } of ROLES) {
    it(`finds nothing as a ${role}`, async () => {
      const token = await tokenFor(userId, { operator, ttlSeconds: 3600 });
      const { code, output } = await runSchemathesis(token, role, role !== 'caregiver');
      console.log(`[contract] ${role}: ${summarize(output)}`);
      expect(code, output).toBe(0);
    }, 300_000);
  }
});

if (!installed) {
  describe('Schemathesis', () => {
    it.skip(`is not installed (${path.relative(projectRoot, SCHEMATHESIS)}): run npm install with Python 3 available`, () => {});
  });
}
