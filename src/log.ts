/** The process logger: pino JSON lines on stdout (or a given stream, for tests). */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

/** Lines are written in batches of this size… */
const BATCH_BYTES = 4096;
/** …or after this long, whichever comes first, so that a quiet webhook's lines still appear promptly. */
const FLUSH_INTERVAL_MS = 500;

/**
 * Stdout is written asynchronously and in batches: a write per review cost
 * more than evaluating the review (npm run bench, CPU profile: ~11 µs of
 * ~15 µs of modelgate's own work per review). pino flushes what is buffered
 * when the process exits, and `serve` exits on SIGTERM.
 */
export function createLogger(level: string = process.env['MODELGATE_LOG_LEVEL'] ?? 'info', destination?: DestinationStream): Logger {
  // No pino `name`: review lines use `name` for the admitted object's name.
  const options = { level, base: { service: 'modelgate', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (destination !== undefined) return pino(options, destination);
  const stdout = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
  setInterval(() => {
    // flush() throws while the stream is not ready yet or already ended; the next tick or the exit handler covers it.
    try {
      stdout.flush();
    } catch {
      /* nothing buffered to write yet */
    }
  }, FLUSH_INTERVAL_MS).unref();
  return pino(options, stdout);
}
