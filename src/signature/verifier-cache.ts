/**
 * The cache every verifier of signed content sits behind (cosign signatures, source.ts; OMS
 * model signatures, oms-source.ts; attestations, attestation/source.ts), in one place because
 * its audience rule is a security property: a result built from reads with a pod's pull secret
 * is given only to reviews that hold the same credential (oci/credentials.ts, audiences).
 *
 * Results are keyed by registry/repository@digest and a policy key (what the verdict depends on
 * besides the digest), computed once per policy object and trusted-roots snapshot; the snapshot
 * taken for the key is the one the verification runs with, so a verdict is filed under the root
 * it was reached with. Passes are kept PASS_TTL_MS, failures FAIL_TTL_MS, and results a registry
 * problem left incomplete not at all. Concurrent reviews of one key and audience share one
 * verification.
 */
import { LruCache } from '../core/lru.ts';
import { SingleFlight } from '../core/single-flight.ts';
import { AudienceRecorder } from '../oci/audience.ts';
import { PUBLIC } from '../oci/credentials.ts';
import type { Audience } from '../oci/credentials.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import type { DiscoveryInput } from './discovery-reads.ts';
import type { DiscoveryLimits } from './policy-schema.ts';
import type { TrustedRoots } from './trust.ts';

export const PASS_TTL_MS = 10 * 60_000;
export const FAIL_TTL_MS = 30_000;

/** Who may be told about what is read for a locator (oci/credentials.ts). */
export type AudienceOf = (locator: RepositoryLocator) => Promise<Audience>;

/** The audience when no pod's pull secret is in play. */
export const publicAudience: AudienceOf = () => Promise.resolve(PUBLIC);

/** One verification to run: `registry` records the audience of what it reads. */
export interface VerifierRun<Policy, Input> extends DiscoveryInput {
  readonly policy: Policy;
  /** The roots snapshot the key was computed with. */
  readonly trustedRoots: TrustedRoots;
  /** What a verifier takes besides the above; not part of the key (the digest must fix it). */
  readonly input: Input;
}

export interface VerifierCacheSpec<Policy extends object, Result, Input = undefined> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** What a result depends on besides the registry, repository and digest. */
  policyKey(policy: Policy, roots: TrustedRoots, limits: DiscoveryLimits): string;
  run(request: VerifierRun<Policy, Input>): Promise<Result>;
  /** False when a registry problem may have left the result incomplete: it is not kept. */
  cacheable(result: Result): boolean;
  /**
   * Kept PASS_TTL_MS when true, FAIL_TTL_MS when false: true only when the policy's threshold is
   * met, so a result short of it (a second signer still to come) is asked again soon.
   */
  passed(result: Result, policy: Policy): boolean;
  /** The result as the cache keeps it (e.g. strings detached from what they were cut from); identity when absent. */
  keep?(result: Result): Result;
  /** Heap of a kept result. */
  bytes(result: Result): number;
}

interface Entry<Result> {
  readonly result: Result;
  readonly audience: Audience;
}

export class AudienceScopedVerifierCache<Policy extends object, Result, Input = undefined> {
  readonly #registry: Registry;
  readonly #roots: TrustedRoots;
  readonly #limits: DiscoveryLimits;
  readonly #audienceOf: AudienceOf;
  readonly #spec: VerifierCacheSpec<Policy, Result, Input>;
  readonly #cache: LruCache<string, Entry<Result>>;
  readonly #flights = new SingleFlight<string, Entry<Result>>();
  /** Policy key per policy object and roots snapshot: hashing the authorities once per root, not per review. */
  readonly #policyKeys = new WeakMap<Policy, { readonly roots: TrustedRoots; readonly key: string }>();
  readonly stats = { hits: 0, misses: 0 };

  constructor(registry: Registry, roots: TrustedRoots, limits: DiscoveryLimits, audienceOf: AudienceOf, spec: VerifierCacheSpec<Policy, Result, Input>) {
    this.#registry = registry;
    this.#roots = roots;
    this.#limits = limits;
    this.#audienceOf = audienceOf;
    this.#spec = spec;
    this.#cache = new LruCache<string, Entry<Result>>({ maxEntries: spec.maxEntries, maxBytes: spec.maxBytes });
  }

  #policyKey(policy: Policy, roots: TrustedRoots): string {
    const known = this.#policyKeys.get(policy);
    if (known?.roots === roots) return known.key;
    const key = this.#spec.policyKey(policy, roots, this.#limits);
    this.#policyKeys.set(policy, { roots, key });
    return key;
  }

  /** Synchronous when cached for anyone (an audience that is not a pod's). */
  verify(policy: Policy, locator: RepositoryLocator, digest: string, deadline: number, input: Input): Result | Promise<Result> {
    // One roots snapshot for the key and the verification, so a verdict is filed under the root it was reached with.
    const roots = this.#roots.current();
    const key = `${locator.registry}/${locator.repository}@${digest}#${this.#policyKey(policy, roots)}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined && !cached.audience.startsWith('pod:')) {
      this.stats.hits++;
      return cached.result;
    }
    return this.#verify(key, cached, { policy, registry: this.#registry, locator, digest, deadline, trustedRoots: roots, limits: this.#limits, input });
  }

  async #verify(key: string, cached: Entry<Result> | undefined, request: VerifierRun<Policy, Input>): Promise<Result> {
    const audience = await this.#audienceOf(request.locator);
    if (cached !== undefined && cached.audience === audience) {
      this.stats.hits++;
      return cached.result;
    }
    this.stats.misses++;
    const outcome = await this.#flights.run(`${key}|${audience}`, async () => {
      const registry = new AudienceRecorder(this.#registry);
      const result = await this.#spec.run({ ...request, registry });
      if (!this.#spec.cacheable(result)) return { result, audience: registry.audience };
      const kept = this.#spec.keep === undefined ? result : this.#spec.keep(result);
      const entry = { result: kept, audience: registry.audience };
      this.#cache.set(key, entry, this.#spec.bytes(kept), this.#spec.passed(result, request.policy) ? PASS_TTL_MS : FAIL_TTL_MS);
      return entry;
    });
    return outcome.result;
  }
}
