/**
 * The bare-Temporal baseline of the burst benchmark: what the engine alone costs on this server and
 * machine. One workflow per dose (bench/workflows/bare.ts) sleeps on a timer until the due instant,
 * then runs as many activities as the real medication workflow does for one dose (plan, one
 * delivery per notification, mark), all no-ops. The delivery stand-in returns the time it ran: the
 * baseline's "provider receive time".
 */
import { fileURLToPath } from 'node:url';

export const bareWorkflowsPath = fileURLToPath(new URL('./workflows/bare.ts', import.meta.url));

export interface BareDoseInput {
  /** Epoch milliseconds of the due instant. */
  dueAtMs: number;
  /** Notifications per dose (one delivery activity each). */
  deliveries: number;
}

export function createBareActivities() {
  return {
    async barePlan(): Promise<void> {},
    async bareDeliver(): Promise<number> {
      return Date.now();
    },
    async bareMark(): Promise<void> {},
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
