/**
 * Signature verification behind a cache. A digest's content never changes,
 * but signatures can be added to it (and keys rotated in the policy, which
 * changes the cache key), so results are cached for a bounded time: passes
 * longer, failures briefly, and results a registry problem left incomplete
 * not at all. Concurrent admissions of one digest share one verification.
 * A result built from reads with a pod's pull secret is given only to reviews
 * that hold the same credential (oci/credentials.ts, audiences).
 * When the public-good root is refreshed (public-good.ts), the key changes with its
 * fingerprint: verdicts reached under the old root are not reused after a rotation.
 */
import { LruCache } from '../core/lru.ts';
import { SingleFlight } from '../core/single-flight.ts';
import { detach } from '../core/detach.ts';
import { AudienceRecorder } from '../oci/audience.ts';
import { PUBLIC } from '../oci/credentials.ts';
import type { Audience } from '../oci/credentials.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { signatureCacheKey } from './cache-key.ts';
import type { DiscoveryLimits, SignaturePolicy } from './policy-schema.ts';
import type { TrustedRoots } from './trust.ts';
import { verifySignatures } from './verify.ts';
import type { RepositoryMismatch, SignatureResult } from './verify.ts';

export interface SignatureSource {
  /** Synchronous when cached. */
  verify(policy: SignaturePolicy, locator: RepositoryLocator, digest: string, deadline: number): SignatureResult | Promise<SignatureResult>;
}

export const PASS_TTL_MS = 10 * 60_000;
export const FAIL_TTL_MS = 30_000;

interface CachedResult {
  readonly result: SignatureResult;
  readonly audience: Audience;
}

export class CachedSignatureVerifier implements SignatureSource {
  readonly #registry: Registry;
  readonly #roots: TrustedRoots;
  readonly #limits: DiscoveryLimits;
  readonly #audienceOf: (locator: RepositoryLocator) => Promise<Audience>;
  readonly #cache = new LruCache<string, CachedResult>({ maxEntries: 20_000, maxBytes: 8 * 1024 * 1024 });
  readonly #flights = new SingleFlight<string, CachedResult>();
  /** Policy key per SignaturePolicy object and roots snapshot: hashing the authorities once per root, not per review. */
  readonly #policyKeys = new WeakMap<SignaturePolicy, { readonly roots: TrustedRoots; readonly key: string }>();
  readonly stats = { hits: 0, misses: 0 };

  constructor(
    registry: Registry,
    roots: TrustedRoots,
    limits: DiscoveryLimits,
    audienceOf: (locator: RepositoryLocator) => Promise<Audience> = () => Promise.resolve(PUBLIC),
  ) {
    this.#registry = registry;
    this.#roots = roots;
    this.#limits = limits;
    this.#audienceOf = audienceOf;
  }

  #policyKey(policy: SignaturePolicy, roots: TrustedRoots): string {
    const known = this.#policyKeys.get(policy);
    if (known?.roots === roots) return known.key;
    const key = signatureCacheKey(policy, roots, this.#limits);
    this.#policyKeys.set(policy, { roots, key });
    return key;
  }

  verify(policy: SignaturePolicy, locator: RepositoryLocator, digest: string, deadline: number): SignatureResult | Promise<SignatureResult> {
    // One roots snapshot for the key and the verification, so a verdict is filed under the root it was reached with.
    const roots = this.#roots.current();
    const key = `${locator.registry}/${locator.repository}@${digest}#${this.#policyKey(policy, roots)}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined && !cached.audience.startsWith('pod:')) {
      this.stats.hits++;
      return cached.result;
    }
    return this.#verify(key, cached, roots, policy, locator, digest, deadline);
  }

  async #verify(
    key: string,
    cached: CachedResult | undefined,
    roots: TrustedRoots,
    policy: SignaturePolicy,
    locator: RepositoryLocator,
    digest: string,
    deadline: number,
  ): Promise<SignatureResult> {
    const audience = await this.#audienceOf(locator);
    if (cached !== undefined && cached.audience === audience) {
      this.stats.hits++;
      return cached.result;
    }
    this.stats.misses++;
    const outcome = await this.#flights.run(`${key}|${audience}`, async () => {
      const registry = new AudienceRecorder(this.#registry);
      const result = await verifySignatures({ policy, registry, locator, digest, deadline, trustedRoots: roots, limits: this.#limits });
      if (!result.cacheable) return { result, audience: registry.audience };
      const kept = keptResult(result);
      const entry = { result: kept, audience: registry.audience };
      this.#cache.set(key, entry, resultBytes(kept), result.passed ? PASS_TTL_MS : FAIL_TTL_MS);
      return entry;
    });
    return outcome.result;
  }
}

/** The result as the cache keeps it: strings detached from the signatures and payloads they were cut from. */
function keptResult(result: SignatureResult): SignatureResult {
  return {
    ...result,
    authorities: result.authorities.map((authority) => ({
      ...authority,
      name: detach(authority.name),
      reason: detach(authority.reason),
      signature: authority.signature === undefined ? undefined : detach(authority.signature),
      ...detachedMismatch(authority.repositoryMismatch),
    })),
    problems: result.problems.map(detach),
    summary: detach(result.summary),
    ...detachedMismatch(result.repositoryMismatch),
  };
}

function detachedMismatch(mismatch: RepositoryMismatch | undefined): { repositoryMismatch?: RepositoryMismatch } {
  return mismatch === undefined ? {} : { repositoryMismatch: { pulled: detach(mismatch.pulled), signed: detach(mismatch.signed) } };
}

/** Heap of a kept result: its strings (two bytes per character at worst) and a fixed share per object. */
function resultBytes(result: SignatureResult): number {
  let characters = result.summary.length;
  for (const authority of result.authorities) characters += authority.name.length + authority.reason.length + (authority.signature?.length ?? 0);
  for (const problem of result.problems) characters += problem.length;
  if (result.repositoryMismatch !== undefined) characters += result.repositoryMismatch.pulled.length + result.repositoryMismatch.signed.length;
  return 1024 + 256 * (result.authorities.length + result.problems.length) + 2 * characters;
}
