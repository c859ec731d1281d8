/**
 * "Sleep until X unless something changes": the one timer abstraction of the long-running
 * workflows. It waits on a durable timer until `atMs` (workflow time) and returns early when
 * `interrupted` becomes true, so a handler that moves the deadline only has to change state.
 *
 * Resolves to true when interrupted, false when the deadline came. A deadline already passed
 * resolves at once (false) without starting a timer.
 */
import { condition } from '@temporalio/workflow';

export async function sleepUntil(atMs: number, interrupted: () => boolean, summary: string): Promise<boolean> {
  if (interrupted()) return true;
  const waitMs = atMs - Date.now();
  if (waitMs <= 0) return false;
  return condition(interrupted, waitMs, { summary });
}
