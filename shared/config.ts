/**
 * The one place configuration is read. Every setting comes from the environment, is validated
 * with zod, and has a default that works on a developer laptop with nothing installed.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const port = z.coerce.number().int().min(0).max(65535);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Folder for everything the embedded servers persist (Temporal SQLite file, PostgreSQL data). */
  DATA_DIR: z.string().default(path.join(projectRoot, '.data')),

  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: port.default(3000),

  /** Unset: `npm start` runs the Temporal CLI dev server itself. */
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_TEST_SERVER_PATH: optionalString,
  MEDICATION_TASK_QUEUE: z.string().default('medication-reminders'),

  /** Unset: `npm start` runs an embedded PostgreSQL persisted under DATA_DIR. */
  DATABASE_URL: optionalString,
  EMBEDDED_PG_PORT: port.default(5488),

  /** Providers: each real adapter is used only when its credentials are present. */
  FIREBASE_SERVICE_ACCOUNT: optionalString, // path to a service-account JSON file, or the JSON itself
  RESEND_API_KEY: optionalString,
  /** Resend's API address; point it at a local fake in tests. */
  RESEND_BASE_URL: optionalString,
  EMAIL_FROM: z.string().default('CareCircle <reminders@carecircle.local>'),
  CLOUDINARY_URL: optionalString,
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${details}`);
  }
  return parsed.data;
}

let cached: Config | undefined;
/** Configuration of this process, read once. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

/** Where the Temporal frontend is: the configured server, else the embedded dev server. */
export function temporalAddress(cfg: Config): string {
  return cfg.TEMPORAL_ADDRESS ?? `127.0.0.1:${cfg.TEMPORAL_DEV_PORT}`;
}

/** The database URL, which `npm start` sets for its children when it runs the embedded one. */
export function requireDatabaseUrl(cfg: Config): string {
  if (!cfg.DATABASE_URL) {
    throw new Error(
      'DATABASE_URL is not set. Run `npm start` (which starts an embedded PostgreSQL) or set DATABASE_URL.',
    );
  }
  return cfg.DATABASE_URL;
}
