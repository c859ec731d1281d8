/**
 * Delivers one notification (one recipient × one channel) identified by its dedupe key.
 *
 * Exactly-once as far as people can see: the notification log row is the record of truth. A
 * delivery already marked sent is never repeated; a retry after a crash between the provider call
 * and the log update is absorbed by the provider's idempotency key (Resend, dev outbox, in-app
 * table), except for FCM, which has none: such a crash repeats the push. That window is one write
 * long (callProvider). Errors are classified here so that Temporal's retry policy does the rest.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Prisma, PrismaClient } from '../shared/db.ts';
import { DeliveryError, type EmailSender, type PushSender } from '../providers/types.ts';
import { deliveryKindOf, RETRY_POLICIES } from '../shared/retry-policies.ts';
import { toActivityFailure } from './retry.ts';

export type DeliveryResult =
  { status: 'sent'; providerMessageId: string } | { status: 'already_sent' } | { status: 'skipped'; reason: string };

export const PERMANENT_DELIVERY_ERROR = 'PermanentDeliveryError';
export const TRANSIENT_DELIVERY_ERROR = 'TransientDeliveryError';

/** The retry decision tree and jittered delays live in activities/retry.ts. */
function toFailure(err: unknown, dedupeKey?: string): Error {
  return toActivityFailure(err, dedupeKey ? { fallbackPolicy: RETRY_POLICIES[deliveryKindOf(dedupeKey)] } : {});
}

export interface SendOptions {
  /** The provider attempt this is (stored on the notification; default: the activity's attempt). */
  attempt?: number;
  /**
   * Drop a medication reminder whose medication is no longer active. The armed dose path decides
   * with the schedule's generation instead, before it sends.
   */
  checkMedication?: boolean;
}

/** A notification row with its recipient, as the sender needs it. */
export type LoadedNotification = Prisma.NotificationLogGetPayload<{ include: { recipient: true } }>;

/**
 * Sends one planned notification by its dedupe key: the provider call and the log row around it.
 * Errors come out as they are (classify them with toActivityFailure).
 */
export function createNotificationSender(deps: { prisma: PrismaClient; push: PushSender; email: EmailSender }) {
  const { prisma, push, email } = deps;

  async function sendPush(
    recipientId: string,
    title: string,
    body: string,
    dedupeKey: string,
    knownTokens?: string[],
    quiet = false,
  ): Promise<DeliveryResult> {
    const tokens =
      knownTokens ??
      (await prisma.pushToken.findMany({ where: { memberId: recipientId, active: true } })).map((t) => t.token);
    if (tokens.length === 0) return { status: 'skipped', reason: 'no_active_push_token' };
    const results = await push.send(
      tokens,
      { title, body, data: { kind: 'dose_reminder' }, ...(quiet ? { quiet } : {}) },
      dedupeKey,
    );
    const gone = results.filter((r) => !r.ok && r.unregistered).map((r) => r.token);
    if (gone.length > 0) {
      // By token, not by member: a device shared by several members is gone for all of them.
      await prisma.pushToken.updateMany({
        where: { token: { in: gone } },
        data: { active: false, deactivatedAt: new Date() },
      });
    }
    const sent = results.filter((r) => r.ok);
    // One device reached is a delivered reminder: retrying would repeat it on that device.
    if (sent.length > 0) return { status: 'sent', providerMessageId: sent.map((r) => r.messageId).join(',') };
    const retryable = results.find((r) => !r.ok && !r.unregistered && !r.error.permanent);
    if (retryable && !retryable.ok && !retryable.unregistered) throw retryable.error;
    const first = results.find((r) => !r.ok);
    const reason = first && !first.ok ? (first.unregistered ? first.error : first.error.message) : 'no result';
    throw new DeliveryError(
      `Push failed on every device: ${reason}`,
      true,
      gone.length === results.length ? 'unregistered' : 'rejected',
    );
  }

  async function send(dedupeKey: string, opts: SendOptions = {}): Promise<DeliveryResult> {
    const log = await prisma.notificationLog.findUnique({ where: { dedupeKey }, include: { recipient: true } });
    if (!log) throw ApplicationFailure.nonRetryable(`No notification with key ${dedupeKey}`, PERMANENT_DELIVERY_ERROR);
    if (log.status === 'sent') return { status: 'already_sent' };
    if (log.status === 'skipped') return { status: 'skipped', reason: log.error ?? 'skipped' };

    // A reminder for a medication deleted or paused since it was planned is a ghost: drop it.
    if (log.medicationId && opts.checkMedication !== false) {
      const medication = await prisma.medication.findUnique({
        where: { id: log.medicationId },
        select: { status: true },
      });
      if (!medication || medication.status !== 'active') {
        await prisma.notificationLog.update({
          where: { id: log.id },
          data: { status: 'skipped', error: 'medication_inactive' },
        });
        return { status: 'skipped', reason: 'medication_inactive' };
      }
    }

    await prisma.notificationLog.update({
      where: { id: log.id },
      data: { attempts: opts.attempt ?? Context.current().info.attempt, callStartedAt: new Date() },
    });
    return callProvider(log);
  }

  /**
   * The provider call alone, for a notification loaded (with its push tokens) ahead of time: an
   * armed dose does its reads before the instant, so at the instant only the provider and one write
   * per notification remain (`recordOutcome`, which it makes after giving up its provider slot).
   */
  async function reachProvider(log: LoadedNotification, pushTokens?: string[]): Promise<DeliveryResult> {
    const dedupeKey = log.dedupeKey;
    // A call of an earlier attempt started and left no outcome: it may have reached the phone.
    // FCM takes no idempotency key, so the push goes again under the same collapse id, quietly:
    // it replaces the first notification without alerting twice, or shows it if it never came.
    const quiet = log.callStartedAt !== null;
    if (log.channel === 'push') return sendPush(log.recipientId, log.title, log.body, dedupeKey, pushTokens, quiet);
    if (log.channel === 'email') {
      if (!log.recipient.email) return { status: 'skipped', reason: 'no_email_address' };
      const { messageId } = await email.send(
        { to: log.recipient.email, subject: log.title, text: log.body },
        dedupeKey,
      );
      return { status: 'sent', providerMessageId: messageId };
    }
    const row = await prisma.inAppNotification.upsert({
      where: { dedupeKey },
      create: { dedupeKey, recipientId: log.recipientId, title: log.title, body: log.body },
      update: {},
    });
    return { status: 'sent', providerMessageId: `in-app-${row.id}` };
  }

  /**
   * The row's outcome of a provider call: its result, or the error it failed with. `attempt`, when
   * given, is stored with it. Returns the row's `sentAt` when it was sent.
   */
  async function recordOutcome(
    log: LoadedNotification,
    outcome: { result: DeliveryResult } | { error: unknown },
    attempt?: number,
  ): Promise<Date | null> {
    const attempts = attempt === undefined ? {} : { attempts: attempt };
    if ('error' in outcome) {
      // A refusal is an outcome, but it says nothing of an earlier call that left none (the mark
      // loaded with the row), and an unanswered call may have gone through: both keep the mark.
      const unanswered = outcome.error instanceof DeliveryError && /network|timeout/.test(outcome.error.code);
      await prisma.notificationLog.update({
        where: { id: log.id },
        data: {
          error: (outcome.error as Error).message,
          callStartedAt: log.callStartedAt ?? (unanswered ? new Date() : null),
          ...attempts,
        },
      });
      return null;
    }
    const { result } = outcome;
    const provider = log.channel === 'push' ? push.name : log.channel === 'email' ? email.name : 'in-app';
    const sentAt = new Date();
    await prisma.notificationLog.update({
      where: { id: log.id },
      data:
        result.status === 'sent'
          ? {
              status: 'sent',
              provider,
              providerMessageId: result.providerMessageId,
              sentAt,
              error: null,
              callStartedAt: null,
              ...attempts,
            }
          : {
              status: 'skipped',
              error: result.status === 'skipped' ? result.reason : null,
              callStartedAt: null,
              ...attempts,
            },
    });
    return result.status === 'sent' ? sentAt : null;
  }

  /** The provider call and the row's outcome. */
  async function callProvider(log: LoadedNotification): Promise<DeliveryResult> {
    let result: DeliveryResult;
    try {
      result = await reachProvider(log);
    } catch (err) {
      await recordOutcome(log, { error: err });
      throw err;
    }
    await recordOutcome(log, { result });
    return result;
  }

  return { send, reachProvider, recordOutcome };
}

export function createDeliveryActivities(deps: { prisma: PrismaClient; push: PushSender; email: EmailSender }) {
  const { send } = createNotificationSender(deps);
  return {
    async deliverNotification(input: { dedupeKey: string }): Promise<DeliveryResult> {
      try {
        return await send(input.dedupeKey);
      } catch (err) {
        // Also the database being down before or after the provider call: retried, with jitter.
        throw toFailure(err, input.dedupeKey);
      }
    },
  };
}
