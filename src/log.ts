/** The process logger: pino JSON lines on stdout. */
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env['MODELGATE_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name: 'modelgate', level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
