import type { Client } from '@temporalio/client';
import type { DocumentStore } from '../providers/documents.ts';
import type { TokenVerifier } from '../shared/auth-tokens.ts';
import type { PrismaClient } from '../shared/db.ts';

/** What route handlers may use: the database, Temporal, and a few settings. */
export interface ApiDeps {
  prisma: PrismaClient;
  temporal: Client;
  taskQueue: string;
  /** Serve GET /v1/dev/outbox (only when a channel goes to the dev outbox). */
  devOutbox: boolean;
  /** Checks bearer tokens (shared/auth-tokens.ts). */
  tokens: TokenVerifier;
  /** Where uploaded documents are read back from; default: the configured store (providers/documents.ts). */
  documentStore?: DocumentStore;
  /** Requests per minute; defaults from configuration. */
  rateLimits?: { perUser: number; perAddress: number; trustForwardedFor?: boolean };
}
