/**
 * The logger: JSON or readable lines, and no personal health data above debug (medication names,
 * e-mail addresses, push tokens), including inside provider error messages and the Temporal SDK's
 * own log lines routed through it. Activity and workflow lifecycle lines themselves are checked on
 * real worker processes in worker-shutdown.test.ts.
 */
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger.ts';
import { temporalLogger } from '../workers/observability.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('redacts medication names, e-mail addresses and tokens at info and above, keeps them at debug', () => {
    const out = capture();
    const logger = createLogger('test', { destination: out.stream, level: 'debug', format: 'json' });
    const fields = {
      medicationId: 'med-1',
      medicationName: 'Metformin',
      email: 'ada@example.com',
      pushTokens: ['device-token-1'],
      notification: { title: 'Time for Metformin', recipientId: 'member-1' },
    };
    const err = new Error('Resend rejected ada@example.com: invalid recipient');
    logger.info({ ...fields, err }, 'delivery to ada@example.com failed');
    logger.debug({ ...fields }, 'debug keeps it');

    const [info, debug] = out.json();
    const infoText = out.lines[0]!;
    expect(infoText).not.toContain('Metformin');
    expect(infoText).not.toContain('ada@example.com');
    expect(infoText).not.toContain('device-token-1');
    expect(info).toMatchObject({
      msg: 'delivery to [email] failed',
      medicationId: 'med-1', // ids are not personal data: they stay
      medicationName: '[redacted]',
      email: '[redacted]',
      pushTokens: '[redacted]',
      notification: { title: '[redacted]', recipientId: 'member-1' },
      err: { type: 'Error', message: 'Resend rejected [email]: invalid recipient' },
    });
    expect((info!.err as { stack: string }).stack).toContain('Resend rejected [email]');
    expect(debug).toMatchObject({ medicationName: 'Metformin', email: 'ada@example.com' });
    // The caller's objects are not modified by the redaction.
    expect(fields.medicationName).toBe('Metformin');
    expect(err.message).toContain('ada@example.com');
  });

  it('writes one readable line per entry in pretty format', () => {
    const out = capture();
    const logger = createLogger('api', { destination: out.stream, level: 'info', format: 'pretty' });
    logger.info({ port: 3000 }, 'api listening');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(api\): api listening \{"port":3000\}$/);
  });

  it("routes the Temporal SDK's lines, serialising its errors and keeping its lifecycle and routine lines at debug", () => {
    const out = capture();
    const sdk = temporalLogger(createLogger('worker', { destination: out.stream, level: 'info', format: 'json' }));
    sdk.info('Worker state changed', { sdkComponent: 'worker', taskQueue: 'q', state: 'RUNNING' }); // routine
    sdk.warn('No workflows registered, not polling for workflow tasks', { taskQueue: 'q' }); // by design
    sdk.info('No Nexus services registered, not polling for Nexus tasks', { taskQueue: 'q' }); // routine
    sdk.info('Connection to the server restored', { sdkComponent: 'worker', taskQueue: 'q' });
    // Housekeeping that went fine: debug; the same line for real work stays.
    sdk.info('activity attempt completed', { taskQueue: 'maintenance', activityType: 'reconcilePage' });
    sdk.warn('activity attempt failed', { taskQueue: 'maintenance', activityType: 'reconcilePage', willRetry: true });
    sdk.info('activity attempt completed', { taskQueue: 'medication-reminders', activityType: 'sendDose' });
    sdk.debug('Activity completed', { durationMs: 3 }); // below info: dropped
    sdk.warn('Activity failed', { error: new Error('x'), durationMs: 3 }); // the SDK's copy of ours: demoted
    sdk.error('Workflow task failed', {
      error: ApplicationFailure.create({ message: 'cannot reach bob@example.org', type: 'Boom' }),
    });
    const lines = out.json();
    expect(lines.map((l) => [l.msg, l.taskQueue])).toEqual([
      ['Connection to the server restored', 'q'],
      ['activity attempt failed', 'maintenance'],
      ['activity attempt completed', 'medication-reminders'],
      ['Workflow task failed', undefined],
    ]);
    expect(lines[0]).toMatchObject({ level: 30, sdkComponent: 'worker', taskQueue: 'q' });
    expect(lines[3]).toMatchObject({
      level: 50,
      err: { type: 'ApplicationFailure', message: 'cannot reach [email]' },
    });

    const verbose = capture();
    const debugSdk = temporalLogger(
      createLogger('worker', { destination: verbose.stream, level: 'debug', format: 'json' }),
    );
    debugSdk.info('Worker state changed', { taskQueue: 'q', state: 'RUNNING' });
    expect(verbose.json()).toMatchObject([{ level: 20, msg: 'Worker state changed', state: 'RUNNING' }]);
  });
});
