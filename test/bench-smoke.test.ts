/**
 * Keeps the benchmark code from rotting: the burst scenario of `npm run bench` (bench/scenarios/
 * burst.ts, the same code path: the API and the production worker as child processes, the Temporal
 * dev server, the fake provider taking 4 calls at once) with 20 doses, and its baselines: bare
 * Temporal, BullMQ as the replaced design configures it and at the provider's concurrency. Every dose must
 * reach the fake provider exactly once. Not a benchmark: nothing here is timed. The run with a
 * worker SIGKILLed waits out the killed worker's timeouts (minutes): `npm run bench -- burst` only.
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
    sizes: [N],
    providerConcurrency: 4,
    systems: ['carecircle', 'bare-temporal', 'bullmq', 'bullmq-at-20'],
    pgAdminUrl: inject('adminDatabaseUrl'),
    providerLatencyMs: 50,
    emailRatePerMinute: 1_000_000,
    tuning: {},
    warmup: 0,
    leadMs: 5_000,
    log: (line) => lines.push(line),
  });

  const [run] = result.runs;
  const systems = run!.systems.map((s) => s.system);
  expect(systems).toEqual(
    run!.skipped.some((s) => s.system === 'bullmq')
      ? ['carecircle', 'bare-temporal']
      : ['carecircle', 'bare-temporal', 'bullmq', 'bullmq-at-20'],
  );
  // 20 calls of 50 ms, 4 at a time.
  expect(run!.providerFloorMs).toBe(250);
  for (const system of run!.systems) {
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
  expect(run!.ratios.p99VsBareTemporal).toBeGreaterThan(0);
  expect(run!.ratios.p99VsFloor).toBeGreaterThan(0);
  // The provider took no more than 4 calls at once: the last one cannot arrive before the floor
  // minus one call.
  for (const system of run!.systems) expect(system.drainMs).toBeGreaterThanOrEqual(250 - 50);
}, 240_000);
