/**
 * The records the reconciliation keeps a workflow running for, each with its workflow's start
 * helper: the activities list the rows, the workflows say how they are started.
 */
import { appointmentReconciler, medicationReconciler, shiftReconciler, type Reconciler } from '../activities/index.ts';
import type { Config } from '../shared/config.ts';
import type { PrismaClient } from '../shared/db.ts';
import { appointmentWorkflowStart } from '../workflows/appointment-start.ts';
import { medicationWorkflowStart } from '../workflows/medication-start.ts';
import { shiftWorkflowStart } from '../workflows/shift-start.ts';

type StartSettings = Pick<Config, 'MEDICATION_TASK_QUEUE' | 'DOSE_ARM_LEAD_SECONDS'>;

export function medicationReconcilerOf(
  prisma: PrismaClient,
  cfg: StartSettings,
  opts: { startingGraceMs?: number } = {},
): Reconciler {
  return medicationReconciler(
    prisma,
    (m) => medicationWorkflowStart(m, cfg.MEDICATION_TASK_QUEUE, cfg.DOSE_ARM_LEAD_SECONDS),
    opts,
  );
}

export function reconcilers(prisma: PrismaClient, cfg: StartSettings): Record<string, Reconciler> {
  return {
    medication: medicationReconcilerOf(prisma, cfg),
    appointment: appointmentReconciler(prisma, appointmentWorkflowStart),
    shift: shiftReconciler(prisma, shiftWorkflowStart),
  };
}
