/**
 * Keeps the benchmark code from rotting: the burst scenario of `npm run bench` (bench/scenarios/
 * burst.ts, the same code path: the API and the production worker as child processes, the Temporal
 * dev server, the fake provider) with 20 doses, and its two baselines. Every dose must reach the
 * fake provider exactly once. Not a benchmark: nothing here is timed.
 *
 * CareCircle's doses are `once` schedules, which have minute resolution, so this test waits for the
 * next whole minute (on average half a minute).
 */
import { inject, it, expect } from 'vitest';
import { runBurst } from '../bench/scenarios/burst.ts';

const N = 20;

it('burst of 20 doses: each reaches the fake provider exactly once (CareCircle, bare Temporal, BullMQ)', async () => {
  const lines: string[] = [];
  const result = await runBurst({
    n: N,
    pgAdminUrl: inject('adminDatabaseUrl'),
    providerLatencyMs: 50,
    emailRatePerMinute: 1_000_000,
    tuning: {},
    warmup: 0,
    leadMs: 5_000,
    log: (line) => lines.push(line),
  });

  const systems = result.systems.map((s) => s.system);
  expect(systems).toEqual(
    result.skipped.some((s) => s.system === 'bullmq')
      ? ['carecircle', 'bare-temporal']
      : ['carecircle', 'bare-temporal', 'bullmq'],
  );
  for (const system of result.systems) {
    // From the fake provider's log: one request and one accepted email per dose, each under its key.
    expect({ system: system.system, once: system.deliveredOnce, missing: system.missing }).toEqual({
      system: system.system,
      once: N,
      missing: 0,
    });
    expect(system.providerRequests).toBe(N);
    expect(system.acceptedEmails).toBe(N);
    expect(system.lateness.count).toBe(N);
    expect(system.drainMs).toBeGreaterThanOrEqual(0);
  }
  expect(result.ratios.vsBareTemporal).toBeGreaterThan(0);
}, 180_000);
