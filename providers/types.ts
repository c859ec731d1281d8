/**
 * What the delivery activities need from a provider. Each real provider (FCM, Resend) and the dev
 * outbox implements these, so activities never know which one they talk to.
 */

export interface PushMessage {
  title: string;
  body: string;
  data?: Record<string, string>;
  /**
   * Shown without sound or vibration: a copy sent again after an unknown outcome, which replaces
   * the first notification (same collapse id) rather than alerting a second time.
   */
  quiet?: boolean;
}

export type PushTokenResult =
  | { token: string; ok: true; messageId: string }
  /** The token is gone for good (app uninstalled, token rotated): deactivate it, never retry. */
  | { token: string; ok: false; unregistered: true; error: string }
  | { token: string; ok: false; unregistered: false; error: DeliveryError };

export interface PushSender {
  readonly name: string;
  /** Sends one message to every token; `idempotencyKey` identifies this delivery across retries. */
  send(tokens: string[], message: PushMessage, idempotencyKey: string): Promise<PushTokenResult[]>;
}

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
}

export interface EmailSender {
  readonly name: string;
  send(message: EmailMessage, idempotencyKey: string): Promise<{ messageId: string }>;
}

/**
 * A failed provider call, classified once at the adapter so that retry decisions are made in one
 * place: transient errors are retried by Temporal, permanent ones are not.
 */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    message: string,
    readonly permanent: boolean,
    /** The provider's own error code or HTTP status, for logs and dead letters. */
    readonly code: string,
    /** A provider's Retry-After, in milliseconds, when it gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** HTTP status → permanent? 429 and 5xx are worth retrying; other 4xx are not. */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Parses a Retry-After header (seconds or HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  // delay-seconds is a plain non-negative integer (RFC 9110); anything else must be an HTTP date.
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
