/**
 * The chaos suite's short variant (`chaos/run.ts --smoke`), in CI: the real API and worker
 * processes, the Temporal CLI dev server, PostgreSQL and the fake providers; 50 one-off doses due at
 * the same minute while the worker is SIGKILLed a second before it and restarted 5 s after; bad
 * input at the API before and after. Every dose must reach push (dev outbox), email (fake Resend)
 * and in-app exactly once. It waits for a minute boundary (`once` doses are minute-precise), hence
 * the ~2 minutes. The full run (`npm run test:chaos`) kills the worker during the burst, restarts
 * Temporal, stops PostgreSQL and injects provider faults.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../shared/config.ts';

describe('chaos smoke', () => {
  it('delivers every dose once although the worker was killed across the dose instant', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'chaos/run.ts'), '--smoke'], {
      cwd: projectRoot,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const last = output.trim().split('\n').at(-1) ?? '';
    expect(last, output).toBe('150 due, 150 delivered, 0 dead-lettered, 0 duplicates, 0 lost');
    expect(code, output).toBe(0);
  }, 240_000);
});
