import type { Client } from '@temporalio/client';
import type { PrismaClient } from '../shared/db.ts';

/** What route handlers may use: the database, Temporal, and a few settings. */
export interface ApiDeps {
  prisma: PrismaClient;
  temporal: Client;
  taskQueue: string;
  /** Serve GET /v1/dev/outbox (only when a channel goes to the dev outbox). */
  devOutbox: boolean;
}
