/** Request bodies and queries, validated at the edge with precise messages. */
import { z } from 'zod';
import { isValidTimeZone } from '../shared/schedule.ts';

// Clients read these messages: say "is required" rather than zod's "expected string, received undefined".
z.config({
  customError: (issue) => {
    if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
    if (issue.code === 'invalid_type')
      return `must be ${issue.expected === 'array' ? 'an array' : `a ${issue.expected}`}`;
    if (issue.code === 'unrecognized_keys')
      return `unknown field${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`;
    return undefined;
  },
});

const timezone = z.string().refine(isValidTimeZone, { message: 'must be an IANA time zone such as "Europe/Paris"' });
const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

export const createCareCircleBody = z.strictObject({ name });

export const memberRole = z.enum(['patient', 'caregiver', 'family']);
export const channel = z.enum(['push', 'email', 'in_app']);

export const createMemberBody = z.strictObject({
  name,
  role: memberRole,
  timezone,
  email: z.email('must be an email address').max(320).optional(),
  pushTokens: z
    .array(z.string().trim().min(1, 'must not be empty').max(4096))
    .max(20, 'at most 20 push tokens')
    .refine((t) => new Set(t).size === t.length, { message: 'must not repeat a token' })
    .optional(),
  channels: z
    .array(channel)
    .min(1, 'needs at least one channel')
    .refine((c) => new Set(c).size === c.length, { message: 'must not repeat a channel' })
    .optional(),
});

export const notificationsQuery = z.object({ recipientId: z.uuid('must be a UUID') });
