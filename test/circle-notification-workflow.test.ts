/**
 * Notifications to a whole care circle on the time-skipping server with the real activities:
 * quiet hours defer a non-urgent message on a durable timer (not an urgent one), push falls back to
 * email when it fails for good (FCM adapter over the FCM stub), and a circle of 300 members is
 * served by child workflows with bounded concurrency, its progress queryable.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Activities } from '../activities/index.ts';
import { FcmPushSender } from '../providers/fcm-push.ts';
import { circleNotificationWorkflowId } from '../shared/ids.ts';
import { TASK_QUEUES } from '../shared/task-queues.ts';
import {
  circleNotificationProgressQuery,
  type CircleNotificationProgress,
} from '../workflows/circle-notification-messages.ts';
import { createFcmStub } from './fakes/fcm-stub.ts';
import { createCareEnv, type CareEnv } from './helpers/care-env.ts';
import { seedCircle } from './helpers/care-seed.ts';
import { waitFor } from './helpers/wait.ts';

const fcm = createFcmStub();
/** Per batch workflow: members with a delivery in flight now, and the most there ever were. */
const inFlight = new Map<string, Map<string, number>>();
const peak = new Map<string, number>();

function tracking(activities: Activities): Activities {
  return {
    ...activities,
    async deliverNotification(input: { dedupeKey: string }) {
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      const member = input.dedupeKey.split(':')[2]!;
      const members = inFlight.get(workflowId) ?? new Map<string, number>();
      inFlight.set(workflowId, members);
      members.set(member, (members.get(member) ?? 0) + 1);
      peak.set(workflowId, Math.max(peak.get(workflowId) ?? 0, members.size));
      try {
        return await activities.deliverNotification(input);
      } finally {
        const left = (members.get(member) ?? 1) - 1;
        if (left === 0) members.delete(member);
        else members.set(member, left);
      }
    },
  };
}

let care: CareEnv;

beforeAll(async () => {
  care = await createCareEnv({ push: new FcmPushSender(fcm), wrap: tracking });
}, 120_000);

afterAll(async () => {
  await care?.teardown();
});

async function send(careCircleId: string, opts: { urgent?: boolean; batchSize?: number; concurrency?: number } = {}) {
  const id = randomUUID();
  const workflowId = circleNotificationWorkflowId(id);
  await care.db.prisma.circleNotification.create({
    data: {
      id,
      careCircleId,
      title: 'Family update',
      body: 'Grandma is home from hospital.',
      urgent: Boolean(opts.urgent),
      workflowId,
    },
  });
  const handle = await care.env.client.workflow.start('circleNotificationWorkflow', {
    workflowId,
    taskQueue: TASK_QUEUES.notifications,
    args: [
      { notificationId: id, urgent: Boolean(opts.urgent), batchSize: opts.batchSize, concurrency: opts.concurrency },
    ],
  });
  return { id, handle };
}

const sentTo = async (notificationId: string, memberId: string) =>
  (
    await care.db.prisma.notificationLog.findMany({
      where: { dedupeKey: { startsWith: `circle:${notificationId}:${memberId}:` }, status: 'sent' },
    })
  )
    .map((n) => n.channel)
    .sort();

describe('circleNotificationWorkflow', () => {
  it('waits out quiet hours on a durable timer unless the message is urgent', async () => {
    const prisma = care.db.prisma;
    // Quiet hours from an hour ago to two hours ahead, on the test server's clock, in Tokyo.
    const now = DateTime.fromMillis(await care.env.currentTimeMs(), { zone: 'Asia/Tokyo' });
    const quietHours = {
      start: now.minus({ hours: 1 }).toFormat('HH:mm'),
      end: now.plus({ hours: 2 }).toFormat('HH:mm'),
    };
    const { circle, members } = await seedCircle(prisma, [
      { name: 'Sleeper', timezone: 'Asia/Tokyo', channels: ['email', 'in_app'], quietHours },
      { name: 'Awake', channels: ['email'] },
    ]);
    const [sleeper, awake] = members as [(typeof members)[0], (typeof members)[0]];
    const quietEnd = now.plus({ hours: 2 }).startOf('minute').toUTC().toISO();

    await care.run(async () => {
      const { id, handle } = await send(circle.id);
      const progress = await waitFor('the awake member served', async () => {
        const p = await handle.query(circleNotificationProgressQuery);
        return p.delivered === 1 && p.deferred === 1 ? p : undefined;
      });
      expect(progress).toMatchObject({ total: 2, delivered: 1, deferred: 1, failed: 0, state: 'sending' });
      expect(progress.recipients.find((r) => r.memberId === sleeper.id)).toMatchObject({
        status: 'deferred',
        deferredUntil: quietEnd,
      });
      expect(await sentTo(id, awake.id)).toEqual(['email']);
      expect(await sentTo(id, sleeper.id)).toEqual([]);
      // What the API falls back to says the same.
      expect(
        await prisma.circleNotificationRecipient.findUniqueOrThrow({
          where: { notificationId_memberId: { notificationId: id, memberId: sleeper.id } },
        }),
      ).toMatchObject({ status: 'deferred', deferredUntil: new Date(quietEnd!) });

      // One minute before the quiet hours end: still waiting. Then it goes out.
      await care.env.sleep(Date.parse(quietEnd!) - (await care.env.currentTimeMs()) - 60_000);
      expect(await sentTo(id, sleeper.id)).toEqual([]);
      const done = (await handle.result()) as CircleNotificationProgress;
      expect(done).toMatchObject({ state: 'completed', total: 2, delivered: 2, deferred: 0, failed: 0 });
      expect(await sentTo(id, sleeper.id)).toEqual(['email', 'in_app']);
      expect((await prisma.circleNotification.findUniqueOrThrow({ where: { id } })).status).toBe('completed');

      // Urgent: no waiting, even though the quiet hours are back tomorrow at this time.
      await care.env.sleep(22 * 3_600_000 - 2 * 60_000);
      const urgent = await send(circle.id, { urgent: true });
      const result = (await urgent.handle.result()) as CircleNotificationProgress;
      expect(result).toMatchObject({ delivered: 2, deferred: 0 });
      expect(result.recipients.every((r) => r.deferredUntil === null)).toBe(true);
      const batch = await care.env.client.workflow.getHandle(`${urgent.handle.workflowId}:batch:0`).fetchHistory();
      expect(batch.events!.some((e) => e.timerStartedEventAttributes)).toBe(false);
      const deferred = await care.env.client.workflow.getHandle(`${handle.workflowId}:batch:0`).fetchHistory();
      expect(deferred.events!.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    });
  });

  it('falls back from push to email when push fails for good', async () => {
    const prisma = care.db.prisma;
    fcm.failToken('dead-1', 'messaging/registration-token-not-registered');
    fcm.failToken('dead-2', 'messaging/registration-token-not-registered');
    fcm.failToken('dead-3', 'messaging/invalid-argument');
    const { circle, members } = await seedCircle(prisma, [
      { name: 'Push only, device gone', channels: ['push'], pushTokens: ['dead-1'] },
      { name: 'Push and email, device gone', channels: ['push', 'email'], pushTokens: ['dead-2'] },
      { name: 'Push only, no device', channels: ['push'] },
      { name: 'Push only, rejected, no email', channels: ['push'], pushTokens: ['dead-3'], email: null },
      { name: 'Push works', channels: ['push'], pushTokens: ['live-1'] },
    ]);
    const [gone, both, noDevice, unreachable, works] = members as (typeof members)[0][] as [
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
      (typeof members)[0],
    ];
    await care.run(async () => {
      const { id, handle } = await send(circle.id);
      const result = (await handle.result()) as CircleNotificationProgress;
      const byMember = new Map(result.recipients.map((r) => [r.memberId, r]));
      expect(byMember.get(gone.id)).toMatchObject({ status: 'delivered', deliveredVia: ['email'], fellBack: true });
      expect(byMember.get(both.id)).toMatchObject({ status: 'delivered', deliveredVia: ['email'], fellBack: false });
      expect(byMember.get(noDevice.id)).toMatchObject({ status: 'delivered', deliveredVia: ['email'], fellBack: true });
      expect(byMember.get(unreachable.id)).toMatchObject({ status: 'failed', deliveredVia: [], fellBack: false });
      expect(byMember.get(works.id)).toMatchObject({ status: 'delivered', deliveredVia: ['push'], fellBack: false });
      expect(result).toMatchObject({ total: 5, delivered: 4, failed: 1 });
      // One email each, never two; the failed pushes are dead letters; the dead token is retired.
      expect(await sentTo(id, both.id)).toEqual(['email']);
      const outbox = await prisma.devOutboxMessage.findMany({ where: { dedupeKey: { startsWith: `circle:${id}:` } } });
      expect(outbox.map((m) => m.to).sort()).toEqual([gone.email, both.email, noDevice.email].sort());
      const deadLetters = await prisma.deadLetter.findMany({ where: { dedupeKey: { startsWith: `circle:${id}:` } } });
      expect(deadLetters.map((d) => d.recipientId).sort()).toEqual([gone.id, both.id, unreachable.id].sort());
      expect((await prisma.pushToken.findFirstOrThrow({ where: { token: 'dead-1' } })).active).toBe(false);
      expect(
        await prisma.circleNotificationRecipient.findUniqueOrThrow({
          where: { notificationId_memberId: { notificationId: id, memberId: gone.id } },
        }),
      ).toMatchObject({ status: 'delivered', deliveredVia: ['email'], fellBack: true });
    });
  });

  it('fans out to 300 members in child workflows, a bounded number at a time', async () => {
    const prisma = care.db.prisma;
    const circle = await prisma.careCircle.create({ data: { name: 'Big family' } });
    const ids = Array.from({ length: 300 }, () => randomUUID());
    await prisma.member.createMany({
      data: ids.map((id, i) => ({
        id,
        careCircleId: circle.id,
        name: `Member ${i}`,
        role: 'family' as const,
        timezone: 'America/New_York',
        email: `m${i}@example.com`,
        channels: i % 2 === 0 ? (['push', 'in_app'] as const) : (['email'] as const),
      })),
    });
    await prisma.pushToken.createMany({
      data: ids.filter((_, i) => i % 2 === 0).map((memberId, i) => ({ memberId, token: `bulk-${i}` })),
    });

    await care.run(async () => {
      const started = Date.now();
      const { id, handle } = await send(circle.id, { batchSize: 100, concurrency: 4 });
      const midway = await waitFor('some progress', async () => {
        const p = await handle.query(circleNotificationProgressQuery);
        return p.delivered > 0 ? p : undefined;
      });
      expect(midway.total).toBe(300);
      const result = (await handle.result()) as CircleNotificationProgress;
      const elapsed = Date.now() - started;
      expect(result).toMatchObject({ state: 'completed', total: 300, delivered: 300, failed: 0, deferred: 0 });
      expect(
        await prisma.notificationLog.count({ where: { dedupeKey: { startsWith: `circle:${id}:` }, status: 'sent' } }),
      ).toBe(150 * 2 + 150);
      const batches = [...peak.keys()].filter((w) => w.startsWith(`circle-notification:${id}:batch:`)).sort();
      expect(batches).toEqual([0, 1, 2].map((n) => `circle-notification:${id}:batch:${n}`));
      for (const batch of batches) {
        expect(peak.get(batch)).toBeLessThanOrEqual(4);
        expect(peak.get(batch)).toBeGreaterThan(1);
      }
      // No history grows with the circle: each batch stays far below Temporal's limits.
      for (const batch of batches) {
        const history = await care.env.client.workflow.getHandle(batch).fetchHistory();
        expect(history.events!.length).toBeLessThan(3_000);
      }
      console.log(`fan-out to 300 members: ${elapsed} ms`);
    });
  });
});
