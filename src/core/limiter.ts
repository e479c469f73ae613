/**
 * Bounds on work in flight, with waiting inside a deadline. One review may
 * name many registries, and many reviews arrive at once; the registry client
 * runs every request through one Limiter (so many in flight in all, so many
 * per host) and reads every body within one byte budget, so neither the
 * sockets nor the memory a burst of admissions takes can grow without end.
 * A waiter that cannot start before its deadline is refused, never left
 * waiting past it.
 */
import { ModelgateError } from './errors.ts';

/** Thrown to a waiter whose deadline passed (or whose signal fired) before it could start. */
export class LimitWaitError extends ModelgateError<'WAIT_CANCELLED' | 'WAIT_EXPIRED'> {
  static readonly codes = { WAIT_CANCELLED: {}, WAIT_EXPIRED: {} } as const;
  override readonly name = 'LimitWaitError';
  readonly aborted: boolean;
  constructor(what: string, aborted: boolean) {
    super(
      LimitWaitError.codes,
      aborted ? 'WAIT_CANCELLED' : 'WAIT_EXPIRED',
      aborted ? `cancelled while waiting for ${what}` : `no ${what} became free before the deadline`,
    );
    this.aborted = aborted;
  }
}

export interface WaitOptions {
  /** Date.now() time by which the wait must be over. */
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
}

export type Release = () => void;

interface Waiter {
  readonly key: string;
  readonly weight: number;
  /** Hands the release function over and stops the waiter's timer. */
  readonly grant: (release: Release) => void;
}

/**
 * Slots of a total capacity, each waiter asking for a weight, with a cap per
 * key. Waiters are served in order; one whose key is at its cap does not hold
 * up those behind it for other keys, but one that waits for capacity does (a
 * stream of small requests must not starve a large one).
 */
export class Limiter {
  readonly #capacity: number;
  readonly #perKey: number;
  readonly #what: string;
  #used = 0;
  readonly #byKey = new Map<string, number>();
  readonly #queue: Waiter[] = [];

  constructor(capacity: number, perKey: number = capacity, what = 'slot') {
    this.#capacity = capacity;
    this.#perKey = perKey;
    this.#what = what;
  }

  get inUse(): number {
    return this.#used;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves with a release function once `weight` fits for `key`; rejects with LimitWaitError at the deadline. */
  acquire(key: string, options: WaitOptions, weight = 1): Promise<Release> {
    const cost = Math.min(Math.max(0, weight), this.#capacity);
    if (this.#fits(key, cost) && !this.#queue.some((waiter) => this.#waitsForCapacity(waiter))) return Promise.resolve(this.#take(key, cost));
    return new Promise<Release>((resolve, reject) => {
      const cleanUp = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        key,
        weight: cost,
        grant: (release) => {
          cleanUp();
          resolve(release);
        },
      };
      const giveUp = (aborted: boolean): void => {
        const index = this.#queue.indexOf(waiter);
        if (index === -1) return;
        this.#queue.splice(index, 1);
        cleanUp();
        reject(new LimitWaitError(this.#what, aborted));
      };
      const onAbort = (): void => giveUp(true);
      const timer = setTimeout(() => giveUp(false), Math.max(0, options.deadline - Date.now()));
      this.#queue.push(waiter);
      if (options.signal?.aborted === true) giveUp(true);
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #waitsForCapacity(waiter: Waiter): boolean {
    return this.#used + waiter.weight > this.#capacity;
  }

  #fits(key: string, weight: number): boolean {
    return this.#used + weight <= this.#capacity && (this.#byKey.get(key) ?? 0) < this.#perKey;
  }

  #take(key: string, weight: number): Release {
    this.#used += weight;
    this.#byKey.set(key, (this.#byKey.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used -= weight;
      const count = (this.#byKey.get(key) ?? 1) - 1;
      if (count === 0) this.#byKey.delete(key);
      else this.#byKey.set(key, count);
      this.#drain();
    };
  }

  #drain(): void {
    for (let i = 0; i < this.#queue.length && this.#used < this.#capacity; ) {
      const waiter = this.#queue[i] as Waiter;
      if (this.#waitsForCapacity(waiter)) return;
      if (!this.#fits(waiter.key, waiter.weight)) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      waiter.grant(this.#take(waiter.key, waiter.weight));
    }
  }
}
