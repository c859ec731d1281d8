/**
 * The periodic jobs on the real dev server (Temporal CLI: the time-skipping server has no
 * Schedules) with PostgreSQL: the schedules exist after start-up and are updated, not duplicated,
 * on the next; the reconciliation restarts a missing medication workflow once; the daily digest
 * tells caregivers yesterday's doses, once; the clean-up deletes old records but keeps those an
 * open dead letter still needs.
 */
import { WorkflowIdReusePolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import { config } from '../shared/config.ts';
import { medicationReconcilerOf } from '../workers/reconcilers.ts';
import { medicationWorkflowStart } from '../workflows/medication-start.ts';
import { scheduleDrift } from '../shared/metrics.ts';
import { OutboxEmailSender, OutboxPushSender } from '../providers/dev-outbox.ts';
import { loadConfig } from '../shared/config.ts';
import { TASK_QUEUES, taskQueueSettings } from '../shared/task-queues.ts';
import type { DailyDigestResult, ReconcileResult } from '../workflows/index.ts';
import { buildWorker, buildWorkers } from '../workers/build.ts';
import { ensureSchedules, SCHEDULE_IDS } from '../workers/schedules.ts';
import { createTestDatabase, seedPatientWithMedication, type TestDatabase } from './helpers/database.ts';
import { createLocalEnv } from './helpers/temporal-env.ts';

/** Restarted medication workflows land here, where no worker polls: they stay Running, untouched. */
const PARKED_QUEUE = 'parked-medications';

let env: TestWorkflowEnvironment;
let db: TestDatabase;
let workers: Worker[];
let running: Promise<unknown>;

beforeAll(async () => {
  [env, db] = await Promise.all([createLocalEnv(), createTestDatabase()]);
  const activities = createActivities({
    prisma: db.prisma,
    push: new OutboxPushSender(db.prisma),
    email: new OutboxEmailSender(db.prisma),
    temporal: env.client,
    reconcilers: {
      medication: medicationReconcilerOf(db.prisma, { ...config(), MEDICATION_TASK_QUEUE: PARKED_QUEUE }),
    },
  });
  workers = await buildWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    settings: taskQueueSettings(loadConfig({})),
    workloads: ['maintenance', 'notifications', 'email'],
    activities,
  });
  running = Promise.all(workers.map((w) => w.run()));
}, 180_000);

afterAll(async () => {
  for (const w of workers ?? []) w.shutdown();
  await running;
  await Promise.all([env?.teardown(), db?.drop()]);
});

describe('schedules', () => {
  it('exist after start-up, and a second start updates them instead of failing or duplicating', async () => {
    const cfg = loadConfig({});
    expect(await ensureSchedules(env.client, cfg)).toEqual({
      [SCHEDULE_IDS.dailyDigest]: 'created',
      [SCHEDULE_IDS.reconcile]: 'created',
      [SCHEDULE_IDS.cleanup]: 'created',
    });
    const changed = loadConfig({ DAILY_DIGEST_CRON: '0 8 * * *', NOTIFICATION_RETENTION_DAYS: '30' });
    expect(Object.values(await ensureSchedules(env.client, changed))).toEqual(['updated', 'updated', 'updated']);

    const ids: string[] = [];
    for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
    expect(ids.sort()).toEqual(Object.values(SCHEDULE_IDS).sort());

    const digest = await env.client.schedule.getHandle(SCHEDULE_IDS.dailyDigest).describe();
    expect(digest.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 8, end: 8, step: 1 }] });
    expect(digest.action).toMatchObject({ workflowType: 'dailyDigestWorkflow', taskQueue: TASK_QUEUES.maintenance });
    const cleanup = await env.client.schedule.getHandle(SCHEDULE_IDS.cleanup).describe();
    expect(cleanup.action.type === 'startWorkflow' && cleanup.action.args).toEqual([{ retentionDays: 30 }]);
  });
});

describe('reconciliation', () => {
  it("restarts an active medication's missing or closed workflow, and only that", async () => {
    const { medication } = await seedPatientWithMedication(db.prisma, { pushTokens: ['reconcile-token'] });
    const cancelled = await db.prisma.medication.create({
      data: {
        careCircleId: medication.careCircleId,
        patientId: medication.patientId,
        name: 'Stopped',
        schedule: medication.schedule as object,
        workflowId: `medication:cancelled-${medication.id}`,
        status: 'cancelled',
      },
    });
    const run = () =>
      env.client.workflow.execute<(input: object) => Promise<ReconcileResult>>('reconcileWorkflowsWorkflow', {
        taskQueue: TASK_QUEUES.maintenance,
        workflowId: `reconcile-${Math.random()}`,
        args: [{}],
      });

    expect(await run()).toEqual({ checked: 1, restarted: [medication.workflowId], drifted: [], settled: [] });
    const handle = env.client.workflow.getHandle(medication.workflowId);
    const started = await handle.describe();
    expect(started).toMatchObject({ type: 'medicationReminderWorkflow', taskQueue: PARKED_QUEUE });
    expect(started.status.name).toBe('RUNNING');

    // Running: left alone (its worker is away, so it cannot be compared either).
    expect(await run()).toEqual({ checked: 1, restarted: [], drifted: [], settled: [] });

    // Closed (terminated by hand): started again.
    await handle.terminate('test');
    expect((await run()).restarted).toEqual([medication.workflowId]);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await expect(env.client.workflow.getHandle(cancelled.workflowId).describe()).rejects.toThrow();
    await handle.terminate('test done');
  });

  it('does not touch a workflow id that a concurrent start just took', async () => {
    // A running workflow of the same id (the API started it meanwhile): the reconciler sees it running.
    const { medication } = await seedPatientWithMedication(db.prisma, { pushTokens: ['race-token'] });
    await env.client.workflow.start('medicationReminderWorkflow', {
      taskQueue: PARKED_QUEUE,
      workflowId: medication.workflowId,
      args: [{ medicationId: medication.id, schedule: medication.schedule }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    });
    const result = await env.client.workflow.execute<(input: object) => Promise<ReconcileResult>>(
      'reconcileWorkflowsWorkflow',
      {
        taskQueue: TASK_QUEUES.maintenance,
        workflowId: 'reconcile-race',
        args: [{}],
      },
    );
    expect(result.restarted).not.toContain(medication.workflowId);
  });
});

describe('drift between a schedule and its row', () => {
  it('is found, counted and repaired in favour of the workflow', async () => {
    const queue = 'drift-medications';
    const worker = await buildWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      settings: { ...taskQueueSettings(loadConfig({})).medication, name: queue },
      activities: createActivities({
        prisma: db.prisma,
        push: new OutboxPushSender(db.prisma),
        email: new OutboxEmailSender(db.prisma),
      }),
    });
    await worker.runUntil(async () => {
      const { medication } = await seedPatientWithMedication(db.prisma);
      const start = medicationWorkflowStart(medication, queue, config().DOSE_ARM_LEAD_SECONDS);
      const handle = await env.client.workflow.start('medicationReminderWorkflow', start.options);
      const written = async () => db.prisma.medication.findUniqueOrThrow({ where: { id: medication.id } });
      await expect.poll(async () => (await written()).stateRevision, { timeout: 20_000 }).toBeGreaterThan(0);
      const before = await written();
      // What a lost or reordered write would leave: the row says paused, the schedule runs.
      await db.prisma.medication.update({ where: { id: medication.id }, data: { status: 'paused', nextDoseAt: null } });
      const drifts = async () =>
        (await scheduleDrift.get()).values.find((v) => v.labels.kind === 'medication')?.value ?? 0;
      const counted = await drifts();

      const result = await env.client.workflow.execute<(input: object) => Promise<ReconcileResult>>(
        'reconcileWorkflowsWorkflow',
        { taskQueue: TASK_QUEUES.maintenance, workflowId: `reconcile-drift-${Math.random()}`, args: [{}] },
      );
      expect(result.drifted).toEqual([start.options.workflowId]);
      const repaired = await written();
      expect(repaired).toMatchObject({ status: 'active', nextDoseAt: before.nextDoseAt });
      expect(repaired.stateRevision).toBeGreaterThan(before.stateRevision);
      expect(await drifts()).toBe(counted + 1);

      // In step again: nothing to repair.
      const again = await env.client.workflow.execute<(input: object) => Promise<ReconcileResult>>(
        'reconcileWorkflowsWorkflow',
        { taskQueue: TASK_QUEUES.maintenance, workflowId: `reconcile-drift-${Math.random()}`, args: [{}] },
      );
      expect(again.drifted).toEqual([]);
      await handle.terminate('test done');
    });
  });
});

describe('daily digest', () => {
  it("tells each caregiver yesterday's doses and adherence, once", async () => {
    const { circle, patient, medication } = await seedPatientWithMedication(db.prisma, { pushTokens: [] });
    const caregiver = await db.prisma.member.create({
      data: {
        careCircleId: circle.id,
        name: 'Ben',
        role: 'caregiver',
        timezone: 'UTC',
        email: 'ben@example.com',
        channels: ['email', 'in_app'],
      },
    });
    const at = (h: number) => new Date(Date.UTC(2026, 10, 27, h));
    await db.prisma.doseEvent.createMany({
      data: [
        { medicationId: medication.id, scheduledAt: at(8), status: 'taken' },
        { medicationId: medication.id, scheduledAt: at(14), status: 'missed' },
        { medicationId: medication.id, scheduledAt: at(20), status: 'reminded' },
        // Another day: not in the digest.
        { medicationId: medication.id, scheduledAt: new Date(Date.UTC(2026, 10, 28, 8)), status: 'taken' },
      ],
    });
    const run = (workflowId: string) =>
      env.client.workflow.execute<(input: object) => Promise<DailyDigestResult>>('dailyDigestWorkflow', {
        taskQueue: TASK_QUEUES.maintenance,
        workflowId,
        args: [{ timezone: 'UTC', day: '2026-11-27' }],
      });

    const first = await run('digest-1');
    expect(first).toMatchObject({ day: '2026-11-27', notifications: 2, deadLettered: 0 });
    const rows = await db.prisma.notificationLog.findMany({ where: { kind: 'daily_digest' } });
    expect(rows.map((r) => [r.recipientId, r.channel, r.status]).sort()).toEqual([
      [caregiver.id, 'email', 'sent'],
      [caregiver.id, 'in_app', 'sent'],
    ]);
    expect(rows[0]!.body).toBe(`${patient.name}: 3 doses: 1 taken, 1 missed, 1 not logged (adherence 33 %)`);
    const outbox = await db.prisma.devOutboxMessage.findMany({ where: { to: 'ben@example.com' } });
    expect(outbox).toHaveLength(1);

    // A catch-up run or a manual trigger sends nothing twice.
    expect((await run('digest-2')).notifications).toBe(0);
    expect(await db.prisma.devOutboxMessage.count({ where: { to: 'ben@example.com' } })).toBe(1);
  });
});

describe('clean-up', () => {
  it('deletes old finished records and keeps recent ones and those an open dead letter needs', async () => {
    const { patient } = await seedPatientWithMedication(db.prisma, { pushTokens: [] });
    const old = new Date(Date.now() - 100 * 24 * 3600 * 1000);
    const row = (key: string, status: 'sent' | 'failed' | 'pending', createdAt: Date) => ({
      dedupeKey: key,
      kind: 'notification',
      recipientId: patient.id,
      channel: 'email' as const,
      title: 't',
      body: 'b',
      status,
      createdAt,
    });
    await db.prisma.notificationLog.createMany({
      data: [
        row('cleanup:old-sent', 'sent', old),
        row('cleanup:old-failed-dead', 'failed', old),
        row('cleanup:old-pending', 'pending', old),
        row('cleanup:recent-sent', 'sent', new Date()),
      ],
    });
    await db.prisma.deadLetter.create({
      data: {
        kind: 'notification',
        dedupeKey: 'cleanup:old-failed-dead',
        payload: {},
        error: 'x',
        attempts: 3,
        workflowId: 'w',
        runId: 'r',
      },
    });
    await db.prisma.devOutboxMessage.create({
      data: {
        dedupeKey: 'cleanup:outbox-old',
        channel: 'email',
        to: 'x@example.com',
        title: 't',
        body: 'b',
        createdAt: old,
      },
    });

    const result = await env.client.workflow.execute('cleanupNotificationsWorkflow', {
      taskQueue: TASK_QUEUES.maintenance,
      workflowId: 'cleanup-1',
      args: [{ retentionDays: 90, batchSize: 1 }],
    });
    expect(result).toEqual({ notifications: 1, outbox: 1 });
    const left = await db.prisma.notificationLog.findMany({ where: { dedupeKey: { startsWith: 'cleanup:' } } });
    expect(left.map((r) => r.dedupeKey).sort()).toEqual([
      'cleanup:old-failed-dead',
      'cleanup:old-pending',
      'cleanup:recent-sent',
    ]);
  });
});
