/** How long the policy watch waits before trying the API server again after consecutive failures. */

export interface RetryOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { initialMs: 500, maxMs: 30_000 };

/** Retry delay after `failures` consecutive failures: exponential with ±20% jitter. */
export function backoffDelay(failures: number, retry: RetryOptions = DEFAULT_RETRY, random: () => number = Math.random): number {
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
