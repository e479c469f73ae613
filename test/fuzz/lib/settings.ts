/**
 * Fixed seeds and run counts: the fuzz suite is a regression test, so every
 * run tries the same inputs and a failure reproduces. Widen a search locally
 * with FUZZ_SCALE=10 (more runs, same seeds) or FUZZ_SEED=<n> (other inputs);
 * the counterexample fast-check prints names the seed and path to replay it.
 */
import type { Parameters } from 'fast-check';

const scale = Number(process.env['FUZZ_SCALE'] ?? '1');
const seedOverride = process.env['FUZZ_SEED'];

/** fast-check parameters for one property: its own fixed seed, `runs` inputs (times FUZZ_SCALE). */
export function fuzzParameters<T>(seed: number, runs: number): Parameters<T> {
  return {
    seed: seedOverride === undefined || seedOverride === '' ? seed : Number(seedOverride),
    numRuns: Math.max(1, Math.round(runs * (Number.isFinite(scale) && scale > 0 ? scale : 1))),
    // The shrunk counterexample is what a report needs; the first failure's path replays it.
    endOnFailure: false,
  };
}

/** Counts of named outcomes, printed as one line by a test's diagnostic. */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(name: string, by = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.#counts.get(name) ?? 0;
  }

  toString(): string {
    return [...this.#counts].map(([name, count]) => `${name} ${count}`).join(', ');
  }
}
