/** How long the policy watch waits before trying the API server again after consecutive failures. */

export interface RetryOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * At most 1.5 s (±20 %) apart: an edit stored while the API server was
 * unreachable applies within 2 s of it coming back (issue 17), at the cost
 * of one list or watch per replica every 1.5 s while it is down.
 */
export const DEFAULT_RETRY: RetryOptions = { initialMs: 500, maxMs: 1_500 };

/** Retry delay after `failures` consecutive failures: exponential with ±20% jitter. */
export function backoffDelay(failures: number, retry: RetryOptions = DEFAULT_RETRY, random: () => number = Math.random): number {
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
