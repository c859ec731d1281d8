/**
 * The one place configuration is read. Every setting comes from the environment, is validated
 * with zod, and has a default that works on a developer laptop with nothing installed.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

// The sources run from <root>/shared, the build (`npm run build`) from <root>/dist/shared.
const compiled = import.meta.url.endsWith('.js');
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), compiled ? '../..' : '..');

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const port = z.coerce.number().int().min(0).max(65535);

/**
 * The one parser of "on"/"off" switches: true, false, 1, 0, yes, no (case-insensitive); unset or
 * empty is undefined, for the setting's default to decide.
 */
const flag = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no', ''], { error: 'expected true, false, 1, 0, yes or no' }))
  .transform((v) => (v === '' ? undefined : ['true', '1', 'yes'].includes(v)))
  .optional();

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
/** A duration in milliseconds, written `500ms`, `30s`, `2m`, `1h`; a bare number means seconds. */
const durationMs = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?(ms|s|m|h)?$/, 'expected a duration such as 30s, 500ms, 2m or 1h')
  .transform((v) => {
    const [, amount = '0', unit = 's'] = /^([\d.]+)(ms|s|m|h)?$/.exec(v) ?? [];
    return Math.round(Number(amount) * DURATION_UNITS_MS[unit as keyof typeof DURATION_UNITS_MS]);
  });

/** A comma-separated list; empty entries are dropped. */
const list = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .optional();

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
  /**
   * Tests only: "host:port" the FCM adapter connects to instead of Google's hosts (a local fake of
   * FCM, test/fakes/fcm-server.ts), trusting only FIREBASE_TLS_CA (a file path or the PEM). Unset in production.
   */
  FIREBASE_CONNECT_TO: optionalString,
  FIREBASE_TLS_CA: optionalString,
  RESEND_API_KEY: optionalString,
  /** Resend's API address; point it at a local fake in tests. */
  RESEND_BASE_URL: optionalString,
  EMAIL_FROM: z.string().default('CareCircle <reminders@carecircle.local>'),
  CLOUDINARY_URL: optionalString,

  // --- Task queues, retries, dead letters, circuit breakers, periodic jobs -----------------------
  /** Which workloads this worker process serves (comma-separated, see shared/task-queues.ts), or "all". */
  WORKER_QUEUES: z.string().default('all'),
  /** Activities at once per worker, per queue: the replaced design's BullMQ concurrency (docs/design.md). */
  NOTIFICATIONS_CONCURRENCY: z.coerce.number().int().min(1).default(10),
  MEDICATION_CONCURRENCY: z.coerce.number().int().min(1).default(5),
  /**
   * Armed doses: how long before its instant a dose is armed (it must cover arming the largest
   * burst of doses due together, see docs/medication-schedules.md), how many may wait in one worker
   * at once (each holds an activity slot of the medication queue), and how many provider calls
   * they make at once from one worker.
   */
  DOSE_ARM_LEAD_SECONDS: z.coerce.number().int().min(1).max(600).default(60),
  DOSE_SEND_SLOTS: z.coerce.number().int().min(1).default(2000),
  DOSE_SEND_CONCURRENCY: z.coerce.number().int().min(1).default(20),
  APPOINTMENT_CONCURRENCY: z.coerce.number().int().min(1).default(5),
  SHIFT_CONCURRENCY: z.coerce.number().int().min(1).default(5),
  DOCUMENT_CONCURRENCY: z.coerce.number().int().min(1).default(2),
  DEAD_LETTER_CONCURRENCY: z.coerce.number().int().min(1).default(1),
  MAINTENANCE_CONCURRENCY: z.coerce.number().int().min(1).default(2),
  EMAIL_CONCURRENCY: z.coerce.number().int().min(1).default(10),
  /** Emails per minute across all workers (Temporal's task-queue activity rate limit). */
  EMAIL_RATE_LIMIT_PER_MINUTE: z.coerce.number().positive().default(100),
  /** Circuit breaker per provider: consecutive transient failures that open it, and how long it stays open. */
  CIRCUIT_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  CIRCUIT_BREAKER_OPEN_MS: z.coerce.number().int().min(100).default(30_000),
  /** Periodic jobs (Temporal Schedules), created at worker start-up: cron expressions and their time zone. */
  SCHEDULES_ENABLED: flag.transform((v) => v ?? true),
  SCHEDULES_TIMEZONE: z.string().default('UTC'),
  DAILY_DIGEST_CRON: z.string().default('0 7 * * *'),
  RECONCILE_CRON: z.string().default('*/15 * * * *'),
  CLEANUP_CRON: z.string().default('30 3 * * *'),
  /** Sent, skipped and failed notification records older than this are deleted by the clean-up job. */
  NOTIFICATION_RETENTION_DAYS: z.coerce.number().int().min(1).default(90),

  // ---- Operations: logs, metrics, shutdown, remote Temporal ------------------------------------
  /** `pretty`: one readable line per entry; `json`: one JSON object per line. Default: pretty in development. */
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),

  /** Remote Temporal (Temporal Cloud or a self-hosted cluster with TLS). Unset: plaintext. */
  TEMPORAL_TLS: flag, // forced on by TEMPORAL_API_KEY or a client certificate
  /** PEM of the CA that signed the server's certificate (a file path or the PEM itself); unset: system CAs. */
  TEMPORAL_TLS_CA: optionalString,
  /** mTLS client certificate and key (file paths or PEM); both or neither. */
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  /** Overrides the TLS server name (SNI) checked against the server's certificate. */
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  /** Temporal Cloud API key (sent as a bearer token; implies TLS). */
  TEMPORAL_API_KEY: optionalString,

  /**
   * The resident memory a worker process should stay under, in MB: its workflow caches are sized
   * from it (workers/build.ts `cachedWorkflowsPerWorker`, docs/queues.md "Memory"). The default
   * keeps a worker serving every queue under 512 MB, however many schedules sleep.
   */
  WORKER_MEMORY_BUDGET_MB: z.coerce.number().int().min(256).default(448),
  /**
   * Workflow tuning (BENCHMARKS.md measures both). Cached workflows per worker: each costs
   * about 0.6 MB but saves replaying its history on the next task; unset: from
   * WORKER_MEMORY_BUDGET_MB. Workflow-task slots per worker: unset, min(10, the queue's concurrency).
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).optional(),
  WORKER_WORKFLOW_TASK_SLOTS: z.coerce.number().int().min(1).optional(),

  /** How long in-flight activities may run on after SIGTERM before they are cancelled and retried elsewhere. */
  WORKER_SHUTDOWN_GRACE: durationMs.prefault('30s'),
  /** Worker's HTTP endpoint: /metrics (app + Temporal SDK metrics), /health, /ready, /status. Port 0: any free port. */
  WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
  WORKER_METRICS_PORT: port.default(9464),
  /**
   * Where GET /v1/ops/queues finds the workers' /status (breaker states, in-flight work). Each
   * address a host name resolves to counts as one worker (Compose replicas, Kubernetes headless
   * services). Default: the local worker.
   */
  WORKER_STATUS_URLS: list,
  /** Task queues described in /metrics and /v1/ops/queues besides those of shared/task-queues.ts. */
  MONITORED_TASK_QUEUES: list,
  /** After SIGTERM the API answers /ready with 503 for this long before it stops accepting (lets load balancers notice). */
  API_SHUTDOWN_DELAY: durationMs.prefault('0s'),
  /** In-flight requests get this long to finish after the API stops accepting; then connections are closed. */
  API_SHUTDOWN_GRACE: durationMs.prefault('10s'),

  // ---- The API as a product: authentication and rate limits ------------------------------------
  /**
   * Bearer tokens are JWTs checked with one of: an HS256 shared secret (at least 32 characters),
   * or a PEM public key (RS256, ES256 or EdDSA) of the identity provider. Neither set outside
   * production: the local development key of shared/auth-tokens.ts, which production refuses.
   */
  AUTH_JWT_SECRET: optionalString,
  AUTH_JWT_PUBLIC_KEY: optionalString, // a file path or the PEM itself
  AUTH_ISSUER: z.string().default('carecircle-local'),
  AUTH_AUDIENCE: z.string().default('carecircle-api'),
  /** Requests per minute allowed to one signed-in user, and to one client address (before sign-in). */
  RATE_LIMIT_PER_USER_PER_MINUTE: z.coerce.number().int().min(1).default(300),
  RATE_LIMIT_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /** Behind a load balancer: take the client address from the first X-Forwarded-For entry. */
  TRUST_FORWARDED_FOR: flag,

  // ---- Appointments, shifts, circle notifications, documents -----------------------------------
  /** Default reminder offsets of an appointment, minutes before it starts (each appointment may set its own). */
  APPOINTMENT_REMINDER_OFFSETS_MINUTES: z
    .string()
    .default('1440,60')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
        .map(Number),
    )
    .pipe(
      z
        .array(
          z
            .number()
            .int()
            .min(1)
            .max(60 * 24 * 30),
        )
        .min(1)
        .max(10),
    ),
  /** Default minutes before a shift that its assignee is reminded. */
  SHIFT_REMINDER_LEAD_MINUTES: z.coerce.number().int().min(1).default(120),
  /** Default minutes before a shift at which the circle is alerted if nobody is assigned. */
  SHIFT_UNASSIGNED_ALERT_MINUTES: z.coerce.number().int().min(1).default(1440),
  /** Circle notifications: members per child workflow, and deliveries in flight per child. */
  CIRCLE_NOTIFICATION_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(100),
  CIRCLE_NOTIFICATION_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  /** Documents: largest accepted upload, accepted content types, and the chunk size of uploads. */
  DOCUMENT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(20 * 1024 * 1024),
  DOCUMENT_ALLOWED_TYPES: z
    .string()
    .default('application/pdf,image/jpeg,image/png,image/webp,image/heic,text/plain')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    ),
  /** Cloudinary accepts chunks of at least 5 MB (except the last). */
  DOCUMENT_CHUNK_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(6 * 1024 * 1024),
  /** Where the development document store writes "uploads" without CLOUDINARY_URL (default: DATA_DIR/dev-documents). */
  DEV_DOCUMENT_STORE_DIR: optionalString,

  // Traces (shared/tracing.ts): the OpenTelemetry SDK's own variables, of which these decide
  // whether traces are exported at all. Off unless an exporter or an OTLP endpoint is named; the
  // SDK reads the rest of OTEL_* (headers, protocol, sampler, resource attributes) itself.
  OTEL_SDK_DISABLED: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((v) => v === 'true'),
  /** `otlp` or `console` (comma-separated), `none`; unset: `otlp` when an OTLP endpoint is set, else off. */
  OTEL_TRACES_EXPORTER: optionalString,
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString,
  /** Names the process in traces; default carecircle-api / carecircle-worker. */
  OTEL_SERVICE_NAME: optionalString,
});

/** Every environment variable the configuration reads. */
export const configVariables: readonly string[] = Object.keys(schema.shape);

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
