/** The one logger. JSON in production (for log shippers), readable lines in development. */
import pino, { type Logger } from 'pino';
import { config } from './config.ts';

export function createLogger(name: string): Logger {
  const { LOG_LEVEL } = config();
  return pino({ name, level: LOG_LEVEL, base: { service: name } });
}
