/**
 * The chaos suite's short variant (`chaos/run.ts --smoke`), in CI: the real API and worker
 * processes, the Temporal CLI dev server, PostgreSQL, the fake providers and the fake FCM (push
 * through the real firebase-admin SDK over TLS). 50 one-off doses due at the same minute while the
 * worker is SIGKILLed a second before it and restarted 5 s after; at the same time 8 schedules
 * with a dose every minute for 2 minutes, whose users pause, resume, edit, acknowledge and delete
 * them one action at a time while the Temporal server is SIGKILLed and the worker SIGKILLed again;
 * bad input at the API before and after. Every due delivery (push, email and in-app for the burst;
 * push and in-app for the schedules) must arrive exactly once, nothing may be sent for a paused or
 * deleted schedule, and no dose of an active one may go silent. It waits for minute boundaries
 * (doses are minute-precise), hence the ~3 minutes. The full run (`npm run test:chaos`) also kills
 * the worker during the burst, sends pause and resume at the same moment, stops PostgreSQL and
 * injects provider faults.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../shared/config.ts';

describe('chaos smoke', () => {
  it('delivers every due dose once, and nothing for paused or deleted schedules, although the worker and Temporal were killed', async () => {
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
    const ledger =
      /^(\d+) due, (\d+) delivered, (\d+) dead-lettered, (\d+) duplicates, (\d+) lost, (\d+) ghosts, (\d+) silenced$/.exec(
        last,
      );
    expect(ledger, output).not.toBeNull();
    const [due, delivered, deadLettered, duplicates, lost, ghosts, silenced] = ledger!.slice(1).map(Number);
    expect({ deadLettered, duplicates, lost, ghosts, silenced }, output).toEqual({
      deadLettered: 0,
      duplicates: 0,
      lost: 0,
      ghosts: 0,
      silenced: 0,
    });
    expect(delivered, output).toBe(due);
    // The burst's 150, and some of the schedules' doses (how many depends on the users' actions).
    expect(due, output).toBeGreaterThan(150);
    expect(output).toMatch(
      /Scenario 1 worker SIGKILLed across the dose instant\n(?:.*\n)*? {2}150 due, 150 delivered, /,
    );
    expect(output).toMatch(/Temporal SIGKILLed at M\+/);
    expect(code, output).toBe(0);
  }, 720_000);
});
