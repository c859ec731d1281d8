/**
 * Push through Firebase Cloud Messaging (firebase-admin). FCM has no idempotency key, so
 * duplicates are prevented one level up: the notification log records a delivery before the
 * activity completes, and a retry of a delivery already marked sent never calls FCM again.
 *
 * One window is left: a worker that dies after FCM accepted a message and before the "sent" record
 * is written sends it again on retry. Every message of one delivery therefore carries the same
 * collapse id (Android notification tag, APNs collapse id, Web Push topic), derived from the
 * delivery's key: the phone replaces the first notification with the second instead of showing
 * the reminder twice, even when the app is not running to drop it by its `dedupeKey`. Such a copy
 * is sent quiet (`PushMessage.quiet`): no second sound or vibration if the first did arrive.
 */
import { createHash } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
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

  /**
   * Builds the sender from a service-account JSON document or a path to one. With `connection`,
   * every connection to Google's hosts goes to `connectTo` instead, trusting only `ca`: a local
   * stand-in for FCM (test/fakes/fcm-server.ts). Production passes none.
   */
  static fromServiceAccount(serviceAccount: string, connection?: FcmConnection): FcmPushSender {
    const inline = serviceAccount.trim().startsWith('{');
    // firebase-admin hands the agent to its token request only for a service account read from a
    // file (from an object it builds the OAuth client without it), so a redirected sender needs a path.
    if (connection && inline) throw new Error('a redirected FCM sender needs the service account as a file path');
    const agent = connection ? redirectingAgent(connection) : undefined;
    const credential = cert(inline ? JSON.parse(serviceAccount) : serviceAccount, agent);
    // One app per destination: tests build several senders in one process.
    const app: App = initializeApp(
      { credential, httpAgent: agent },
      `carecircle-push${connection ? `@${connection.connectTo}` : ''}`,
    );
    const messaging = getMessaging(app);
    // The SDK's HTTP/2 transport opens its own session to fcm.googleapis.com and takes no agent:
    // a redirected sender uses the SDK's HTTP/1.1 transport, the same requests through the agent.
    if (connection) messaging.enableLegacyHttpTransport();
    return new FcmPushSender(messaging);
  }

  async send(tokens: string[], message: PushMessage, idempotencyKey: string): Promise<PushTokenResult[]> {
    const collapse = collapseId(idempotencyKey);
    let batch: Awaited<ReturnType<Messaging['sendEach']>>;
    try {
      batch = await this.messaging.sendEach(
        tokens.map((token) => ({
          token,
          notification: { title: message.title, body: message.body },
          // The key travels with the message so the app can drop a duplicate on the device too.
          data: { ...message.data, dedupeKey: idempotencyKey },
          android: {
            // The app registers QUIET_CHANNEL without sound or vibration.
            notification: { tag: collapse, ...(message.quiet ? { channelId: QUIET_CHANNEL } : {}) },
          },
          apns: {
            headers: { 'apns-collapse-id': collapse, ...(message.quiet ? { 'apns-priority': '5' } : {}) },
            // A passive notification is shown without sound and does not light the screen.
            ...(message.quiet ? { payload: { aps: { 'interruption-level': 'passive' } } } : {}),
          },
          webpush: { headers: { Topic: collapse } },
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

/** The Android notification channel the app registers without sound or vibration, for quiet copies. */
export const QUIET_CHANNEL = 'reminders-quiet';

/**
 * The same short id for every send of one delivery: Web Push topics allow 32 URL-safe characters
 * and APNs collapse ids 64 bytes, so the delivery key is hashed rather than used as it is.
 */
export function collapseId(idempotencyKey: string): string {
  return createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32);
}

/** Where the FCM adapter connects instead of Google's hosts, and the CA (PEM) it then trusts. */
export interface FcmConnection {
  /** "host:port". */
  connectTo: string;
  ca: string;
}

/** An https.Agent that connects every request to `connectTo`, keeping the original host for SNI and certificate checks. */
function redirectingAgent({ connectTo, ca }: FcmConnection): https.Agent {
  const at = connectTo.lastIndexOf(':');
  const host = connectTo.slice(0, at);
  const port = Number(connectTo.slice(at + 1));
  if (!host || !Number.isInteger(port) || port <= 0)
    throw new Error(`FCM connection "${connectTo}": expected host:port`);
  const agent = new https.Agent({ keepAlive: true, ca });
  agent.createConnection = (options) => {
    const o = options as tls.ConnectionOptions;
    return tls.connect({ ...o, host, port, servername: o.servername || o.host || undefined, ca });
  };
  return agent;
}
