/**
 * The provider adapters' contract with the rest of the system: what they send, and how each
 * provider failure is classified (permanent → no retry; transient → Temporal retries, honouring
 * Retry-After). Resend runs against a local fake of its HTTP API; FCM against a stubbed `sendEach`
 * returning real firebase-admin error objects.
 */
import { FirebaseMessagingError, type BatchResponse, type Message, type Messaging } from 'firebase-admin/messaging';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { collapseId, FcmPushSender } from '../providers/fcm-push.ts';
import { ResendEmailSender } from '../providers/resend-email.ts';
import { DeliveryError, isPermanentStatus, parseRetryAfter, type PushTokenResult } from '../providers/types.ts';
import { startFakeResend, type FakeResend } from './fakes/resend-server.ts';

const API_KEY = 're_test_123';
const FROM = 'CareCircle <reminders@carecircle.test>';
const EMAIL = { to: 'ada@example.com', subject: 'Time for Metformin 500 mg', text: 'Take 1 tablet with food.' };

/** The rejection of `promise`, which must be a DeliveryError. */
async function deliveryError(promise: Promise<unknown>): Promise<DeliveryError> {
  const err = await promise.then(
    () => expect.fail('expected the send to fail'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

describe('ResendEmailSender against a fake Resend', () => {
  let fake: FakeResend;
  let sender: ResendEmailSender;

  beforeAll(async () => {
    fake = await startFakeResend({ apiKey: API_KEY });
    sender = new ResendEmailSender(API_KEY, FROM, fake.baseUrl);
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('sends exactly the message, with the dedupe key as Idempotency-Key, and returns Resend’s id', async () => {
    const { messageId } = await sender.send(EMAIL, 'reminder:dose-1:email');

    expect(fake.sent).toHaveLength(1);
    const [email] = fake.sent;
    expect(messageId).toBe(email!.id);
    expect(email).toMatchObject({ from: FROM, to: [EMAIL.to], subject: EMAIL.subject, text: EMAIL.text });
    expect(email!.payload).toEqual({ from: FROM, to: EMAIL.to, subject: EMAIL.subject, text: EMAIL.text });
    const [request] = fake.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/emails' });
    expect(request!.headers['idempotency-key']).toBe('reminder:dose-1:email');
    expect(request!.headers['authorization']).toBe(`Bearer ${API_KEY}`);
  });

  it('sends one email for a repeated key and returns the first id again', async () => {
    const first = await sender.send(EMAIL, 'reminder:dose-2:email');
    const second = await sender.send(EMAIL, 'reminder:dose-2:email');

    expect(second.messageId).toBe(first.messageId);
    expect(fake.requests).toHaveLength(2);
    expect(fake.sent).toHaveLength(1);
  });

  it('rejects a reused key with another body permanently (409 invalid_idempotent_request)', async () => {
    await sender.send(EMAIL, 'reminder:dose-3:email');
    const err = await deliveryError(sender.send({ ...EMAIL, to: 'someone-else@example.com' }, 'reminder:dose-3:email'));

    expect(err).toMatchObject({ permanent: true, code: '409' });
    expect(err.message).toContain('invalid_idempotent_request');
    expect(fake.sent).toHaveLength(1);
  });

  it('retries a key whose first request is still in progress (409 concurrent_idempotent_requests)', async () => {
    fake.failNext({ kind: 'delay', ms: 500 });
    const slow = sender.send(EMAIL, 'reminder:dose-4:email');
    await vi.waitFor(() => expect(fake.requests).toHaveLength(1));

    const err = await deliveryError(sender.send(EMAIL, 'reminder:dose-4:email'));
    expect(err.message).toContain('concurrent_idempotent_requests');
    expect(err).toMatchObject({ permanent: false, code: '409' });

    const { messageId } = await slow;
    await expect(sender.send(EMAIL, 'reminder:dose-4:email')).resolves.toEqual({ messageId });
    expect(fake.sent).toHaveLength(1);
  });

  it('treats a 500 as transient, and the retry with the same key sends once', async () => {
    fake.failNext(500);
    const err = await deliveryError(sender.send(EMAIL, 'reminder:dose-5:email'));
    expect(err).toMatchObject({ permanent: false, code: '500', retryAfterMs: undefined });
    expect(fake.sent).toHaveLength(0);

    await sender.send(EMAIL, 'reminder:dose-5:email');
    expect(fake.sent).toHaveLength(1);
  });

  it('treats a 502 with a non-JSON body (a proxy page) as transient', async () => {
    fake.failNext({ kind: 'status', status: 502, rawBody: '<html>Bad gateway</html>' });
    const err = await deliveryError(sender.send(EMAIL, 'reminder:dose-6:email'));
    expect(err).toMatchObject({ permanent: false, code: '502' });
  });

  it('treats a 429 as transient and passes on Retry-After', async () => {
    fake.failNext({ kind: 'status', status: 429, headers: { 'retry-after': '7' } });
    const err = await deliveryError(sender.send(EMAIL, 'reminder:dose-7:email'));

    expect(err).toMatchObject({ permanent: false, code: '429', retryAfterMs: 7000 });
    expect(err.message).toContain('rate_limit_exceeded');
  });

  it.each([400, 401, 403, 422])('treats a %i as permanent', async (status) => {
    fake.failNext(status);
    const err = await deliveryError(sender.send(EMAIL, `reminder:status-${status}:email`));

    expect(err).toMatchObject({ permanent: true, code: String(status) });
    expect(fake.sent).toHaveLength(0);
  });

  it('is rejected permanently by the fake itself for an invalid address or a wrong API key', async () => {
    const invalid = await deliveryError(sender.send({ ...EMAIL, to: 'not-an-address' }, 'reminder:bad-to:email'));
    expect(invalid).toMatchObject({ permanent: true, code: '422' });
    expect(invalid.message).toContain('validation_error');

    const wrongKey = new ResendEmailSender('re_revoked', FROM, fake.baseUrl);
    const denied = await deliveryError(wrongKey.send(EMAIL, 'reminder:bad-key:email'));
    expect(denied).toMatchObject({ permanent: true, code: '403' });
    expect(fake.sent).toHaveLength(0);
  });

  it('treats a connection reset as transient', async () => {
    fake.failNext({ kind: 'reset' });
    const err = await deliveryError(sender.send(EMAIL, 'reminder:dose-8:email'));

    expect(err.permanent).toBe(false);
    expect(fake.requests).toHaveLength(1);
    expect(fake.sent).toHaveLength(0);
  });

  it('sends once when the connection drops after Resend accepted the email', async () => {
    fake.failNext({ kind: 'reset', afterAccept: true });
    const err = await deliveryError(sender.send(EMAIL, 'reminder:dose-9:email'));
    expect(err.permanent).toBe(false);
    expect(fake.sent).toHaveLength(1);

    const { messageId } = await sender.send(EMAIL, 'reminder:dose-9:email');
    expect(messageId).toBe(fake.sent[0]!.id);
    expect(fake.sent).toHaveLength(1);
  });

  it('gives up on a hung request after its timeout, as a transient error', async () => {
    const impatient = new ResendEmailSender(API_KEY, FROM, fake.baseUrl, 200);
    fake.failNext({ kind: 'hang' });

    const started = Date.now();
    const err = await deliveryError(impatient.send(EMAIL, 'reminder:dose-10:email'));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err).toMatchObject({ permanent: false, code: 'timeout' });
  }, 5000);

  it('accepts a base URL with a trailing slash', async () => {
    const slashed = new ResendEmailSender(API_KEY, FROM, `${fake.baseUrl}/`);
    await slashed.send(EMAIL, 'reminder:dose-11:email');

    expect(fake.requests[0]!.path).toBe('/emails');
    expect(fake.sent).toHaveLength(1);
  });

  it('treats a server that is down as transient', async () => {
    const gone = await startFakeResend();
    await gone.close();
    const err = await deliveryError(new ResendEmailSender(API_KEY, FROM, gone.baseUrl).send(EMAIL, 'k'));

    expect(err.permanent).toBe(false);
    expect(gone.requests).toHaveLength(0);
  });
});

describe('FcmPushSender', () => {
  /** A real firebase-admin error, built the way the SDK builds it from an FCM v1 error code. */
  function fcmError(serverCode: string, message = `FCM said ${serverCode}`): FirebaseMessagingError {
    const factory = FirebaseMessagingError as unknown as {
      fromServerError(code: string, message?: string): FirebaseMessagingError;
    };
    return factory.fromServerError(serverCode, message);
  }

  function stubMessaging(respond: (messages: Message[]) => BatchResponse | Promise<BatchResponse>) {
    const sendEach = vi.fn<Messaging['sendEach']>(async (messages) => respond(messages));
    return { messaging: { sendEach } satisfies Pick<Messaging, 'sendEach'>, sendEach };
  }

  function batch(...responses: BatchResponse['responses']): BatchResponse {
    const successCount = responses.filter((r) => r.success).length;
    return { responses, successCount, failureCount: responses.length - successCount };
  }

  it('builds real firebase-admin errors with the codes the adapter matches on', () => {
    expect(fcmError('UNREGISTERED').code).toBe('messaging/registration-token-not-registered');
    expect(fcmError('InvalidRegistration').code).toBe('messaging/invalid-registration-token');
    expect(fcmError('INVALID_ARGUMENT').code).toBe('messaging/invalid-argument');
    expect(fcmError('SENDER_ID_MISMATCH').code).toBe('messaging/mismatched-credential');
    expect(fcmError('THIRD_PARTY_AUTH_ERROR').code).toBe('messaging/third-party-auth-error');
    expect(fcmError('UNAVAILABLE').code).toBe('messaging/server-unavailable');
    expect(fcmError('QUOTA_EXCEEDED').code).toBe('messaging/message-rate-exceeded');
    expect(fcmError('INTERNAL').code).toBe('messaging/internal-error');
    expect(fcmError('UNREGISTERED')).toBeInstanceOf(FirebaseMessagingError);
  });

  it('classifies each token: sent, unregistered, permanent or transient', async () => {
    const outcomes: Record<string, BatchResponse['responses'][number]> = {
      ok: { success: true, messageId: 'projects/p/messages/1' },
      gone: { success: false, error: fcmError('UNREGISTERED') },
      malformed: { success: false, error: fcmError('InvalidRegistration') },
      invalid: { success: false, error: fcmError('INVALID_ARGUMENT') },
      otherProject: { success: false, error: fcmError('SENDER_ID_MISMATCH') },
      apns: { success: false, error: fcmError('THIRD_PARTY_AUTH_ERROR') },
      down: { success: false, error: fcmError('UNAVAILABLE') },
      quota: { success: false, error: fcmError('QUOTA_EXCEEDED') },
      internal: { success: false, error: fcmError('INTERNAL') },
      silent: { success: false },
    };
    const tokens = Object.keys(outcomes);
    const { messaging } = stubMessaging((messages) =>
      batch(...messages.map((m) => outcomes[(m as { token: string }).token]!)),
    );

    const results = await new FcmPushSender(messaging).send(tokens, { title: 't', body: 'b' }, 'key-1');
    const byToken = Object.fromEntries(results.map((r) => [r.token, r]));
    const kind = (r: PushTokenResult | undefined) =>
      !r ? 'missing' : r.ok ? 'sent' : r.unregistered ? 'unregistered' : r.error.permanent ? 'permanent' : 'transient';

    expect(results.map((r) => r.token)).toEqual(tokens);
    expect(Object.fromEntries(tokens.map((t) => [t, kind(byToken[t])]))).toEqual({
      ok: 'sent',
      gone: 'unregistered',
      malformed: 'unregistered',
      invalid: 'permanent',
      otherProject: 'permanent',
      apns: 'permanent',
      down: 'transient',
      quota: 'transient',
      internal: 'transient',
      silent: 'transient',
    });
    expect(byToken.ok).toEqual({ token: 'ok', ok: true, messageId: 'projects/p/messages/1' });
    expect(byToken.gone).toMatchObject({
      error: expect.stringContaining('messaging/registration-token-not-registered'),
    });
    const down = byToken.down as Extract<PushTokenResult, { unregistered: false }>;
    expect(down.error).toBeInstanceOf(DeliveryError);
    expect(down.error.code).toBe('messaging/server-unavailable');
    expect((byToken.silent as Extract<PushTokenResult, { unregistered: false }>).error.code).toBe(
      'messaging/unknown-error',
    );
  });

  it('sends one message per token carrying the notification and the dedupe key in data', async () => {
    const { messaging, sendEach } = stubMessaging((messages) =>
      batch(...messages.map((_, i) => ({ success: true, messageId: `m${i}` }))),
    );

    await new FcmPushSender(messaging).send(
      ['tok-a', 'tok-b'],
      { title: 'Metformin', body: 'Time for your dose', data: { kind: 'dose_reminder', dedupeKey: 'spoofed' } },
      'reminder:dose-1:push',
    );

    expect(sendEach).toHaveBeenCalledTimes(1);
    expect(sendEach.mock.calls[0]![0]).toEqual(
      ['tok-a', 'tok-b'].map((token) => ({
        token,
        notification: { title: 'Metformin', body: 'Time for your dose' },
        data: { kind: 'dose_reminder', dedupeKey: 'reminder:dose-1:push' },
        android: { notification: { tag: collapseId('reminder:dose-1:push') } },
        apns: { headers: { 'apns-collapse-id': collapseId('reminder:dose-1:push') } },
        webpush: { headers: { Topic: collapseId('reminder:dose-1:push') } },
      })),
    );
  });

  it('turns sendEach throwing (asynchronously or not) into a transient DeliveryError', async () => {
    const rejecting = stubMessaging(() => Promise.reject(new Error('socket hang up')));
    const err = await deliveryError(new FcmPushSender(rejecting.messaging).send(['t'], { title: 't', body: 'b' }, 'k'));
    expect(err).toMatchObject({ permanent: false, code: 'network' });
    expect(err.message).toContain('socket hang up');

    // firebase-admin throws synchronously for an empty or over-long batch.
    const throwing: Pick<Messaging, 'sendEach'> = {
      sendEach: () => {
        throw fcmError('UNAVAILABLE', 'session closed');
      },
    };
    const syncErr = await deliveryError(new FcmPushSender(throwing).send(['t'], { title: 't', body: 'b' }, 'k'));
    expect(syncErr.permanent).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');

  it('reads delay-seconds', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('120', now)).toBe(120_000);
  });

  it('reads an HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:59:00 GMT', now)).toBe(0);
  });

  it('ignores a missing or unreadable value', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('isPermanentStatus', () => {
  it.each([400, 401, 403, 404, 409, 413, 422])('%i is permanent', (status) => {
    expect(isPermanentStatus(status)).toBe(true);
  });

  it.each([408, 429, 500, 502, 503, 504])('%i is worth retrying', (status) => {
    expect(isPermanentStatus(status)).toBe(false);
  });

  it.each([200, 204, 301])('%i is not an error', (status) => {
    expect(isPermanentStatus(status)).toBe(false);
  });
});
