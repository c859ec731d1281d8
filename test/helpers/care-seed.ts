/** Rows for the appointment, shift and circle-notification tests. */
import { randomUUID } from 'node:crypto';
import type { Channel, PrismaClient } from '../../shared/db.ts';
import { appointmentWorkflowId, shiftWorkflowId } from '../../shared/ids.ts';

export interface SeedMember {
  name?: string;
  role?: 'patient' | 'caregiver' | 'family';
  timezone?: string;
  email?: string | null;
  pushTokens?: string[];
  channels?: Channel[];
  quietHours?: { start: string; end: string };
}

export async function seedCircle(prisma: PrismaClient, members: SeedMember[]) {
  const circle = await prisma.careCircle.create({ data: { name: 'Test family' } });
  const created = [];
  for (const [i, m] of members.entries()) {
    created.push(
      await prisma.member.create({
        data: {
          careCircleId: circle.id,
          name: m.name ?? `Member ${i}`,
          role: m.role ?? 'caregiver',
          timezone: m.timezone ?? 'Europe/Paris',
          email: m.email === undefined ? `member${i}-${circle.id.slice(0, 8)}@example.com` : m.email,
          ...(m.channels ? { channels: m.channels } : {}),
          ...(m.quietHours ? { quietHoursStart: m.quietHours.start, quietHoursEnd: m.quietHours.end } : {}),
          pushTokens: { create: (m.pushTokens ?? []).map((token) => ({ token })) },
        },
      }),
    );
  }
  return { circle, members: created };
}

export async function seedAppointment(
  prisma: PrismaClient,
  data: {
    careCircleId: string;
    patientId: string;
    attendeeIds: string[];
    startsAt: Date;
    reminderOffsetsMinutes?: number[];
    title?: string;
  },
) {
  const id = randomUUID();
  return prisma.appointment.create({
    data: {
      id,
      careCircleId: data.careCircleId,
      patientId: data.patientId,
      title: data.title ?? 'Cardiology check-up',
      location: 'Hôpital Européen',
      startsAt: data.startsAt,
      timezone: 'Europe/Paris',
      attendeeIds: data.attendeeIds,
      reminderOffsetsMinutes: data.reminderOffsetsMinutes ?? [1440, 60],
      workflowId: appointmentWorkflowId(id),
    },
  });
}

export async function seedShift(
  prisma: PrismaClient,
  data: { careCircleId: string; startsAt: Date; endsAt: Date; assigneeId?: string | null },
) {
  const id = randomUUID();
  return prisma.shift.create({
    data: {
      id,
      careCircleId: data.careCircleId,
      title: 'Night shift',
      startsAt: data.startsAt,
      endsAt: data.endsAt,
      assigneeId: data.assigneeId ?? null,
      reminderLeadMinutes: 120,
      unassignedAlertMinutes: 1440,
      workflowId: shiftWorkflowId(id),
    },
  });
}
