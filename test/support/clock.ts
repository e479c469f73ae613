/**
 * A clock for code that takes a `Timers` (src/core/timers.ts): time moves only when a test
 * says so, and timers fire in order of their due time, so debounces, polls and backoffs are
 * driven exactly while the sockets and files they react to stay real.
 */
import type { TimerHandle, Timers } from '../../src/core/timers.ts';

interface Scheduled extends TimerHandle {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
}

export class TestClock implements Timers {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Scheduled>();

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: Scheduled = { due: this.#now + Math.max(0, ms), seq: this.#seq++, callback, unref: () => timer };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as Scheduled);
  }

  /** Delays (from now) of the timers not yet fired, soonest first. */
  get pending(): number[] {
    return this.#ordered().map((timer) => timer.due - this.#now);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way (also ones those set). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#ordered()[0];
      if (next === undefined || next.due > end) break;
      this.#timers.delete(next);
      this.#now = next.due;
      next.callback();
    }
    this.#now = end;
  }

  /** Fires the soonest timer, moving time to when it was due; false when none is pending. */
  next(): boolean {
    const next = this.#ordered()[0];
    if (next === undefined) return false;
    this.advance(next.due - this.#now);
    return true;
  }

  #ordered(): Scheduled[] {
    return [...this.#timers].sort((a, b) => a.due - b.due || a.seq - b.seq);
  }
}
