/**
 * Activities of the periodic jobs (workflows/maintenance.ts, started by Temporal Schedules):
 * the daily digest to caregivers, the reconciliation of long-running workflows, and the clean-up
 * of old notification records. Each works a page at a time and is idempotent.
 */
import { Context } from '@temporalio/activity';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DateTime } from 'luxon';
import { scheduleDrift } from '../shared/metrics.ts';
import type { Medication, PrismaClient } from '../shared/db.ts';
import type { WorkflowStart } from '../shared/workflow-start.ts';
import { reachableChannels } from './recipients.ts';

/**
 * One kind of record whose workflow must exist while the record is active. Each is given its
 * workflow's start helper (workflows/*-start.ts) by workers/reconcilers.ts, which builds the list
 * for `createMaintenanceActivities({ reconcilers })`.
 */
export interface Reconciler {
  /** Active records with an id greater than `cursor` (null: from the start), ordered by id, at most `take`. */
  listActive(cursor: string | null, take: number): Promise<WorkflowStart[]>;
  /**
   * Read again after a restart: whether the record still wants its workflow. A record deleted
   * between the listing and the start gets the new workflow cancelled, so a restart never outlives
   * a deletion (the deletion writes first and cancels second; the reconciliation starts first and
   * reads second, so one of them always sees the other).
   */
  stillActive?(id: string): Promise<boolean>;
  /**
   * Finishes the workflow starts and cancels the API could not confirm; run once per
   * reconciliation, before the first page. Returns the workflow ids it settled.
   */
  settle?(temporal: Client): Promise<string[]>;
  /**
   * For a record whose workflow is running: whether the database still agrees with the workflow,
   * repairing it in favour of the workflow when it does not. True when it had drifted.
   */
  repairDrift?(temporal: Client, target: WorkflowStart): Promise<boolean>;
}

/** How long a create may take before the reconciliation resolves its unconfirmed start. */
export const STARTING_GRACE_MS = 10 * 60_000;
/** Unconfirmed starts and cancels settled per reconciliation run; the next run takes the rest. */
const SETTLE_BATCH = 100;

/** Cancels a workflow; one that is not there (never started, or already closed) needs nothing. */
async function cancelIfPresent(temporal: Client, workflowId: string): Promise<void> {
  try {
    await temporal.workflow.getHandle(workflowId).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/** What the reconciliation compares: the workflow's status query against the row's projection. */
interface ScheduleView {
  state: string;
  nextDoseAt: string | null;
  lastDoseAt: string | null;
  escalationWindowMinutes: number;
  schedule: unknown;
}

/** Keys sorted, so that two JSON documents with the same content compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

function differences(row: Medication, wf: ScheduleView): string[] {
  const diff: string[] = [];
  if (row.status !== wf.state) diff.push(`status ${row.status} ≠ ${wf.state}`);
  if (canonical(row.schedule) !== canonical(wf.schedule)) diff.push('schedule');
  if (row.escalationWindowMinutes !== wf.escalationWindowMinutes) diff.push('escalationWindowMinutes');
  const at = (d: Date | null) => d?.toISOString() ?? null;
  if (wf.state === 'active' && at(row.nextDoseAt) !== wf.nextDoseAt) diff.push('nextDoseAt');
  if (at(row.lastDoseAt) !== wf.lastDoseAt) diff.push('lastDoseAt');
  return diff;
}

/** A write of the projection may be on its way: a difference must outlast it to count as drift. */
const DRIFT_SETTLE_MS = 2_000;
const QUERY_DEADLINE_MS = 3_000;

async function medicationDrift(prisma: PrismaClient, temporal: Client, target: WorkflowStart): Promise<boolean> {
  const workflowId = target.options.workflowId;
  const handle = temporal.workflow.getHandle(workflowId);
  const compare = async () => {
    const [row, wf] = await Promise.all([
      prisma.medication.findUnique({ where: { id: target.id } }),
      // A workflow no worker serves right now cannot answer: that is not drift, check it next time.
      temporal
        .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query<ScheduleView>('status'))
        .catch(() => null),
    ]);
    if (!wf) return null;
    return row && (row.status === 'active' || row.status === 'paused') ? { row, wf, diff: differences(row, wf) } : null;
  };
  const first = await compare();
  if (!first || first.diff.length === 0) return false;
  await new Promise((resolve) => setTimeout(resolve, DRIFT_SETTLE_MS));
  const again = await compare();
  if (!again || again.diff.length === 0) return false;
  scheduleDrift.inc({ kind: 'medication' });
  Context.current().log.warn('Medication row drifted from its workflow; repairing from the workflow', {
    medicationId: target.id,
    workflowId,
    differences: again.diff.join(', '),
  });
  try {
    // The workflow writes its state again under a newer revision.
    await handle.executeUpdate('resyncProjection');
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError) && !(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) {
      throw err;
    }
    // A workflow of the previous version has no such Update: copy what it says.
    await prisma.medication.updateMany({
      where: { id: target.id, status: { in: ['active', 'paused'] } },
      data: {
        status: again.wf.state === 'paused' ? 'paused' : 'active',
        schedule: again.wf.schedule as object,
        escalationWindowMinutes: again.wf.escalationWindowMinutes,
        nextDoseAt: again.wf.nextDoseAt ? new Date(again.wf.nextDoseAt) : null,
        lastDoseAt: again.wf.lastDoseAt ? new Date(again.wf.lastDoseAt) : null,
      },
    });
  }
  return true;
}

export function medicationReconciler(
  prisma: PrismaClient,
  /** The start helper, workflows/medication-start.ts, with this worker's queue and arm lead. */
  start: (m: Medication) => WorkflowStart,
  opts: { startingGraceMs?: number } = {},
): Reconciler {
  const graceMs = opts.startingGraceMs ?? STARTING_GRACE_MS;
  return {
    async listActive(cursor, take) {
      const medications = await prisma.medication.findMany({
        // A paused schedule is still a schedule: restarted paused, it resumes when asked. A row
        // whose start or cancel is unconfirmed is settled first (settle below), never restarted.
        where: { status: { in: ['active', 'paused'] }, workflowSync: null, ...(cursor ? { id: { gt: cursor } } : {}) },
        orderBy: { id: 'asc' },
        take,
      });
      return medications.map(start);
    },

    repairDrift: (temporal, target) => medicationDrift(prisma, temporal, target),

    async stillActive(id) {
      const m = await prisma.medication.findUnique({ where: { id }, select: { status: true, workflowSync: true } });
      return m !== null && (m.status === 'active' || m.status === 'paused') && m.workflowSync === null;
    },

    async settle(temporal) {
      const rows = await prisma.medication.findMany({
        where: {
          OR: [
            { workflowSync: 'cancelling' },
            // A create still under way is the API's to finish; past the grace it has given up.
            { workflowSync: 'starting', updatedAt: { lt: new Date(Date.now() - graceMs) } },
          ],
        },
        orderBy: { updatedAt: 'asc' },
        take: SETTLE_BATCH,
      });
      const settled: string[] = [];
      for (const m of rows) {
        Context.current().heartbeat(m.id);
        if (m.workflowSync === 'cancelling') {
          // Deleted, but the cancel did not get through.
          await cancelIfPresent(temporal, m.workflowId);
          await prisma.medication.updateMany({
            where: { id: m.id, workflowSync: 'cancelling' },
            data: { workflowSync: null },
          });
        } else if (m.status === 'cancelled') {
          // A create the API gave up on ("nothing was created"): its start may still have landed.
          await cancelIfPresent(temporal, m.workflowId);
          await prisma.medication.deleteMany({ where: { id: m.id, workflowSync: 'starting' } });
        } else {
          // The API stopped mid-create. A workflow that exists means the create went through;
          // none means it never started, and the caller never got a 201: nothing was created.
          let started = true;
          try {
            await temporal.workflow.getHandle(m.workflowId).describe();
          } catch (err) {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
            started = false;
          }
          if (started) {
            await prisma.medication.updateMany({
              where: { id: m.id, workflowSync: 'starting' },
              data: { workflowSync: null },
            });
          } else {
            await prisma.medication.deleteMany({ where: { id: m.id, workflowSync: 'starting' } });
          }
        }
        Context.current().log.info('Settled a medication workflow the API could not confirm', {
          medicationId: m.id,
          workflowId: m.workflowId,
          was: `${m.status}, ${m.workflowSync}`,
        });
        settled.push(m.workflowId);
      }
      return settled;
    },
  };
}

export interface DigestPage {
  /** Dedupe keys of digest notifications still to deliver. */
  deliveries: string[];
  circles: number;
  nextCursor: string | null;
}

export interface MaintenanceDeps {
  prisma: PrismaClient;
  /** Needed by the reconciliation only. */
  temporal?: Client;
  reconcilers?: Record<string, Reconciler>;
}

/** "6 doses: 4 taken, 1 missed, 1 not logged (adherence 67 %)"; not logged = neither taken, skipped nor missed. */
function summarize(counts: Record<string, number>): string {
  const total = Object.values(counts).reduce((n, c) => n + c, 0);
  const taken = counts.taken ?? 0;
  const notLogged = total - taken - (counts.skipped ?? 0) - (counts.missed ?? 0);
  const parts = [
    `${taken} taken`,
    ...(counts.skipped ? [`${counts.skipped} skipped`] : []),
    ...(counts.missed ? [`${counts.missed} missed`] : []),
    ...(notLogged ? [`${notLogged} not logged`] : []),
  ];
  const adherence = total > 0 ? Math.round((taken / total) * 100) : 0;
  return `${total} dose${total === 1 ? '' : 's'}: ${parts.join(', ')} (adherence ${adherence} %)`;
}

export function createMaintenanceActivities(deps: MaintenanceDeps) {
  const { prisma } = deps;
  const reconcilers = deps.reconcilers ?? {};

  return {
    /**
     * Writes the digest of `day` (yyyy-mm-dd in `timezone`) for a page of care circles: one pending
     * notification per caregiver × channel, with yesterday's doses per patient and adherence.
     */
    async planDailyDigest(input: {
      day: string;
      timezone: string;
      cursor: string | null;
      pageSize: number;
    }): Promise<DigestPage> {
      const start = DateTime.fromISO(input.day, { zone: input.timezone });
      if (!start.isValid)
        throw ApplicationFailure.nonRetryable(`Invalid day ${input.day} in ${input.timezone}`, 'ValidationError');
      const from = start.toJSDate();
      const to = start.plus({ days: 1 }).toJSDate();

      const circles = await prisma.careCircle.findMany({
        where: input.cursor ? { id: { gt: input.cursor } } : {},
        orderBy: { id: 'asc' },
        take: input.pageSize,
        select: { id: true, name: true },
      });
      const deliveries: string[] = [];
      for (const circle of circles) {
        const doses = await prisma.doseEvent.groupBy({
          by: ['medicationId', 'status'],
          where: { scheduledAt: { gte: from, lt: to }, medication: { careCircleId: circle.id } },
          _count: { _all: true },
        });
        if (doses.length === 0) continue;
        const medications = await prisma.medication.findMany({
          where: { id: { in: [...new Set(doses.map((d) => d.medicationId))] } },
          select: { id: true, patient: { select: { id: true, name: true } } },
        });
        const byPatient = new Map<string, { name: string; counts: Record<string, number> }>();
        for (const dose of doses) {
          const patient = medications.find((m) => m.id === dose.medicationId)?.patient;
          if (!patient) continue;
          const entry = byPatient.get(patient.id) ?? { name: patient.name, counts: {} };
          entry.counts[dose.status] = (entry.counts[dose.status] ?? 0) + dose._count._all;
          byPatient.set(patient.id, entry);
        }
        const title = `Daily summary for ${circle.name}: ${input.day}`;
        const body = [...byPatient.values()].map((p) => `${p.name}: ${summarize(p.counts)}`).join('\n');

        const caregivers = await prisma.member.findMany({
          where: { careCircleId: circle.id, role: 'caregiver' },
          include: { pushTokens: { where: { active: true } } },
        });
        for (const member of caregivers) {
          for (const channel of reachableChannels(member)) {
            const dedupeKey = `digest:${circle.id}:${input.day}:${member.id}:${channel}`;
            const row = await prisma.notificationLog.upsert({
              where: { dedupeKey },
              create: { dedupeKey, kind: 'daily_digest', recipientId: member.id, channel, title, body },
              update: {},
            });
            if (row.status === 'pending') deliveries.push(dedupeKey);
          }
        }
      }
      return {
        deliveries,
        circles: circles.length,
        nextCursor: circles.length === input.pageSize ? circles[circles.length - 1]!.id : null,
      };
    },

    async listReconcilers(): Promise<string[]> {
      return Object.keys(reconcilers);
    },

    /**
     * Checks a page of active records of one kind and starts the workflow of each one whose
     * workflow is missing or closed. Returns the workflow ids it started.
     */
    async reconcilePage(input: { reconciler: string; cursor: string | null; pageSize: number }): Promise<{
      checked: number;
      restarted: string[];
      settled: string[];
      drifted: string[];
      nextCursor: string | null;
    }> {
      const reconciler = reconcilers[input.reconciler];
      if (!reconciler) throw ApplicationFailure.nonRetryable(`No reconciler ${input.reconciler}`, 'ValidationError');
      const temporal = deps.temporal;
      if (!temporal) throw ApplicationFailure.nonRetryable('Reconciliation needs a Temporal client', 'ValidationError');
      const settled = input.cursor === null && reconciler.settle ? await reconciler.settle(temporal) : [];
      const targets = await reconciler.listActive(input.cursor, input.pageSize);
      const restarted: string[] = [];
      const drifted: string[] = [];
      for (const target of targets) {
        Context.current().heartbeat(target.id);
        let running = false;
        try {
          const description = await temporal.workflow.getHandle(target.options.workflowId).describe();
          running = description.status.name === 'RUNNING';
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
        if (running) {
          if (reconciler.repairDrift && (await reconciler.repairDrift(temporal, target))) {
            drifted.push(target.options.workflowId);
          }
          continue;
        }
        try {
          await temporal.workflow.start(target.workflowType, {
            ...target.options,
            // A closed run may be replaced; a running one (started meanwhile) is left alone.
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
            workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          continue;
        }
        if (reconciler.stillActive && !(await reconciler.stillActive(target.id))) {
          // Deleted while we started it: the deletion's cancel may have come before our start.
          await cancelIfPresent(temporal, target.options.workflowId);
          continue;
        }
        restarted.push(target.options.workflowId);
      }
      return {
        checked: targets.length,
        restarted,
        settled,
        drifted,
        nextCursor: targets.length === input.pageSize ? targets[targets.length - 1]!.id : null,
      };
    },

    /**
     * Deletes sent, skipped and failed notification records (and dev outbox rows) older than
     * `retentionDays`, a batch at a time; records behind an open dead letter are kept for it.
     */
    async cleanupNotifications(input: {
      retentionDays: number;
      batchSize: number;
    }): Promise<{ notifications: number; outbox: number }> {
      const cutoff = new Date(Date.now() - input.retentionDays * 24 * 60 * 60 * 1000);
      const keep = await prisma.deadLetter.findMany({
        where: { status: { in: ['open', 'retrying'] }, dedupeKey: { not: null } },
        select: { dedupeKey: true },
      });
      const kept = keep.map((d) => d.dedupeKey!).filter(Boolean);
      let notifications = 0;
      for (;;) {
        const batch = await prisma.notificationLog.findMany({
          where: {
            createdAt: { lt: cutoff },
            status: { in: ['sent', 'skipped', 'failed'] },
            ...(kept.length ? { dedupeKey: { notIn: kept } } : {}),
          },
          select: { id: true },
          take: input.batchSize,
        });
        if (batch.length === 0) break;
        const { count } = await prisma.notificationLog.deleteMany({ where: { id: { in: batch.map((b) => b.id) } } });
        notifications += count;
        Context.current().heartbeat({ notifications });
        if (batch.length < input.batchSize) break;
      }
      const { count: outbox } = await prisma.devOutboxMessage.deleteMany({ where: { createdAt: { lt: cutoff } } });
      return { notifications, outbox };
    },
  };
}
