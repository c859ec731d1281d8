/**
 * Activities of the circle notification fan-out: snapshot the recipients, plan each batch's
 * deliveries, record each member's outcome (what GET falls back to when the workflow cannot be
 * asked), close the notification.
 */
import type { Channel, PrismaClient, RecipientStatus } from '../shared/db.ts';
import { circleMessageDedupeKey } from '../shared/ids.ts';
import {
  ALL_CHANNELS,
  reachableChannels,
  reachableMemberSelect,
  writeNotifications,
  type PlannedMessage,
} from './recipients.ts';

export interface CircleRecipientPlan {
  memberId: string;
  timezone: string;
  /** Local "HH:MM" window, when the member set one. */
  quietHours: { start: string; end: string } | null;
  /** Dedupe keys, one per channel the member wants and can be reached on. */
  deliveries: string[];
  /** Push is among them (so its failure may fall back to email). */
  wantsPush: boolean;
  /** Email can stand in for push: the member has an address and email is not already a delivery. */
  emailFallback: boolean;
}

export interface CircleRecipientOutcome {
  notificationId: string;
  memberId: string;
  status: RecipientStatus;
  deferredUntil?: string | null;
  deliveredVia?: Channel[];
  fellBack?: boolean;
  error?: string | null;
}

export function createCircleNotificationActivities(prisma: PrismaClient) {
  return {
    /**
     * Fixes who receives the message: the circle's members now. Idempotent: a second run returns
     * the same list, so members who join meanwhile are not added halfway through.
     */
    async startCircleNotification({ notificationId }: { notificationId: string }): Promise<{ memberIds: string[] }> {
      const notification = await prisma.circleNotification.findUnique({
        where: { id: notificationId },
        select: { careCircleId: true, _count: { select: { recipients: true } } },
      });
      if (!notification) return { memberIds: [] };
      if (notification._count.recipients === 0) {
        const members = await prisma.member.findMany({
          where: { careCircleId: notification.careCircleId },
          select: { id: true },
        });
        await prisma.circleNotificationRecipient.createMany({
          data: members.map((m) => ({ notificationId, memberId: m.id })),
          skipDuplicates: true,
        });
      }
      const recipients = await prisma.circleNotificationRecipient.findMany({
        where: { notificationId },
        select: { memberId: true },
        orderBy: { memberId: 'asc' },
      });
      return { memberIds: recipients.map((r) => r.memberId) };
    },

    /** Writes the pending notification records of one batch and tells the workflow how to deliver them. */
    async planCircleBatch(input: {
      notificationId: string;
      memberIds: string[];
    }): Promise<{ recipients: CircleRecipientPlan[] }> {
      const notification = await prisma.circleNotification.findUnique({ where: { id: input.notificationId } });
      if (!notification) return { recipients: [] };
      const members = await prisma.member.findMany({
        where: { id: { in: input.memberIds }, careCircleId: notification.careCircleId },
        select: { ...reachableMemberSelect, quietHoursStart: true, quietHoursEnd: true },
        orderBy: { id: 'asc' },
      });
      const messages: PlannedMessage[] = [];
      const recipients = members.map((member): CircleRecipientPlan => {
        const channels = reachableChannels(member);
        for (const channel of channels) {
          messages.push({
            dedupeKey: circleMessageDedupeKey(notification.id, member.id, channel),
            recipientId: member.id,
            channel,
            title: notification.title,
            body: notification.body,
          });
        }
        const wanted = member.channels.length > 0 ? member.channels : ALL_CHANNELS;
        return {
          memberId: member.id,
          timezone: member.timezone,
          quietHours:
            member.quietHoursStart && member.quietHoursEnd
              ? { start: member.quietHoursStart, end: member.quietHoursEnd }
              : null,
          deliveries: channels.map((channel) => circleMessageDedupeKey(notification.id, member.id, channel)),
          // A member who asked for push but has no working device is as unreachable as a failed push.
          wantsPush: wanted.includes('push'),
          emailFallback: Boolean(member.email) && !channels.includes('email'),
        };
      });
      await writeNotifications(prisma, 'circle_message', messages);
      return { recipients };
    },

    /** Push failed for good: write the email that stands in for it. */
    async planCircleEmailFallback(input: { notificationId: string; memberId: string }): Promise<string | null> {
      const notification = await prisma.circleNotification.findUnique({ where: { id: input.notificationId } });
      const member = await prisma.member.findUnique({ where: { id: input.memberId }, select: { email: true } });
      if (!notification || !member?.email) return null;
      const [dedupeKey] = await writeNotifications(prisma, 'circle_message', [
        {
          dedupeKey: circleMessageDedupeKey(notification.id, input.memberId, 'email'),
          recipientId: input.memberId,
          channel: 'email',
          title: notification.title,
          body: notification.body,
        },
      ]);
      return dedupeKey ?? null;
    },

    async recordCircleRecipient(outcome: CircleRecipientOutcome): Promise<void> {
      await prisma.circleNotificationRecipient.updateMany({
        where: { notificationId: outcome.notificationId, memberId: outcome.memberId },
        data: {
          status: outcome.status,
          ...(outcome.deferredUntil !== undefined
            ? { deferredUntil: outcome.deferredUntil ? new Date(outcome.deferredUntil) : null }
            : {}),
          ...(outcome.deliveredVia ? { deliveredVia: outcome.deliveredVia } : {}),
          ...(outcome.fellBack !== undefined ? { fellBack: outcome.fellBack } : {}),
          ...(outcome.error !== undefined ? { error: outcome.error } : {}),
        },
      });
    },

    async completeCircleNotification({ notificationId }: { notificationId: string }): Promise<void> {
      await prisma.circleNotification.updateMany({
        where: { id: notificationId, status: 'sending' },
        data: { status: 'completed', completedAt: new Date() },
      });
    },
  };
}
