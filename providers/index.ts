/** Picks each provider from configuration: the real one when its credentials are set, otherwise
 * the dev outbox. */
import fs from 'node:fs';
import type { Config } from '../shared/config.ts';
import type { PrismaClient } from '../shared/db.ts';
import {
  CircuitBreakingEmailSender,
  CircuitBreakingPushSender,
  type CircuitBreakerOptions,
} from './circuit-breaker.ts';
import { OutboxEmailSender, OutboxPushSender } from './dev-outbox.ts';
import { FcmPushSender, type FcmConnection } from './fcm-push.ts';
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
      ? new CircuitBreakingPushSender(
          FcmPushSender.fromServiceAccount(config.FIREBASE_SERVICE_ACCOUNT, fcmConnection(config)),
          breaker,
        )
      : new OutboxPushSender(prisma),
    email: config.RESEND_API_KEY
      ? new CircuitBreakingEmailSender(
          new ResendEmailSender(config.RESEND_API_KEY, config.EMAIL_FROM, config.RESEND_BASE_URL),
          breaker,
        )
      : new OutboxEmailSender(prisma),
  };
}

/** A local stand-in for FCM, when configured (tests). */
function fcmConnection(config: Config): FcmConnection | undefined {
  if (!config.FIREBASE_CONNECT_TO) return undefined;
  const ca = config.FIREBASE_TLS_CA;
  if (!ca) throw new Error('FIREBASE_CONNECT_TO needs FIREBASE_TLS_CA, the CA of the server it names');
  return { connectTo: config.FIREBASE_CONNECT_TO, ca: ca.includes('-----BEGIN') ? ca : fs.readFileSync(ca, 'utf8') };
}

/** True when at least one channel goes to the dev outbox (then GET /v1/dev/outbox is served). */
export function usesDevOutbox(config: Config): boolean {
  return !config.FIREBASE_SERVICE_ACCOUNT || !config.RESEND_API_KEY;
}
