/**
 * The retry layer: 429 (after Retry-After, when it fits in the deadline), 5xx and connection
 * resets/timeouts are tried again, at most maxRetries times and never past the deadline, with
 * full-jitter backoff. Any other answer is returned as is, for the caller to interpret; when
 * the retries run out the last answer is returned (or the last error thrown).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from './errors.ts';
import { callerAbort } from './http-classify.ts';
import { MINIMUM_ATTEMPT_MS } from './http-exchange.ts';
import type { Deadline, HttpResponse, Interceptor, TransportOptions } from './http-exchange.ts';

export type RetryOptions = Pick<TransportOptions, 'maxRetries' | 'retryBaseDelayMs' | 'retryMaxDelayMs' | 'requestTimeoutMs' | 'random'>;

export function retry(options: RetryOptions): Interceptor {
  return (next) => async (exchange) => {
    for (let attempt = exchange.attempt; ; attempt++) {
      let response: HttpResponse | undefined;
      let failure: RegistryError | undefined;
      try {
        response = await next({ ...exchange, attempt });
        if (!isRetryableStatus(response.status)) return response;
      } catch (error) {
        if (!(error instanceof RegistryError) || !error.retryable) throw error;
        failure = error;
      }
      const wait = attempt > options.maxRetries ? undefined : retryDelay(options, attempt, response, exchange.deadline);
      if (wait === undefined) {
        if (response !== undefined) return response;
        throw failure;
      }
      try {
        await sleep(wait, undefined, exchange.deadline.signal === undefined ? undefined : { signal: exchange.deadline.signal });
      } catch {
        throw callerAbort(exchange);
      }
    }
  };
}

/** How long to wait before the next attempt; undefined when it would not fit in the deadline. */
function retryDelay(options: RetryOptions, attempt: number, response: HttpResponse | undefined, deadline: Deadline): number | undefined {
  const backoff = Math.min(options.retryMaxDelayMs, options.retryBaseDelayMs * 2 ** (attempt - 1));
  let wait = Math.floor(options.random() * backoff);
  const retryAfter = response === undefined ? undefined : parseRetryAfter(response.headers['retry-after']);
  if (retryAfter !== undefined) wait = Math.max(wait, retryAfter);
  // Leave the next attempt some time of its own, or it only turns a clear status into a TIMEOUT.
  const minimumAttempt = Math.min(MINIMUM_ATTEMPT_MS, options.requestTimeoutMs);
  if (deadline.remaining() - wait < minimumAttempt) return undefined;
  return wait;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
