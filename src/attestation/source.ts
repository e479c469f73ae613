/**
 * Attestation verification behind a cache, as signature/source.ts keeps signature verdicts:
 * keyed by repository, digest and what the verdict depends on (each requirement's predicate
 * type, threshold and authorities, the trusted roots they name, the discovery limits); passes
 * kept longer than failures, incomplete results not at all, and results read with a pod's
 * pull secret given only to reviews holding the same credential. The conditions are not part
 * of the key: they are evaluated per review over the kept statements (conditions.ts).
 */
import { createHash } from 'node:crypto';
import { LruCache } from '../core/lru.ts';
import { SingleFlight } from '../core/single-flight.ts';
import { AudienceRecorder } from '../oci/audience.ts';
import { PUBLIC } from '../oci/credentials.ts';
import type { Audience } from '../oci/credentials.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { signatureCacheKey } from '../signature/cache-key.ts';
import type { DiscoveryLimits } from '../signature/policy-schema.ts';
import { MATCH_REPOSITORY } from '../signature/signed-identity.ts';
import { FAIL_TTL_MS, PASS_TTL_MS } from '../signature/source.ts';
import type { TrustedRoots } from '../signature/trust.ts';
import type { AttestationPolicy } from './policy-schema.ts';
import { verifyAttestations } from './verify.ts';
import type { AttestationResult } from './verify.ts';

export interface AttestationSource {
  /** Synchronous when cached. */
  verify(policy: AttestationPolicy, locator: RepositoryLocator, digest: string, deadline: number): AttestationResult | Promise<AttestationResult>;
}

interface CachedResult {
  readonly result: AttestationResult;
  readonly audience: Audience;
}

/** The key of what a result depends on besides the digest and the registry's content. */
export function attestationCacheKey(policy: AttestationPolicy, roots: TrustedRoots, limits: DiscoveryLimits): string {
  const parts = policy.requirements.map((requirement) => [
    requirement.predicateType,
    signatureCacheKey({ threshold: requirement.threshold, authorities: requirement.authorities, signedIdentity: MATCH_REPOSITORY }, roots, limits),
  ]);
  return createHash('sha256')
    .update(JSON.stringify(['modelgate-attestations/v1', parts]))
    .digest('hex');
}

/** Heap of a kept result: mostly its statements' predicates. */
function resultBytes(result: AttestationResult): number {
  let bytes = 1024;
  for (const requirement of result.requirements) {
    bytes += 512 * requirement.found.length;
    for (const verified of requirement.verified) bytes += 2 * JSON.stringify(verified.statement).length;
  }
  return bytes;
}

export class CachedAttestationVerifier implements AttestationSource {
  readonly #registry: Registry;
  readonly #roots: TrustedRoots;
  readonly #limits: DiscoveryLimits;
  readonly #audienceOf: (locator: RepositoryLocator) => Promise<Audience>;
  readonly #cache = new LruCache<string, CachedResult>({ maxEntries: 5_000, maxBytes: 16 * 1024 * 1024 });
  readonly #flights = new SingleFlight<string, CachedResult>();
  readonly #policyKeys = new WeakMap<AttestationPolicy, { readonly roots: TrustedRoots; readonly key: string }>();
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

  #policyKey(policy: AttestationPolicy, roots: TrustedRoots): string {
    const known = this.#policyKeys.get(policy);
    if (known?.roots === roots) return known.key;
    const key = attestationCacheKey(policy, roots, this.#limits);
    this.#policyKeys.set(policy, { roots, key });
    return key;
  }

  verify(policy: AttestationPolicy, locator: RepositoryLocator, digest: string, deadline: number): AttestationResult | Promise<AttestationResult> {
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
    policy: AttestationPolicy,
    locator: RepositoryLocator,
    digest: string,
    deadline: number,
  ): Promise<AttestationResult> {
    const audience = await this.#audienceOf(locator);
    if (cached !== undefined && cached.audience === audience) {
      this.stats.hits++;
      return cached.result;
    }
    this.stats.misses++;
    const outcome = await this.#flights.run(`${key}|${audience}`, async () => {
      const registry = new AudienceRecorder(this.#registry);
      const result = await verifyAttestations({ policy, registry, locator, digest, deadline, trustedRoots: roots, limits: this.#limits });
      const entry = { result, audience: registry.audience };
      if (!result.complete) return entry;
      const passed = result.requirements.every((requirement) => requirement.verified.length > 0 || requirement.staticPasses.length > 0);
      this.#cache.set(key, entry, resultBytes(result), passed ? PASS_TTL_MS : FAIL_TTL_MS);
      return entry;
    });
    return outcome.result;
  }
}
