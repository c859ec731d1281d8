/**
 * Replays every recorded history in test/histories against the current workflow code. A change
 * that would break workflows already running in production (a reordered activity call, a new
 * timer before an old one) fails here with a non-determinism error instead of in production.
 *
 * Record fresh histories from the scenario tests with `npm run test:record-histories`, or fetch one
 * from a running server with `npm run history:fetch -- <workflowId>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowsPath } from '../workers/build.ts';
import { historiesDir } from './helpers/histories.ts';

const files = fs.readdirSync(historiesDir).filter((f) => f.endsWith('.json'));

describe('replay of recorded histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it('replays every history without non-determinism', async () => {
    const histories = files.map((file) => ({
      workflowId: path.basename(file, '.json'),
      history: JSON.parse(fs.readFileSync(path.join(historiesDir, file), 'utf8')),
    }));
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath }, histories)) results.push(result);
    expect(results.map((r) => [r.workflowId, r.error?.message ?? null])).toEqual(
      histories.map((h) => [h.workflowId, null]),
    );
  });
});
