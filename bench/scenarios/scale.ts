/**
 * Scale: M sleeping medication schedules (workflows waiting on a timer for a dose a month away).
 * Measured at each step (by default 1,000 then 10,000): the worker process's RSS and V8 heap (the
 * production worker, alone in its process), the Temporal dev server's RSS, and how long starting
 * them took (accepted by Temporal, then asleep: first workflow task done, `NextDoseAt` set).
 * Cost per 1,000 = growth between the last two steps ÷ thousands added.
 *
 * Workflows are started with the Temporal client exactly as the API starts them (same id, input,
 * search attributes, summary), after their medication rows were written in bulk: the API's own
 * cost is the API scenario's subject.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { DateTime } from 'luxon';
import { startWorkflow } from '../../api/workflow-calls.ts';
import { config } from '../../shared/config.ts';
import { medicationWorkflowId } from '../../shared/ids.ts';
import type { MedicationSchedule } from '../../shared/schedule.ts';
import { TASK_QUEUES } from '../../shared/task-queues.ts';
import {
  cpuSeconds,
  type Log,
  makeTempDir,
  rssBytes,
  Stack,
  startScenarioServices,
  startWorker,
  type WorkerTuning,
} from '../lib/env.ts';
import { seedPatients } from '../lib/seed.ts';
import { mapLimit, mib, round, waitUntil } from '../lib/stats.ts';
import { medicationWorkflowStart } from '../../workflows/medication-start.ts';

export interface ScaleStep {
  sleeping: number;
  /** Starting the workflows added at this step: until Temporal accepted all, and until all slept. */
  startMs: number;
  asleepMs: number;
  startsPerSecond: number;
  /** Once asleep and settled (RSS no longer falling): what the schedules cost while they sleep. */
  workerRssMiB: number;
  /** Highest worker RSS seen while they were being started (transient). */
  workerPeakRssMiB: number;
  workerHeapUsedMiB: number;
  workerHeapTotalMiB: number;
  serverRssMiB: number;
  /** CPU seconds the worker and the Temporal server used for this step's starts. */
  cpuSeconds: { worker: number; temporal: number };
}

export interface ScaleResult {
  scenario: 'scale';
  steps: ScaleStep[];
  /** Growth per 1,000 sleeping schedules between the last two steps. */
  costPer1000: { workerRssMiB: number; workerHeapUsedMiB: number; serverRssMiB: number; startSeconds: number };
  /** Per worker: the run's tuning, else sized from WORKER_MEMORY_BUDGET_MB (workers/build.ts). */
  maxCachedWorkflows: number | 'from the memory budget';
}

export interface ScaleOptions {
  steps: number[];
  pgAdminUrl: string;
  providerLatencyMs: number;
  emailRatePerMinute: number;
  tuning: WorkerTuning;
  log: Log;
  concurrency?: number;
}

/**
 * After a start storm the worker's RSS stays high for a while (garbage in the workflow isolate,
 * allocator arenas), then falls: sample until it stops falling.
 */
const SETTLE_EVERY_MS = 5_000;
const SETTLE_QUIET_MS = 30_000;
const SETTLE_MAX_MS = 120_000;

async function settledRss(pid: number): Promise<number> {
  const started = Date.now();
  let low = rssBytes(pid);
  let lowAt = started;
  while (Date.now() - started < SETTLE_MAX_MS && Date.now() - lowAt < SETTLE_QUIET_MS) {
    await delay(SETTLE_EVERY_MS);
    const rss = rssBytes(pid);
    // A new low by more than 1% restarts the quiet period (V8 frees the workflow isolate's garbage
    // some seconds after the work stops, and the allocator returns it to the system after that).
    if (rss < low * 0.99) lowAt = Date.now();
    low = Math.min(low, rss);
  }
  return rssBytes(pid);
}

/** Tracks the highest RSS of a process while `run` runs. */
async function peakRssDuring<T>(pid: number, run: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = rssBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 500);
  try {
    const result = await run();
    return { result, peak: Math.max(peak, rssBytes(pid)) };
  } finally {
    clearInterval(timer);
  }
}

export async function runScale(opts: ScaleOptions): Promise<ScaleResult> {
  const dir = makeTempDir('scale');
  const stack = new Stack();
  try {
    const { db, temporal, settings } = await startScenarioServices(stack, dir, opts);
    const worker = await startWorker(settings, { mode: 'app' });
    stack.push('worker', () => worker.stop());
    const patients = await seedPatients(db.prisma, 100, { channels: ['push', 'email', 'in_app'] });
    const firstDay = DateTime.utc().plus({ days: 30 }).toISODate()!;
    const client = temporal.client;

    const measure = async (
      sleeping: number,
      startMs: number,
      asleepMs: number,
      cpu: ScaleStep['cpuSeconds'],
      peak: number,
    ): Promise<ScaleStep> => {
      const rss = await settledRss(worker.pid);
      const memory = await worker.memory();
      const added = sleeping - (steps[steps.length - 1]?.sleeping ?? 0);
      return {
        sleeping,
        startMs,
        asleepMs,
        startsPerSecond: added > 0 ? round(added / (asleepMs / 1000), 1) : 0,
        workerRssMiB: mib(rss),
        workerPeakRssMiB: mib(Math.max(peak, rss)),
        workerHeapUsedMiB: mib(memory.heapUsedBytes),
        workerHeapTotalMiB: mib(memory.heapTotalBytes),
        serverRssMiB: mib(rssBytes(temporal.pid)),
        cpuSeconds: cpu,
      };
    };

    const steps: ScaleStep[] = [];
    steps.push(await measure(0, 0, 0, { worker: 0, temporal: 0 }, 0));
    let total = 0;
    for (const target of opts.steps) {
      const count = target - total;
      if (count <= 0) continue;
      const meds = Array.from({ length: count }, (_, i) => {
        const patient = patients[(total + i) % patients.length]!;
        const schedule: MedicationSchedule = {
          type: 'times',
          times: ['08:00', '20:00'],
          timezone: patient.timezone,
          startDate: firstDay,
        };
        return { id: randomUUID(), patient, schedule };
      });
      for (let i = 0; i < meds.length; i += 1000) {
        await db.prisma.medication.createMany({
          data: meds.slice(i, i + 1000).map(({ id, patient, schedule }, j) => ({
            id,
            careCircleId: patient.circleId,
            patientId: patient.patientId,
            name: `Sleeping medication ${total + i + j}`,
            schedule: schedule as object,
            workflowId: medicationWorkflowId(id),
          })),
        });
      }
      opts.log(`scale: starting ${count} schedules (to ${target})`);
      const t0 = Date.now();
      const cpu0 = { worker: cpuSeconds(worker.pid), temporal: cpuSeconds(temporal.pid) };
      let startMs = 0;
      const { peak } = await peakRssDuring(worker.pid, async () => {
        // Started as the API starts them (same input, search attributes and summary), without the HTTP hop.
        await mapLimit(meds, opts.concurrency ?? 50, ({ id, patient, schedule }) =>
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
        startMs = Date.now() - t0;
        // Asleep = the worker ran the first workflow task, which sets NextDoseAt before the timer.
        const asleep = await waitUntil(
          async () =>
            (await client.workflow.count('WorkflowType = "medicationReminderWorkflow" AND NextDoseAt IS NOT NULL'))
              .count >= target,
          600_000,
          2_000,
        );
        if (!asleep) opts.log(`scale: not every schedule was asleep after 10 minutes`);
      });
      total = target;
      const asleepMs = Date.now() - t0;
      const step = await measure(
        total,
        startMs,
        asleepMs,
        {
          worker: round(cpuSeconds(worker.pid) - cpu0.worker, 1),
          temporal: round(cpuSeconds(temporal.pid) - cpu0.temporal, 1),
        },
        peak,
      );
      steps.push(step);
      opts.log(
        `scale: ${total} sleeping (started in ${(startMs / 1000).toFixed(1)} s, asleep after ${(asleepMs / 1000).toFixed(1)} s); ` +
          `worker RSS ${step.workerRssMiB} MiB (peak ${step.workerPeakRssMiB}), heap ${step.workerHeapUsedMiB} MiB; ` +
          `server RSS ${step.serverRssMiB} MiB`,
      );
    }
    const [a, b] = steps.slice(-2) as [ScaleStep, ScaleStep];
    const k = (b.sleeping - a.sleeping) / 1000;
    return {
      scenario: 'scale',
      steps,
      costPer1000: {
        workerRssMiB: round((b.workerRssMiB - a.workerRssMiB) / k, 1),
        workerHeapUsedMiB: round((b.workerHeapUsedMiB - a.workerHeapUsedMiB) / k, 1),
        serverRssMiB: round((b.serverRssMiB - a.serverRssMiB) / k, 1),
        startSeconds: round(b.asleepMs / 1000 / k, 2),
      },
      maxCachedWorkflows: opts.tuning.maxCachedWorkflows ?? 'from the memory budget',
    };
  } finally {
    await stack.close(opts.log);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
