/**
 * Worker process: polls the medication-reminder task queue until SIGINT/SIGTERM, then stops
 * polling, lets in-flight activities finish (up to the grace time) and exits 0.
 */
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { createProviders } from '../providers/index.ts';
import { config, requireDatabaseUrl, temporalAddress } from '../shared/config.ts';
import { createPrisma } from '../shared/db.ts';
import { createLogger } from '../shared/logger.ts';
import { createMedicationWorker } from './medication-worker.ts';

const cfg = config();
const logger = createLogger('worker');

Runtime.install({
  // The SDK's own logs go through our logger (shutdown signals are handled by the Runtime).
  logger: {
    log: (level, message, meta) => logger[level.toLowerCase() as 'info'](meta ?? {}, message),
    trace: (message, meta) => logger.trace(meta ?? {}, message),
    debug: (message, meta) => logger.debug(meta ?? {}, message),
    info: (message, meta) => logger.info(meta ?? {}, message),
    warn: (message, meta) => logger.warn(meta ?? {}, message),
    error: (message, meta) => logger.error(meta ?? {}, message),
  },
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }) } },
});

const prisma = createPrisma(requireDatabaseUrl(cfg));
const connection = await NativeConnection.connect({ address: temporalAddress(cfg) });
try {
  const worker = await createMedicationWorker({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue: cfg.MEDICATION_TASK_QUEUE,
    activities: createActivities({ prisma, ...createProviders(cfg, prisma) }),
  });
  logger.info({ taskQueue: cfg.MEDICATION_TASK_QUEUE, address: temporalAddress(cfg) }, 'worker started');
  await worker.run();
  logger.info('worker stopped');
} finally {
  await connection.close();
  await prisma.$disconnect();
}
