/** Concurrent calls for one key share one execution; the next call after it settles starts afresh. */
export class SingleFlight<K, V> {
  readonly #inflight = new Map<K, Promise<V>>();

  run(key: K, work: () => Promise<V>): Promise<V> {
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const promise = work().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  has(key: K): boolean {
    return this.#inflight.has(key);
  }

  get size(): number {
    return this.#inflight.size;
  }
}
