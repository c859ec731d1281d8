/** Request bodies and queries, validated at the edge with precise messages. */
import { z } from 'zod';
import { label as name, timezone } from './fields.ts';
import { pageQuery } from './pagination.ts';

/** A login's subject (the `sub` of its tokens). */
export const userId = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

export const createCareCircleBody = z.strictObject({
  name,
  /** How you appear in the circle you create (default: your user id, UTC). */
  creator: z
    .strictObject({
      name: name.optional(),
      timezone: timezone.optional(),
      email: z.email('must be an email address').max(320).optional(),
    })
    .optional(),
});

export const memberRole = z.enum(['patient', 'caregiver', 'family']);
export const channel = z.enum(['push', 'email', 'in_app']);

/** A device's push registration token (FCM). */
export const pushToken = z.string().trim().min(1, 'must not be empty').max(4096);

export const registerPushTokenBody = z.strictObject({ token: pushToken });

export const createMemberBody = z.strictObject({
  name,
  role: memberRole,
  timezone,
  email: z.email('must be an email address').max(320).optional(),
  /** Their login, if they use the app: they can then act in this circle in their role. */
  userId: userId.optional(),
  pushTokens: z
    .array(pushToken)
    .max(20, 'at most 20 push tokens')
    .refine((t) => new Set(t).size === t.length, { message: 'must not repeat a token' })
    .optional(),
  channels: z
    .array(channel)
    .min(1, 'needs at least one channel')
    .refine((c) => new Set(c).size === c.length, { message: 'must not repeat a channel' })
    .optional(),
});

/** GET /v1/notifications: whose, and which page. */
export const notificationsQuery = z.object({
  recipientId: z.uuid('must be a UUID').describe('The member whose notifications to list'),
  ...pageQuery,
});
