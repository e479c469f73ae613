/** The process logger: pino JSON lines on stdout (or a given stream, for tests). */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { TurnBatchedDestination } from './log-destination.ts';

export type { Logger };

/** The levels createLogger accepts (MODELGATE_LOG_LEVEL): pino's, and silent. */
export const LOG_LEVELS: readonly string[] = [...Object.keys(pino.levels.values), 'silent'];

/** One per process, however many loggers write to stdout: their lines stay in order. */
let stdout: TurnBatchedDestination | undefined;

/** Where each logger made here writes, so a line can be written without pino (server/review-log.ts). */
const destinations = new WeakMap<Logger, DestinationStream>();

export function createLogger(level: string = process.env['MODELGATE_LOG_LEVEL'] ?? 'info', destination?: DestinationStream): Logger {
  // No pino `name`: review lines use `name` for the admitted object's name.
  const options = { level, base: { service: 'modelgate', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  stdout ??= new TurnBatchedDestination(1);
  const stream = destination ?? stdout;
  const logger = pino(options, stream);
  destinations.set(logger, stream);
  return logger;
}

/** The stream a logger made by createLogger writes to; undefined for any other logger (a child, one made by pino directly). */
export function logDestination(logger: Logger): DestinationStream | undefined {
  return destinations.get(logger);
}
