/**
 * A least-recently-used cache bounded both in entries and in (estimated)
 * bytes, so that many small entries and a few large ones are held in check alike.
 *
 * Recency is kept by insertion order in a Map. A hit moves its entry to the
 * back only when it has fallen into the older half: moving on every hit made
 * the cache lookup the costliest step of a warm review (a Map delete and
 * insert, and the rehashing that follows them).
 */
export interface LruOptions {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

interface Entry<V> {
  readonly value: V;
  readonly bytes: number;
  readonly expires: number;
  /** When it was last placed at the back: a value of the cache's insertion counter. */
  placed: number;
}

export class LruCache<K, V> {
  readonly #entries = new Map<K, Entry<V>>();
  readonly #options: LruOptions;
  #bytes = 0;
  #placements = 0;

  constructor(options: LruOptions) {
    this.#options = options;
  }

  get(key: K, now?: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires !== Number.POSITIVE_INFINITY && entry.expires <= (now ?? Date.now())) {
      this.delete(key);
      return undefined;
    }
    if (this.#placements - entry.placed > this.#entries.size / 2) {
      // Re-insert to mark as recently used (Map keeps insertion order).
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      entry.placed = ++this.#placements;
    }
    return entry.value;
  }

  /** Stores the value; `ttlMs` bounds how long it is served (Infinity for immutable content). */
  set(key: K, value: V, bytes: number, ttlMs = Number.POSITIVE_INFINITY, now = Date.now()): void {
    if (bytes > this.#options.maxBytes) return;
    this.delete(key);
    this.#entries.set(key, { value, bytes, expires: now + ttlMs, placed: ++this.#placements });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#options.maxEntries && this.#bytes <= this.#options.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  delete(key: K): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
