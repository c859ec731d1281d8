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
  'P1017', // Prisma: server closed the connection
  'P2024', // Prisma: timed out fetching a connection from the pool
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (name === 'PrismaClientInitializationError') return true;
    if (typeof message === 'string' && /Connection terminated|connect ECONNREFUSED|Can't reach database/i.test(message))
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
