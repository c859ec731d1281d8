/** Request bodies and queries, validated at the edge with precise messages. */
import { z } from '@hono/zod-openapi';
import { email, label as name, line, timezone, uniqueArray } from './fields.ts';
import { pageQuery } from './pagination.ts';

/** A login's subject (the `sub` of its tokens). */
export const userId = line(200);

export const createCareCircleBody = z.strictObject({
  name,
  /** How you appear in the circle you create (default: your user id, UTC). */
  creator: z
    .strictObject({
      name: name.optional(),
      timezone: timezone.optional(),
      email: email.optional(),
    })
    .optional(),
});

export const memberRole = z.enum(['patient', 'caregiver', 'family']);
export const channel = z.enum(['push', 'email', 'in_app']);

/** A device's push registration token (FCM). */
export const pushToken = line(4096);

export const registerPushTokenBody = z.strictObject({ token: pushToken });

export const createMemberBody = z.strictObject({
  name,
  role: memberRole,
  timezone,
  email: email.optional(),
  /** Their login, if they use the app: they can then act in this circle in their role. */
  userId: userId.optional(),
  pushTokens: uniqueArray(pushToken, 'must not repeat a token').max(20, 'at most 20 push tokens').optional(),
  channels: uniqueArray(channel, 'must not repeat a channel').min(1, 'needs at least one channel').optional(),
});

/** GET /v1/notifications: whose, and which page. */
export const notificationsQuery = z.object({
  recipientId: z.uuid('must be a UUID').describe('The member whose notifications to list'),
  ...pageQuery,
});
