/**
 * A stand-in for firebase-admin's `Messaging` at the adapter boundary (`FcmPushSender` takes any
 * `Pick<Messaging, 'sendEach'>`), for tests that need no network: no TLS, no token exchange. The
 * real SDK against a local FCM over HTTPS is ./fcm-server.ts. It answers like `sendEach`: one
 * response per message, failures
 * carrying firebase-admin's error codes (`messaging/registration-token-not-registered`,
 * `messaging/server-unavailable`, …), or the whole call rejecting as a network failure does.
 *
 *   const fcm = createFcmStub();
 *   fcm.failToken('device-1', 'messaging/registration-token-not-registered');
 *   fcm.failNext('messaging/server-unavailable', 2);   // every token of the next two calls
 *   fcm.failNext('network');                           // the next call rejects
 *   new FcmPushSender(fcm);
 */
import type { Messaging } from 'firebase-admin/messaging';

type SendEach = Messaging['sendEach'];
type Batch = Awaited<ReturnType<SendEach>>;
type Message = Parameters<SendEach>[0][number];

export interface FcmStub extends Pick<Messaging, 'sendEach'> {
  /** Every message accepted, with the token it went to. */
  delivered: { token: string; message: Message; messageId: string }[];
  /** Every call, accepted or not. */
  calls: Message[][];
  /** Fails every message of the next `times` calls with this code; 'network' rejects the call. */
  failNext(code: string, times?: number): void;
  /** Fails every message to this token with this code, until `clear()`. */
  failToken(token: string, code: string): void;
  /** Delay before each call answers. */
  setLatency(ms: number): void;
  clear(): void;
}

function errorFor(code: string) {
  const error = new Error(`FCM stub: ${code}`) as Error & { code: string };
  error.code = code;
  return error;
}

export function createFcmStub(): FcmStub {
  const delivered: FcmStub['delivered'] = [];
  const calls: Message[][] = [];
  const queue: string[] = [];
  const byToken = new Map<string, string>();
  let latencyMs = 0;
  let counter = 0;

  return {
    delivered,
    calls,
    async sendEach(messages) {
      calls.push(messages);
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const planned = queue.shift();
      if (planned === 'network') throw new Error('connect ECONNREFUSED fcm.googleapis.com:443');
      const responses = messages.map((message) => {
        const token = 'token' in message ? message.token : '';
        const code = planned ?? byToken.get(token);
        if (code) return { success: false, error: errorFor(code) };
        const messageId = `projects/stub/messages/${++counter}`;
        delivered.push({ token, message, messageId });
        return { success: true, messageId };
      });
      const successCount = responses.filter((r) => r.success).length;
      return { responses, successCount, failureCount: responses.length - successCount } as unknown as Batch;
    },
    failNext(code, times = 1) {
      for (let i = 0; i < times; i++) queue.push(code);
    },
    failToken(token, code) {
      byToken.set(token, code);
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    clear() {
      delivered.length = 0;
      calls.length = 0;
      queue.length = 0;
      byToken.clear();
      latencyMs = 0;
    },
  };
}
