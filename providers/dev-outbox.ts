/**
 * The dev outbox: with no provider credentials, push and email "deliveries" are written to the
 * dev_outbox table instead, exactly as they would have been sent. The unique dedupe key makes a
 * repeated delivery a no-op, like a provider's idempotency key.
 */
import type { Channel, PrismaClient } from '../shared/db.ts';
import type { EmailMessage, EmailSender, PushMessage, PushSender, PushTokenResult } from './types.ts';

async function record(
  prisma: PrismaClient,
  channel: Channel,
  dedupeKey: string,
  to: string,
  title: string,
  body: string,
  data?: Record<string, string>,
): Promise<string> {
  const row = await prisma.devOutboxMessage.upsert({
    where: { dedupeKey },
    create: { dedupeKey, channel, to, title, body, data: data ?? {} },
    update: {},
  });
  return `outbox-${row.id}`;
}

export class OutboxPushSender implements PushSender {
  readonly name = 'dev-outbox';
  constructor(private readonly prisma: PrismaClient) {}

  async send(tokens: string[], message: PushMessage, idempotencyKey: string): Promise<PushTokenResult[]> {
    const results: PushTokenResult[] = [];
    for (const token of tokens) {
      const id = await record(
        this.prisma,
        'push',
        `${idempotencyKey}:${token}`,
        token,
        message.title,
        message.body,
        message.data,
      );
      results.push({ token, ok: true, messageId: id });
    }
    return results;
  }
}

export class OutboxEmailSender implements EmailSender {
  readonly name = 'dev-outbox';
  constructor(private readonly prisma: PrismaClient) {}

  async send(message: EmailMessage, idempotencyKey: string): Promise<{ messageId: string }> {
    const id = await record(this.prisma, 'email', idempotencyKey, message.to, message.subject, message.text);
    return { messageId: id };
  }
}
