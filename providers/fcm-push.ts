/**
 * Push through Firebase Cloud Messaging (firebase-admin). FCM has no idempotency key, so
 * duplicates are prevented one level up: the notification log records a delivery before the
 * activity completes, and a retry of a delivery already marked sent never calls FCM again.
 */
import { cert, initializeApp, type App } from 'firebase-admin/app';
import { getMessaging, type Messaging } from 'firebase-admin/messaging';
import { DeliveryError, type PushMessage, type PushSender, type PushTokenResult } from './types.ts';

/** FCM error codes meaning "this token will never work again". */
const UNREGISTERED = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);
/** FCM error codes that retrying cannot fix. */
const PERMANENT = new Set([
  'messaging/invalid-argument',
  'messaging/invalid-recipient',
  'messaging/invalid-payload',
  'messaging/invalid-data-payload-key',
  'messaging/payload-size-limit-exceeded',
  'messaging/mismatched-credential',
  'messaging/third-party-auth-error',
]);

export function classifyFcmError(token: string, code: string, message: string): PushTokenResult {
  if (UNREGISTERED.has(code)) return { token, ok: false, unregistered: true, error: `${code}: ${message}` };
  // quota-exceeded, server-unavailable, internal-error, unknown-error: FCM asks for a retry.
  return {
    token,
    ok: false,
    unregistered: false,
    error: new DeliveryError(`FCM ${code}: ${message}`, PERMANENT.has(code), code),
  };
}

export class FcmPushSender implements PushSender {
  readonly name = 'fcm';

  constructor(private readonly messaging: Pick<Messaging, 'sendEach'>) {}

  /** Builds the sender from a service-account JSON document or a path to one. */
  static fromServiceAccount(serviceAccount: string): FcmPushSender {
    const credential = cert(serviceAccount.trim().startsWith('{') ? JSON.parse(serviceAccount) : serviceAccount);
    const app: App = initializeApp({ credential }, 'carecircle-push');
    return new FcmPushSender(getMessaging(app));
  }

  async send(tokens: string[], message: PushMessage, idempotencyKey: string): Promise<PushTokenResult[]> {
    let batch: Awaited<ReturnType<Messaging['sendEach']>>;
    try {
      batch = await this.messaging.sendEach(
        tokens.map((token) => ({
          token,
          notification: { title: message.title, body: message.body },
          // The key travels with the message so the app can drop a duplicate on the device too.
          data: { ...message.data, dedupeKey: idempotencyKey },
        })),
      );
    } catch (err) {
      throw new DeliveryError(`FCM unreachable: ${(err as Error).message}`, false, 'network');
    }
    return batch.responses.map((r, i): PushTokenResult => {
      const token = tokens[i]!;
      if (r.success && r.messageId) return { token, ok: true, messageId: r.messageId };
      const code = r.error?.code ?? 'messaging/unknown-error';
      return classifyFcmError(token, code, r.error?.message ?? 'no message');
    });
  }
}
