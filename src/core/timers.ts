/**
 * The clock and timers that debounces, polls and backoffs run on, injectable so that a
 * test can drive time (test/unit/helpers/clock.ts) while sockets and files stay real.
 */

/** What `setTimeout` returns; Node's Timeout has more, a test clock needs no more. */
export interface TimerHandle {
  /** The timer does not keep the process alive. */
  unref(): unknown;
}

export interface Timers {
  /** Milliseconds, on the Date.now() clock. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The process's own timers, looked up on each call (so node:test's mock.timers applies too). */
export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
