/** The process logger: pino JSON lines on stdout (or a given stream, for tests). */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

/**
 * Stdout is written asynchronously: a synchronous write per review would put
 * a system call on every admission's path. pino flushes what is buffered when
 * the process exits (normal exit and SIGTERM, which `serve` turns into one).
 */
export function createLogger(level: string = process.env['MODELGATE_LOG_LEVEL'] ?? 'info', destination?: DestinationStream): Logger {
  // No pino `name`: review lines use `name` for the admitted object's name.
  const options = { level, base: { service: 'modelgate', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
