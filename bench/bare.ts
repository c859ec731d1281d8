/**
 * The bare-Temporal baseline of the burst benchmark: what the engine alone costs on this server and
 * machine. One workflow per dose (bench/workflows/bare.ts) sleeps on a timer until the due instant,
 * then runs one activity that sends the dose's email straight to the provider (a plain HTTP call
 * to the fake's Resend API, under the dose's idempotency key): the minimal path from a timer to a
 * provider call, with no database work.
 */
import { fileURLToPath } from 'node:url';

export const bareWorkflowsPath = fileURLToPath(new URL('./workflows/bare.ts', import.meta.url));

export interface BareDoseInput {
  /** Epoch milliseconds of the due instant. */
  dueAtMs: number;
  /** The provider's idempotency key; the burst checks each reached the provider once. */
  dedupeKey: string;
}

export function createBareActivities(provider: { baseUrl: string; apiKey: string }) {
  return {
    async bareSend({ dedupeKey }: { dedupeKey: string }): Promise<void> {
      const res = await fetch(`${provider.baseUrl}/emails`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${provider.apiKey}`,
          'content-type': 'application/json',
          'idempotency-key': dedupeKey,
        },
        body: JSON.stringify({
          from: 'CareCircle <reminders@carecircle.local>',
          to: ['patient@example.com'],
          subject: 'Time for your medication',
          text: 'Time for your medication.',
        }),
      });
      if (!res.ok) throw new Error(`provider answered ${res.status}: ${await res.text()}`);
    },
  };
}

export type BareActivities = ReturnType<typeof createBareActivities>;
