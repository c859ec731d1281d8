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
  ) {
    this.client = baseUrl ? new Resend(apiKey, { baseUrl }) : new Resend(apiKey);
  }

  async send(message: EmailMessage, idempotencyKey: string): Promise<{ messageId: string }> {
    let response: Awaited<ReturnType<Resend['emails']['send']>>;
    try {
      response = await this.client.emails.send(
        { from: this.from, to: message.to, subject: message.subject, text: message.text },
        // Resend limits idempotency keys to 256 characters; ours are far shorter.
        { idempotencyKey },
      );
    } catch (err) {
      throw new DeliveryError(`Resend unreachable: ${(err as Error).message}`, false, 'network');
    }
    if (response.error) {
      const status = response.error.statusCode ?? 0;
      // Resend reports network failures with no status (0): those are transient.
      const permanent = status > 0 && isPermanentStatus(status);
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
