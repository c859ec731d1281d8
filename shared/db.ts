/**
 * The database client: Prisma Client 7 (generated into generated/prisma by `npm run db:generate`)
 * over the `pg` driver adapter, so no native Prisma engine is involved.
 *
 * Node-only (it loads the client runtime and pg). Temporal workflow code must not import it; it can
 * import the enums from '../generated/prisma/enums.ts', which are plain objects.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';

export * from '../generated/prisma/client.ts';

/** A connection that takes longer than this to open fails: the API answers 503, activities retry. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A client with its own pg pool of at most `max` connections (pg's default: 10). Opening a
 * connection gives up after five seconds, so a database host that accepts but never answers turns
 * into an error instead of a request that hangs. Call `$disconnect()` to close the pool.
 */
export function createPrisma(databaseUrl: string, opts: { max?: number } = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...(opts.max === undefined ? {} : { max: opts.max }),
  });
  return new PrismaClient({ adapter });
}
