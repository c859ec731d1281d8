/**
 * Fan-out: one message to a care circle of 50 members, each reached by push (FCM adapter over the
 * stub) and email (Resend adapter to the fake), through `POST /v1/care-circles/:id/notifications`
 * and the circle-notification workflow. End to end = the POST sent → the last provider call (the
 * last email at the fake, or the last push recorded sent); the workflow's completion is reported
 * beside it. A first message to a small circle warms the worker up.
 *
 * Measured with the bench's email rate limit and, when `withProductionRateLimit`, once more with
 * the production default (EMAIL_RATE_LIMIT_PER_MINUTE), which paces the emails on purpose.
 */
import fs from 'node:fs';
import { loadConfig } from '../../shared/config.ts';
import { taskQueueSettings } from '../../shared/task-queues.ts';
import { circleNotificationWorkflowId } from '../../shared/ids.ts';
import type { FakeProviders } from '../../test/fakes/provider-server.ts';
import {
  BENCH_USER,
  type Log,
  makeTempDir,
  resetFakes,
  type ScratchDatabase,
  type ServiceSettings,
  Stack,
  startApi,
  startScenarioServices,
  startWorkers,
  type TemporalServer,
  type WorkerTuning,
} from '../lib/env.ts';
import { seedPatients } from '../lib/seed.ts';

export interface FanoutRun {
  emailRatePerMinute: number;
  /** POST sent → last provider call. */
  endToEndMs: number;
  /** POST sent → workflow completed. */
  workflowMs: number;
  /** POST answered. */
  apiMs: number;
  emailsOnce: number;
  pushesSent: number;
}

export type FanoutResult =
  | {
      scenario: 'fanout';
      measured: true;
      members: number;
      runs: FanoutRun[];
      /** Set when the production settings could not run the fan-out and the bench worked around it. */
      workaround: string | null;
    }
  | { scenario: 'fanout'; measured: false; members: number; reason: string };

export interface FanoutOptions {
  members: number;
  pgAdminUrl: string;
  providerLatencyMs: number;
  emailRatePerMinute: number;
  withProductionRateLimit: boolean;
  tuning: WorkerTuning;
  log: Log;
}

const WARM_UP_MEMBERS = 5;

export async function runFanout(opts: FanoutOptions): Promise<FanoutResult> {
  // The production worker builds its queues from these settings: the workflow needs a worker there.
  const runnable = taskQueueSettings(loadConfig({})).notifications.runsWorkflows;
  const workaround = runnable
    ? null
    : 'the circle-notification workflow runs on the "notifications" task queue, where the production ' +
      'settings (shared/task-queues.ts) run no workflows: measured with that worker running them, as ' +
      'test/helpers/care-env.ts does';
  if (workaround) opts.log(`fanout: ${workaround}`);
  const dir = makeTempDir('fanout');
  const stack = new Stack();
  try {
    const { db, temporal, fake, settings } = await startScenarioServices(stack, dir, opts);
    const rates = [opts.emailRatePerMinute];
    const productionRate = loadConfig({}).EMAIL_RATE_LIMIT_PER_MINUTE;
    if (opts.withProductionRateLimit && productionRate !== opts.emailRatePerMinute) rates.push(productionRate);
    const runs: FanoutRun[] = [];
    for (const rate of rates) {
      runs.push(
        await fanoutOnce(
          { db, temporal, fake, opts, dir, workaround: workaround !== null },
          { ...settings, emailRatePerMinute: rate },
        ),
      );
    }
    return { scenario: 'fanout', measured: true, members: opts.members, runs, workaround };
  } finally {
    await stack.close(opts.log);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function fanoutOnce(
  ctx: {
    db: ScratchDatabase;
    temporal: TemporalServer;
    fake: FakeProviders;
    opts: FanoutOptions;
    dir: string;
    workaround: boolean;
  },
  settings: ServiceSettings,
): Promise<FanoutRun> {
  const { db, temporal, fake, opts } = ctx;
  const stack = new Stack();
  try {
    const [workers, api] = await Promise.all([
      startWorkers(settings, { mode: 'app', notificationsRunWorkflows: ctx.workaround }),
      startApi(settings),
    ]);
    for (const worker of workers) stack.push('worker', () => worker.stop());
    stack.push('API', () => api.stop());

    /**
     * A circle of `count` members on push and email; returns its id. The first is BENCH_USER, a
     * caregiver, who sends the message (and receives it too, like every member).
     */
    const circleOf = async (count: number): Promise<string> => {
      const members = await seedPatients(db.prisma, count, { channels: ['push', 'email'], pushTokens: true });
      const circleId = members[0]!.circleId;
      // seedPatients puts ten to a circle: gather them all in the first one.
      await db.prisma.member.updateMany({
        where: { id: { in: members.map((m) => m.patientId) } },
        data: { careCircleId: circleId, role: 'family' },
      });
      await db.prisma.member.update({
        where: { id: members[0]!.patientId },
        data: { role: 'caregiver', userId: BENCH_USER },
      });
      return circleId;
    };
    const authorization = `Bearer ${await api.token(BENCH_USER)}`;
    const send = async (circleId: string) => {
      const t0 = Date.now();
      const res = await fetch(`${api.url}/v1/care-circles/${circleId}/notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ title: 'Family update', body: 'Grandma is back home from the hospital.' }),
      });
      const apiMs = Date.now() - t0;
      if (res.status !== 202) throw new Error(`POST notifications answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: string };
      await temporal.client.workflow.getHandle(circleNotificationWorkflowId(id)).result();
      return { id, t0, apiMs, workflowMs: Date.now() - t0 };
    };

    opts.log(`fanout: warm-up message to ${WARM_UP_MEMBERS} members`);
    await send(await circleOf(WARM_UP_MEMBERS));
    const circleId = await circleOf(opts.members);
    resetFakes(fake, opts.providerLatencyMs);

    opts.log(`fanout: message to ${opts.members} members (email rate limit ${settings.emailRatePerMinute}/min)`);
    const { id, t0, apiMs, workflowMs } = await send(circleId);
    const emails = fake.requests.filter((r) => r.provider === 'resend' && r.method === 'POST');
    const pushes = await db.prisma.notificationLog.findMany({
      where: { dedupeKey: { startsWith: `circle:${id}:` }, channel: 'push', status: 'sent' },
      select: { sentAt: true },
    });
    const last = Math.max(...emails.map((r) => r.receivedAt.getTime()), ...pushes.map((p) => p.sentAt?.getTime() ?? 0));
    const keys = new Map<string, number>();
    for (const e of fake.resend.sent) keys.set(e.idempotencyKey ?? '', (keys.get(e.idempotencyKey ?? '') ?? 0) + 1);
    const run: FanoutRun = {
      emailRatePerMinute: settings.emailRatePerMinute,
      endToEndMs: last - t0,
      workflowMs,
      apiMs,
      emailsOnce: [...keys.entries()].filter(([k, c]) => k.startsWith(`circle:${id}:`) && c === 1).length,
      pushesSent: pushes.length,
    };
    opts.log(
      `fanout: end to end ${run.endToEndMs} ms (workflow done after ${workflowMs} ms); ` +
        `${run.emailsOnce} emails, ${run.pushesSent} pushes`,
    );
    return run;
  } finally {
    await stack.close(opts.log);
  }
}
