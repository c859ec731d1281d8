/** Picks each provider from configuration: the real one when its credentials are set, otherwise
 * the dev outbox. */
import type { Config } from '../shared/config.ts';
import type { PrismaClient } from '../shared/db.ts';
import {
  CircuitBreakingEmailSender,
  CircuitBreakingPushSender,
  type CircuitBreakerOptions,
} from './circuit-breaker.ts';
import { OutboxEmailSender, OutboxPushSender } from './dev-outbox.ts';
import { FcmPushSender } from './fcm-push.ts';
import { ResendEmailSender } from './resend-email.ts';
import type { EmailSender, PushSender } from './types.ts';

export interface Providers {
  push: PushSender;
  email: EmailSender;
}

export function createProviders(config: Config, prisma: PrismaClient): Providers {
  // Real providers sit behind a circuit breaker each; the dev outbox is our own database.
  const breaker: CircuitBreakerOptions = {
    failures: config.CIRCUIT_BREAKER_FAILURES,
    openMs: config.CIRCUIT_BREAKER_OPEN_MS,
  };
  return {
    push: config.FIREBASE_SERVICE_ACCOUNT
      ? new CircuitBreakingPushSender(FcmPushSender.fromServiceAccount(config.FIREBASE_SERVICE_ACCOUNT), breaker)
      : new OutboxPushSender(prisma),
    email: config.RESEND_API_KEY
      ? new CircuitBreakingEmailSender(
          new ResendEmailSender(config.RESEND_API_KEY, config.EMAIL_FROM, config.RESEND_BASE_URL),
          breaker,
        )
      : new OutboxEmailSender(prisma),
  };
}

/** True when at least one channel goes to the dev outbox (then GET /v1/dev/outbox is served). */
export function usesDevOutbox(config: Config): boolean {
  return !config.FIREBASE_SERVICE_ACCOUNT || !config.RESEND_API_KEY;
}
