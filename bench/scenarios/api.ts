/**
 * API: `POST /v1/medications` at a fixed concurrency (autocannon), against the API process on the
 * embedded defaults (its own pool sizes and timeouts, the Temporal dev server with its SQLite file,
 * the worker running beside it as in production). Each request validates, writes the medication and
 * starts its workflow, as one signed-in caregiver (bearer token; the API's rate limits lifted, see
 * startApi). The replaced design's reference is 160 ms per request.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import type { Client } from '@temporalio/client';
import autocannon from 'autocannon';
import { startWorkflow } from '../../api/workflow-calls.ts';
import { config } from '../../shared/config.ts';
import type { PrismaClient } from '../../shared/db.ts';
import { medicationWorkflowId } from '../../shared/ids.ts';
import type { MedicationSchedule } from '../../shared/schedule.ts';
import { TASK_QUEUES } from '../../shared/task-queues.ts';
import {
  BENCH_USER,
  cpuSeconds,
  type Log,
  makeTempDir,
  pidsOf,
  Stack,
  startApi,
  startScenarioServices,
  startWorkers,
  type WorkerTuning,
} from '../lib/env.ts';
import { seedPatients, type SeededPatient } from '../lib/seed.ts';
import { mapLimit, round } from '../lib/stats.ts';
import { medicationWorkflowStart } from '../../workflows/medication-start.ts';

export const SEED_API_REFERENCE_MS = 160;

export interface ApiResult {
  scenario: 'api';
  requests: number;
  connections: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  durationS: number;
  /** Medications in the database afterwards, warm-up included: each 201 wrote exactly one. */
  medicationsWritten: number;
  seedReferenceMs: number;
  cpuSeconds: Record<string, number>;
  /** The same request from a single client, one at a time: latency without queueing. */
  singleClient: { requests: number; p50: number; p99: number; throughputPerSecond: number };
  /** Reads at the same concurrency: GET /v1/medications/:id over the created ones, and the circle's list. */
  reads: {
    get: { p50: number; p99: number; throughputPerSecond: number; non2xx: number };
    list: { p50: number; p99: number; throughputPerSecond: number; non2xx: number };
    /** The worse of the two p99s. */
    p99: number;
  };
  /**
   * `client.workflow.start` of the same workflow (input, search attributes, queue) straight from a
   * Temporal client, at the same concurrency on the same server; and POST's throughput ÷ it.
   */
  bareStart: { starts: number; throughputPerSecond: number };
  createVsBareStart: number;
}

export interface ApiOptions {
  requests: number;
  connections: number;
  pgAdminUrl: string;
  providerLatencyMs: number;
  emailRatePerMinute: number;
  tuning: WorkerTuning;
  log: Log;
}

const WARM_UP_REQUESTS = 200;
const SINGLE_CLIENT_REQUESTS = 200;

export async function runApi(opts: ApiOptions): Promise<ApiResult> {
  const dir = makeTempDir('api');
  const stack = new Stack();
  try {
    const { db, temporal, settings } = await startScenarioServices(stack, dir, opts);
    const [workers, api] = await Promise.all([startWorkers(settings, { mode: 'app' }), startApi(settings)]);
    for (const worker of workers) stack.push('worker', () => worker.stop());
    stack.push('API', () => api.stop());
    // BENCH_USER, a caregiver of the patient's circle, sends every request.
    const [patient] = await seedPatients(db.prisma, 1, {
      channels: ['push', 'email', 'in_app'],
      caregiver: BENCH_USER,
    });
    const body = JSON.stringify({
      careCircleId: patient!.circleId,
      patientId: patient!.patientId,
      name: 'Metformin',
      dosage: '500 mg',
      schedule: { times: ['08:00', '20:00'] },
    });
    const request = {
      url: `${api.url}/v1/medications`,
      method: 'POST' as const,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await api.token(BENCH_USER)}` },
      body,
    };

    opts.log(`api: warm-up (${WARM_UP_REQUESTS} requests, 10 connections)`);
    await autocannon({ ...request, connections: 10, amount: WARM_UP_REQUESTS });
    const single = await autocannon({ ...request, connections: 1, amount: SINGLE_CLIENT_REQUESTS });

    opts.log(`api: ${opts.requests} requests, ${opts.connections} connections`);
    const pids = { api: api.pid, ...pidsOf('worker', workers), temporal: temporal.pid, bench: process.pid };
    const cpuBefore = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const result = await autocannon({ ...request, connections: opts.connections, amount: opts.requests });
    const cpu = Object.fromEntries(
      Object.entries(pids).map(([k, pid]) => [k, round(cpuSeconds(pid) - (cpuBefore[k] ?? 0), 2)]),
    );
    const written = await db.prisma.medication.count();

    opts.log(`api: reads, ${opts.requests} requests each, ${opts.connections} connections`);
    const auth = { authorization: request.headers.authorization };
    const ids = (await db.prisma.medication.findMany({ select: { id: true }, take: 1_000 })).map((r) => r.id);
    let next = 0;
    const gets = await autocannon({
      url: api.url,
      headers: auth,
      connections: opts.connections,
      amount: opts.requests,
      requests: [
        { method: 'GET', setupRequest: (req) => ({ ...req, path: `/v1/medications/${ids[next++ % ids.length]}` }) },
      ],
    });
    const lists = await autocannon({
      url: `${api.url}/v1/medications?careCircleId=${patient!.circleId}&limit=20`,
      headers: auth,
      connections: opts.connections,
      amount: opts.requests,
    });
    const readFigures = (r: autocannon.Result) => ({
      p50: r.latency.p50,
      p99: r.latency.p99,
      throughputPerSecond: round(r['2xx'] / r.duration, 1),
      non2xx: r.non2xx,
    });

    opts.log(`api: ${opts.requests} bare client.workflow.start calls, ${opts.connections} at once`);
    const bareStarts = await bareStartThroughput(db.prisma, temporal.client, patient!, opts.requests, opts.connections);
    const ok = result['2xx'];
    const out: ApiResult = {
      scenario: 'api',
      requests: opts.requests,
      connections: opts.connections,
      throughputPerSecond: round(ok / result.duration, 1),
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
        mean: round(result.latency.mean, 1),
      },
      non2xx: result.non2xx,
      errors: result.errors,
      durationS: round(result.duration, 1),
      medicationsWritten: written,
      seedReferenceMs: SEED_API_REFERENCE_MS,
      cpuSeconds: cpu,
      singleClient: {
        requests: SINGLE_CLIENT_REQUESTS,
        p50: single.latency.p50,
        p99: single.latency.p99,
        throughputPerSecond: round(single['2xx'] / single.duration, 1),
      },
      reads: {
        get: readFigures(gets),
        list: readFigures(lists),
        p99: Math.max(gets.latency.p99, lists.latency.p99),
      },
      bareStart: bareStarts,
      createVsBareStart: round(ok / result.duration / bareStarts.throughputPerSecond, 2),
    };
    opts.log(
      `api: ${out.throughputPerSecond} req/s, p50 ${out.latencyMs.p50} ms, p99 ${out.latencyMs.p99} ms, ` +
        `${out.non2xx} non-2xx, ${out.errors} errors; one client: p50 ${out.singleClient.p50} ms`,
    );
    return out;
  } finally {
    await stack.close(opts.log);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts `count` medication workflows straight from a Temporal client, `concurrency` at once, as
 * the API starts them (same input, search attributes, summary and queue; their rows written first,
 * untimed): the engine's part of a create.
 */
async function bareStartThroughput(
  prisma: PrismaClient,
  client: Client,
  patient: SeededPatient,
  count: number,
  concurrency: number,
): Promise<{ starts: number; throughputPerSecond: number }> {
  const schedule: MedicationSchedule = { type: 'times', times: ['08:00', '20:00'], timezone: patient.timezone };
  const rows = Array.from({ length: count }, (_, i) => ({ id: randomUUID(), name: `Bare start ${i}` }));
  await prisma.medication.createMany({
    data: rows.map(({ id, name }) => ({
      id,
      careCircleId: patient.circleId,
      patientId: patient.patientId,
      name,
      schedule: schedule as object,
      workflowId: medicationWorkflowId(id),
    })),
  });
  const t0 = Date.now();
  await mapLimit(rows, concurrency, ({ id }) =>
    startWorkflow(
      client,
      medicationWorkflowStart(
        {
          id,
          workflowId: medicationWorkflowId(id),
          careCircleId: patient.circleId,
          patientId: patient.patientId,
          schedule: schedule as object,
          escalationWindowMinutes: 30,
          status: 'active',
        },
        TASK_QUEUES.medication,
        config().DOSE_ARM_LEAD_SECONDS,
      ),
    ),
  );
  return { starts: count, throughputPerSecond: round(count / ((Date.now() - t0) / 1000), 1) };
}
