/**
 * The one logger. JSON lines in production and tests (for log shippers and for tests that read
 * them), readable lines in development (pino-pretty); LOG_FORMAT overrides either.
 *
 * Personal health data stays out of logs above debug: at info and higher, values under the keys in
 * SENSITIVE_KEYS become "[redacted]" and e-mail addresses anywhere in strings (messages, error
 * messages and stacks from providers) become "[email]". Debug and trace keep them, for a developer
 * reproducing a problem locally.
 */
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { config } from './config.ts';

export type { Logger } from 'pino';

export interface CreateLoggerOptions {
  /** Where lines go (tests pass a stream); default stdout. */
  destination?: DestinationStream;
  level?: Level | 'silent';
  format?: 'pretty' | 'json';
}

export function createLogger(name: string, opts: CreateLoggerOptions = {}): Logger {
  const cfg = config();
  const format = opts.format ?? cfg.LOG_FORMAT ?? (cfg.NODE_ENV === 'development' ? 'pretty' : 'json');
  const options: pino.LoggerOptions = {
    name,
    level: opts.level ?? cfg.LOG_LEVEL,
    base: { service: name },
    hooks: {
      logMethod(args, method, level) {
        if (level <= DEBUG) return method.apply(this, args);
        return method.apply(this, args.map((arg) => scrub(arg, 0)) as typeof args);
      },
    },
  };
  if (format === 'json') return opts.destination ? pino(options, opts.destination) : pino(options);
  const prettyStream = pretty({
    // sync: lines are written before process.exit() in the shutdown paths.
    sync: true,
    singleLine: true,
    colorize: !opts.destination && process.stdout.isTTY,
    ignore: 'pid,hostname,service',
    translateTime: 'SYS:HH:MM:ss.l',
    ...(opts.destination ? { destination: opts.destination } : {}),
  });
  return pino(options, prettyStream);
}

const DEBUG = 20; // pino's numeric level for debug

/** Keys whose values may name a medication, a person's contact or a device: redacted above debug. */
export const SENSITIVE_KEYS = new Set([
  'email',
  'to',
  'recipientEmail',
  'medicationName',
  'dosage',
  'title',
  'body',
  'subject',
  'text',
  'token',
  'tokens',
  'pushToken',
  'pushTokens',
  'phone',
]);

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const MAX_DEPTH = 6;

function scrubString(value: string): string {
  return value.replace(EMAIL, '[email]');
}

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  if (value instanceof Error) return scrubError(value, depth);
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value; // Date, Buffer, class instances
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_KEYS.has(key) && v !== null && v !== undefined ? '[redacted]' : scrub(v, depth + 1);
  }
  return out;
}

/** A copy of the error (same prototype, so pino's serializer still names its type) with scrubbed text. */
function scrubError(err: Error, depth: number): Error {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
  for (const [key, v] of Object.entries(err)) {
    (copy as unknown as Record<string, unknown>)[key] = SENSITIVE_KEYS.has(key) ? '[redacted]' : scrub(v, depth + 1);
  }
  Object.defineProperty(copy, 'message', { value: scrubString(err.message), enumerable: false, writable: true });
  if (err.stack)
    Object.defineProperty(copy, 'stack', { value: scrubString(err.stack), enumerable: false, writable: true });
  if (err.cause !== undefined) {
    Object.defineProperty(copy, 'cause', { value: scrub(err.cause, depth + 1), enumerable: false, writable: true });
  }
  return copy;
}
