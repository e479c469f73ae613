/** The process logger: pino JSON lines on stdout (or a given stream, for tests). */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env['MODELGATE_LOG_LEVEL'] ?? 'info', destination?: DestinationStream): Logger {
  // No pino `name`: review lines use `name` for the admitted object's name.
  const options = { level, base: { service: 'modelgate', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  // pino's own stdout destination (synchronous writes): measured the cheapest per line, lines appear at once,
  // and nothing is lost when the process dies.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
