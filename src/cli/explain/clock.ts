/** The time of each step of an explanation, and of the whole. */
import { performance } from 'node:perf_hooks';
import type { Timing } from './model.ts';

const round = (ms: number): number => Math.round(ms * 100) / 100;

export class Clock {
  readonly timings: Timing[] = [];
  readonly #start = performance.now();

  async time<T>(step: string, work: () => T | Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.timings.push({ step, ms: round(performance.now() - started) });
    }
  }

  total(): void {
    this.timings.push({ step: 'total', ms: round(performance.now() - this.#start) });
  }
}
