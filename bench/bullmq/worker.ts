/**
 * Worker process of the BullMQ baseline (see bench/bullmq/seed-design.ts), started by the burst
 * scenario. Environment: DATABASE_URL, BENCH_REDIS_URL, BENCH_BULLMQ_PREFIX (keys of this run
 * only), BENCH_BULLMQ_NOTIFICATIONS_CONCURRENCY (default the replaced design's 10: the provider calls at once), RESEND_API_KEY / RESEND_BASE_URL (the fake provider), BENCH_STATUS_PORT (GET /ready,
 * GET /status with memory). SIGTERM closes the workers (in-flight jobs finish) and exits 0.
 */
import http from 'node:http';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { createMedicationReminderActivities } from '../../activities/medication-reminders.ts';
import { createProviders } from '../../providers/index.ts';
import { DeliveryError } from '../../providers/types.ts';
import { config, requireDatabaseUrl } from '../../shared/config.ts';
import { createPrisma } from '../../shared/db.ts';
import {
  CONCURRENCY,
  NOTIFICATION_JOB_OPTIONS,
  QUEUES,
  REDIS_URL_DEFAULT,
  jobIdFor,
  redisOptions,
  type NotificationJob,
  type ReminderJob,
} from './seed-design.ts';

const cfg = config();
const prisma = createPrisma(requireDatabaseUrl(cfg));
const connection = redisOptions(process.env.BENCH_REDIS_URL ?? REDIS_URL_DEFAULT);
const prefix = process.env.BENCH_BULLMQ_PREFIX ?? 'bench';
const { push, email } = createProviders(cfg, prisma);
const reminders = createMedicationReminderActivities(prisma);
const notifications = new Queue<NotificationJob>(QUEUES.notifications, { connection, prefix });

/** The replaced design's medication-reminder handler: fresh state, guards, plan, enqueue, record. */
async function remind(job: Job<ReminderJob>): Promise<unknown> {
  const plan = await reminders.planDoseReminder({ medicationId: job.data.medicationId, doseAt: job.data.doseAt });
  if (plan.status === 'skipped') return plan;
  await notifications.addBulk(
    plan.deliveries.map((dedupeKey) => ({
      name: 'deliver',
      data: { dedupeKey },
      opts: { ...NOTIFICATION_JOB_OPTIONS, jobId: jobIdFor(dedupeKey) },
    })),
  );
  await reminders.markDoseReminded({ medicationId: job.data.medicationId, doseAt: job.data.doseAt });
  return plan;
}

/** The same steps as activities/delivery.ts `deliverNotification`, in a BullMQ job. */
async function deliver(job: Job<NotificationJob>): Promise<unknown> {
  const { dedupeKey } = job.data;
  const log = await prisma.notificationLog.findUnique({ where: { dedupeKey }, include: { recipient: true } });
  if (!log) throw new UnrecoverableError(`No notification with key ${dedupeKey}`);
  if (log.status !== 'pending') return { status: log.status };
  if (log.medicationId) {
    const medication = await prisma.medication.findUnique({
      where: { id: log.medicationId },
      select: { status: true },
    });
    if (!medication || medication.status !== 'active') {
      await prisma.notificationLog.update({
        where: { id: log.id },
        data: { status: 'skipped', error: 'medication_inactive' },
      });
      return { status: 'skipped' };
    }
  }
  await prisma.notificationLog.update({ where: { id: log.id }, data: { attempts: job.attemptsMade + 1 } });
  let messageId: string;
  try {
    if (log.channel === 'email' && log.recipient.email) {
      messageId = (await email.send({ to: log.recipient.email, subject: log.title, text: log.body }, dedupeKey))
        .messageId;
    } else if (log.channel === 'push') {
      const tokens = await prisma.pushToken.findMany({ where: { memberId: log.recipientId, active: true } });
      const results = await push.send(
        tokens.map((t) => t.token),
        { title: log.title, body: log.body },
        dedupeKey,
      );
      messageId = results.map((r) => (r.ok ? r.messageId : '')).join(',');
    } else {
      messageId = 'in-app';
    }
  } catch (err) {
    await prisma.notificationLog.update({ where: { id: log.id }, data: { error: (err as Error).message } });
    if (err instanceof DeliveryError && err.permanent) throw new UnrecoverableError(err.message);
    throw err;
  }
  await prisma.notificationLog.update({
    where: { id: log.id },
    data: {
      status: 'sent',
      provider: log.channel === 'push' ? push.name : email.name,
      providerMessageId: messageId,
      sentAt: new Date(),
      error: null,
    },
  });
  return { status: 'sent' };
}

const workers = [
  new Worker<ReminderJob>(QUEUES.reminders, remind, { connection, prefix, concurrency: CONCURRENCY.reminders }),
  new Worker<NotificationJob>(QUEUES.notifications, deliver, {
    connection,
    prefix,
    concurrency: Number(process.env.BENCH_BULLMQ_NOTIFICATIONS_CONCURRENCY ?? CONCURRENCY.notifications),
  }),
];
for (const worker of workers) {
  worker.on('failed', (job, err) => console.error(`job ${job?.id} failed: ${err.message}`));
  worker.on('error', (err) => console.error(`worker error: ${err.message}`));
}
await Promise.all(workers.map((w) => w.waitUntilReady()));

const server = http.createServer((req, res) => {
  const mem = process.memoryUsage();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify(
      req.url === '/status'
        ? { memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal } }
        : { ready: true },
    ),
  );
});
server.listen(Number(process.env.BENCH_STATUS_PORT ?? 0), '127.0.0.1');

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.close();
  await Promise.all(workers.map((w) => w.close()));
  await notifications.close();
  await prisma.$disconnect();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
