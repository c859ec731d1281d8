/** Email through Resend. The dedupe key doubles as Resend's idempotency key, so a retried
 * activity never sends a second email even if it crashed after Resend accepted the first. */
import { Resend } from 'resend';
import { DeliveryError, isPermanentStatus, parseRetryAfter, type EmailMessage, type EmailSender } from './types.ts';

export class ResendEmailSender implements EmailSender {
  readonly name = 'resend';
  private readonly client: Resend;

  constructor(
    apiKey: string,
    private readonly from: string,
    /** Defaults to Resend's API; tests point it at a local fake. */
    baseUrl?: string,
    /** The SDK sets no timeout of its own: a hung request is abandoned (and retried) after this. */
    private readonly timeoutMs = 15_000,
  ) {
    // The SDK appends "/emails" to the base URL as a string: a trailing slash would make it "//emails".
    this.client = baseUrl ? new Resend(apiKey, { baseUrl: baseUrl.replace(/\/+$/, '') }) : new Resend(apiKey);
  }

  async send(message: EmailMessage, idempotencyKey: string): Promise<{ messageId: string }> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let response: Awaited<ReturnType<Resend['emails']['send']>>;
    try {
      response = await this.client.emails.send(
        { from: this.from, to: message.to, subject: message.subject, text: message.text },
        // Resend limits idempotency keys to 256 characters; ours are far shorter.
        { idempotencyKey, signal },
      );
    } catch (err) {
      throw new DeliveryError(`Resend unreachable: ${(err as Error).message}`, false, 'network');
    }
    if (response.error) {
      const status = response.error.statusCode ?? 0;
      // The SDK reports an aborted request like any network failure (no status).
      if (status === 0 && signal.aborted) {
        throw new DeliveryError(`Resend did not answer within ${this.timeoutMs} ms`, false, 'timeout');
      }
      // Resend reports network failures with no status (0): those are transient. So is a 409
      // concurrent_idempotent_requests (the first request with this key is still in progress; Resend
      // says to retry later), unlike 409 invalid_idempotent_request (same key, another body).
      const permanent =
        status > 0 && isPermanentStatus(status) && response.error.name !== 'concurrent_idempotent_requests';
      const retryAfter = parseRetryAfter(response.headers?.['retry-after']);
      throw new DeliveryError(
        `Resend rejected the email (${status} ${response.error.name}): ${response.error.message}`,
        permanent,
        status ? String(status) : response.error.name,
        retryAfter,
      );
    }
    return { messageId: response.data.id };
  }
}
