/**
 * Telling "the database is down" apart from other errors, so the API can answer 503 (retry later)
 * instead of 500, and activities are retried rather than failed.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08001',
  '08003',
  '08006', // connection exceptions
  'P1001', // Prisma: can't reach database server
  'P1002', // Prisma: timed out
  'P1008', // Prisma: operation timed out (the driver adapter's socket timeout)
  'P1017', // Prisma: server closed the connection
  'P2024', // Prisma: timed out fetching a connection from the pool
  'P2037', // Prisma: too many database connections
]);

/** What @prisma/adapter-pg calls a socket-level failure (its DriverAdapterError's `cause.kind`). */
const CONNECTION_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

const CONNECTION_MESSAGES =
  /Connection terminated|connect ECONNREFUSED|Can't reach database|timeout exceeded when trying to connect|connection error and is not queryable/i;

/**
 * Follows `cause` and Prisma's `meta.driverAdapterError`: through the pg driver adapter, a server
 * that is shutting down (57P01, 57P03) reaches us as a Prisma P2039 "Database error" whose
 * PostgreSQL code is only in that adapter error's `cause.originalCode`.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const pending: unknown[] = [err];
  for (let seen = 0; pending.length > 0 && seen < 10; seen++) {
    const e = pending.shift();
    if (!e || typeof e !== 'object') continue;
    const { code, originalCode, kind, name, message, cause, meta } = e as Record<string, unknown>;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (typeof originalCode === 'string' && CONNECTION_CODES.has(originalCode)) return true;
    if (typeof kind === 'string' && CONNECTION_KINDS.has(kind)) return true;
    if (name === 'PrismaClientInitializationError') return true;
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    for (const next of [cause, (meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError]) {
      if (next) pending.push(next);
    }
  }
  return false;
}
