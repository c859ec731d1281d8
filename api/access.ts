/**
 * Who may do what in a care circle. Members act only within their own circles; to anyone else a
 * circle and everything in it does not exist (404), so ids cannot be probed. A member whose role
 * does not allow an action gets 403. The table is documented in docs/api-access.md.
 */
import type { Context } from 'hono';
import type { Member, MemberRole, PrismaClient } from '../shared/db.ts';
import type { AppEnv } from './openapi.ts';
import { notFound, ProblemError } from './problem.ts';

export const PERMISSIONS = {
  /** Read the circle, its members, medications, doses, appointments, shifts, documents, messages. */
  view: ['patient', 'caregiver', 'family'],
  /** Add members; change another member's preferences or the patient's time zone. */
  manageMembers: ['caregiver'],
  /** Create, edit, pause, resume and cancel medication schedules. */
  manageMedications: ['caregiver'],
  /** Acknowledge, skip or snooze doses; log as-needed doses. */
  recordDoses: ['patient', 'caregiver'],
  /** Create, edit and cancel appointments and shifts. */
  manageCare: ['caregiver'],
  /** Send a notification to the whole circle. */
  notifyCircle: ['caregiver', 'family'],
  /** Upload documents. */
  uploadDocuments: ['caregiver', 'family'],
} as const satisfies Record<string, readonly MemberRole[]>;
export type Action = keyof typeof PERMISSIONS;

export const ACTION_DESCRIPTIONS: Record<Action, string> = {
  view: 'see the circle and everything in it',
  manageMembers: 'add members and change other members',
  manageMedications: 'create, edit, pause, resume and cancel medications',
  recordDoses: 'acknowledge, skip, snooze and log doses',
  manageCare: 'create, edit and cancel appointments and shifts',
  notifyCircle: 'notify the circle',
  uploadDocuments: 'upload documents',
};

/** The caller's membership of a circle, or null. */
export function membershipOf(prisma: PrismaClient, userId: string, careCircleId: string): Promise<Member | null> {
  return prisma.member.findUnique({ where: { careCircleId_userId: { careCircleId, userId } } });
}

/**
 * The caller's membership of `careCircleId` if their role allows `action`. Not a member: 404
 * naming `what` (the resource the path named), exactly as if it did not exist.
 */
export async function authorize(
  c: Context<AppEnv>,
  prisma: PrismaClient,
  careCircleId: string,
  action: Action,
  what: { kind: string; id: string } = { kind: 'Care circle', id: careCircleId },
): Promise<Member> {
  const member = await membershipOf(prisma, c.get('principal').userId, careCircleId);
  if (!member) throw notFound(what.kind, what.id);
  assertAllowed(member.role, action);
  return member;
}

/** 403 unless `role` allows `action` (for callers that looked the membership up themselves). */
export function assertAllowed(role: MemberRole, action: Action): void {
  if (!(PERMISSIONS[action] as readonly MemberRole[]).includes(role)) {
    throw new ProblemError(
      403,
      'forbidden',
      'Forbidden',
      `A ${role} may not ${ACTION_DESCRIPTIONS[action]} (allowed: ${PERMISSIONS[action].join(', ')})`,
    );
  }
}
