/**
 * The FCM adapter with the real firebase-admin SDK, over TLS, against the local fake of FCM's HTTP
 * v1 API and Google's token endpoint (test/fakes/fcm-server.ts): the service account's JWT is
 * exchanged for an access token, each message is one `messages:send`, and every FCM answer is
 * classified as the activities expect (unregistered / permanent / transient).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { collapseId, FcmPushSender, QUIET_CHANNEL } from '../providers/fcm-push.ts';
import { DeliveryError, type PushTokenResult } from '../providers/types.ts';
import { startFakeFcm, type FakeFcm } from './fakes/fcm-server.ts';
import { issueTestCertificates } from './fakes/fcm-tls.ts';

const MESSAGE = { title: 'Metformin', body: 'Time for your dose', data: { kind: 'dose_reminder' } };

function failure(r: PushTokenResult | undefined): DeliveryError {
  if (!r || r.ok || r.unregistered) throw new Error(`expected a DeliveryError, got ${JSON.stringify(r)}`);
  return r.error;
}

describe('FcmPushSender (firebase-admin) against a local FCM', () => {
  let fcm: FakeFcm;
  let sender: FcmPushSender;

  beforeAll(async () => {
    fcm = await startFakeFcm();
    sender = FcmPushSender.fromServiceAccount(fcm.serviceAccount, fcm.connection);
  });
  afterAll(() => fcm.close());
  beforeEach(() => fcm.respondWith(null));

  it('gets an access token with the service account, then sends one message per token', async () => {
    const results = await sender.send(['phone-a', 'tablet-b'], MESSAGE, 'dose:m1:push');
    expect(results).toEqual([
      { token: 'phone-a', ok: true, messageId: expect.stringMatching(/^projects\/carecircle-fake\/messages\/\d+$/) },
      { token: 'tablet-b', ok: true, messageId: expect.stringMatching(/^projects\/carecircle-fake\/messages\/\d+$/) },
    ]);
    expect(fcm.tokensIssued).toBe(1);
    const sent = fcm.sent.filter((s) => s.message.data?.dedupeKey === 'dose:m1:push');
    expect(sent.map((s) => s.token).sort()).toEqual(['phone-a', 'tablet-b']);
    expect(sent[0]!.message).toMatchObject({
      notification: { title: 'Metformin', body: 'Time for your dose' },
      data: { kind: 'dose_reminder', dedupeKey: 'dose:m1:push' },
    });
    // The token is reused, not fetched per message.
    await sender.send(['phone-a'], MESSAGE, 'dose:m2:push');
    expect(fcm.tokensIssued).toBe(1);
  });

  it('gives every send of one delivery the same collapse id and sends the copy quietly, so it replaces the first on the phone', async () => {
    const key = 'dose:m1:2026-12-06T08:00:00.000Z:reminder:push:member-with-a-long-id-0123456789';
    await sender.send(['phone-c'], MESSAGE, key);
    // The retry after a worker died between FCM's answer and the "sent" record: quiet.
    await sender.send(['phone-c'], { ...MESSAGE, quiet: true }, key);
    await sender.send(['phone-c'], MESSAGE, 'dose:m1:2026-12-06T20:00:00.000Z:reminder:push:member');
    const [first, again, other] = fcm.sent.filter((s) => s.token === 'phone-c').map((s) => s.message);
    const collapse = (m: typeof first) => [
      m!.android?.notification?.tag,
      m!.apns?.headers?.['apns-collapse-id'],
      m!.webpush?.headers?.Topic,
    ];
    expect(new Set(collapse(first))).toEqual(new Set([collapseId(key)]));
    expect(collapse(again)).toEqual(collapse(first));
    expect(collapse(other)[0]).not.toBe(collapse(first)[0]);
    // The quiet copy: a channel without sound on Android, a passive notification on iOS.
    expect(again!.android?.notification?.channel_id).toBe(QUIET_CHANNEL);
    expect(again!.apns?.payload?.aps?.['interruption-level']).toBe('passive');
    expect(first!.android?.notification?.channel_id).toBeUndefined();
    expect(first!.apns?.payload?.aps?.['interruption-level']).toBeUndefined();
  });

  it('reports UNREGISTERED tokens as unregistered, the others of the batch still delivered', async () => {
    fcm.unregister('uninstalled');
    const [gone, live] = await sender.send(['uninstalled', 'live'], MESSAGE, 'dose:m3:push');
    expect(gone).toMatchObject({ token: 'uninstalled', ok: false, unregistered: true });
    expect(gone && !gone.ok && gone.unregistered && gone.error).toContain('registration-token-not-registered');
    expect(live).toMatchObject({ token: 'live', ok: true });
  });

  it('rides out a 503 with Retry-After inside the SDK (one message delivered)', async () => {
    fcm.respondWith(({ token, attempt }) =>
      token === 'flaky' && attempt === 0 ? { kind: 'status', status: 503, retryAfterSeconds: 1 } : undefined,
    );
    const started = Date.now();
    const [r] = await sender.send(['flaky'], MESSAGE, 'dose:m4:push');
    expect(r).toMatchObject({ ok: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(fcm.requests.filter((q) => q.token === 'flaky').map((q) => q.outcome)).toEqual(['503', 'ok']);
    expect(fcm.sent.filter((s) => s.token === 'flaky')).toHaveLength(1);
  });

  it('classifies 429, 500 and a 503 that lasts as transient, INVALID_ARGUMENT as permanent', async () => {
    fcm.respondWith(({ token }) => {
      if (token === 'quota') return { kind: 'status', status: 429, retryAfterSeconds: 30 };
      if (token === 'internal') return { kind: 'status', status: 500 };
      if (token === 'malformed') return { kind: 'invalid-argument' };
      return undefined;
    });
    const [quota, internal, malformed] = await sender.send(['quota', 'internal', 'malformed'], MESSAGE, 'k');
    expect(failure(quota)).toMatchObject({ permanent: false, code: 'messaging/message-rate-exceeded' });
    expect(failure(internal)).toMatchObject({ permanent: false, code: 'messaging/internal-error' });
    expect(failure(malformed)).toMatchObject({ permanent: true, code: 'messaging/invalid-argument' });
    expect(fcm.sent.filter((s) => ['quota', 'internal', 'malformed'].includes(s.token))).toHaveLength(0);
  });

  it('trusts only the CA it is given: another CA fails the TLS handshake (a transient error)', async () => {
    const other = issueTestCertificates(['fcm.googleapis.com']);
    try {
      const fcm2 = await startFakeFcm({ projectId: 'untrusted' });
      try {
        const untrusting = FcmPushSender.fromServiceAccount(fcm2.serviceAccount, {
          connectTo: fcm2.connectTo,
          ca: other.caPem,
        });
        const [r] = await untrusting.send(['t'], MESSAGE, 'k');
        const err = failure(r);
        expect(err.permanent).toBe(false);
        expect(err.message).toMatch(/certificate/i);
        expect(fcm2.tokensIssued).toBe(0);
      } finally {
        await fcm2.close();
      }
    } finally {
      other.remove();
    }
  });
});
