/**
 * Whether a registry serves the OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`),
 * remembered per registry origin for a while, so that a lookup asks only what the registry
 * answers: the API where it has one, the `sha256-<hex>` referrers tag where it has not, in the
 * first round trip either way. Unknown (or expired): both are asked together and the API's
 * answer decides, so a registry that gains the API is found again within TTL_MS.
 *
 * Learnt only from answers that speak of the endpoint, as oras-go decides: an index answered
 * by the API (present), or a 404 that is not a distribution error about the repository or the
 * subject (absent). A 404 `NAME_UNKNOWN` (no such repository) or `MANIFEST_UNKNOWN` says
 * nothing about the API and teaches nothing. The origin comes from the Config's endpoints for
 * the reference's registry, so a pod spec can add entries but never steer another host's.
 */
import { LruCache } from '../core/lru.ts';

/** What a registry is known to do; undefined: not known (never asked, or expired). */
export type ReferrersApi = 'present' | 'absent';

/** How long an answer is believed; then the API is asked again beside the tag. */
export const REFERRERS_API_TTL_MS = 10 * 60_000;
/** Registries remembered at once; the least recently used is forgotten first. */
export const REFERRERS_API_MAX_ENTRIES = 256;

/** Distribution error codes of a 404 that speak of the repository or the subject, not of the API. */
const ABOUT_CONTENT = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);

/** Whether a 404 from the referrers endpoint, with this distribution error code, says the API is absent. */
export function notFoundMeansNoApi(registryCode: string | undefined): boolean {
  return registryCode === undefined || !ABOUT_CONTENT.has(registryCode);
}

export class ReferrersCapabilities {
  readonly #known: LruCache<string, ReferrersApi>;
  readonly #now: () => number;
  readonly #ttlMs: number;

  constructor(options: { readonly now?: () => number; readonly ttlMs?: number; readonly maxEntries?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? REFERRERS_API_TTL_MS;
    this.#known = new LruCache({ maxEntries: Math.max(1, options.maxEntries ?? REFERRERS_API_MAX_ENTRIES), maxBytes: Number.POSITIVE_INFINITY });
  }

  /** What `origin` (`https://host:port`) is known to do, unless that expired. */
  get(origin: string): ReferrersApi | undefined {
    return this.#known.get(origin, this.#now());
  }

  learn(origin: string, api: ReferrersApi): void {
    this.#known.set(origin, api, 0, this.#ttlMs, this.#now());
  }

  get size(): number {
    return this.#known.size;
  }
}
