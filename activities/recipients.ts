/**
 * Who can be reached on which channel, and writing the pending notification records that make
 * each delivery happen once (appointments, shifts and circle messages share the writing).
 */
import type { Channel, Member, PrismaClient } from '../shared/db.ts';

export const ALL_CHANNELS: readonly Channel[] = ['push', 'email', 'in_app'];

export type ReachableMember = Pick<Member, 'id' | 'email' | 'channels' | 'timezone'> & {
  pushTokens: { id: string }[];
};

/** Loads members with what `reachableChannels` needs (their active push tokens). */
export const reachableMemberSelect = {
  id: true,
  email: true,
  channels: true,
  timezone: true,
  pushTokens: { where: { active: true }, select: { id: true } },
} as const;

/**
 * The channels a member asked for that can actually reach them: push needs an active token, email
 * an address. Every message to a member goes through here (medication reminders, appointments,
 * shifts, circle messages, the digest).
 *
 * An empty list means the default channels, all of them, not none: the API never stores one (a
 * member's `channels` needs at least one, and starts as all three), so an empty list is a row
 * written some other way, and reminding nobody about a dose would be the silent failure to avoid.
 */
export function reachableChannels(member: ReachableMember): Channel[] {
  const wanted = member.channels.length > 0 ? member.channels : ALL_CHANNELS;
  return wanted.filter((channel) => {
    if (channel === 'push') return member.pushTokens.length > 0;
    if (channel === 'email') return Boolean(member.email);
    return true;
  });
}

export interface PlannedMessage {
  dedupeKey: string;
  recipientId: string;
  channel: Channel;
  title: string;
  body: string;
}

/**
 * Writes one pending notification record per message (an existing record with the same key is
 * left as it is) and returns the keys in the order given. Two statements whatever the count, so a
 * circle of a few hundred members is planned in one round trip or two.
 */
export async function writeNotifications(
  prisma: PrismaClient,
  kind: string,
  messages: PlannedMessage[],
): Promise<string[]> {
  if (messages.length === 0) return [];
  await prisma.notificationLog.createMany({
    data: messages.map((m) => ({ ...m, kind })),
    skipDuplicates: true,
  });
  return messages.map((m) => m.dedupeKey);
}
