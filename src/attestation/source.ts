/**
 * Attestation verification behind a cache, as signature/source.ts keeps signature verdicts:
 * keyed by repository, digest and what the verdict depends on (each requirement's predicate
 * type, threshold and authorities, the trusted roots they name, the discovery limits); passes
 * kept longer than failures, incomplete results not at all, and results read with a pod's
 * pull secret given only to reviews holding the same credential. The conditions are not part
 * of the key: they are evaluated per review over the kept statements (conditions.ts).
 */
import { createHash } from 'node:crypto';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { signatureCacheKey } from '../signature/cache-key.ts';
import type { DiscoveryLimits } from '../signature/policy-schema.ts';
import { MATCH_REPOSITORY } from '../signature/signed-identity.ts';
import type { TrustedRoots } from '../signature/trust.ts';
import { AudienceScopedVerifierCache, publicAudience } from '../signature/verifier-cache.ts';
import type { AudienceOf } from '../signature/verifier-cache.ts';
import type { AttestationPolicy } from './policy-schema.ts';
import { verifyAttestations } from './verify.ts';
import type { AttestationResult } from './verify.ts';

export interface AttestationSource {
  /** Synchronous when cached. */
  verify(policy: AttestationPolicy, locator: RepositoryLocator, digest: string, deadline: number): AttestationResult | Promise<AttestationResult>;
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

/** How many authorities stand behind a requirement's verified statements or pass it statically. */
function authoritiesBehind(requirement: AttestationResult['requirements'][number]): number {
  return new Set([...requirement.verified.flatMap((verified) => verified.authorities), ...requirement.staticPasses]).size;
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
  readonly #cache: AudienceScopedVerifierCache<AttestationPolicy, AttestationResult>;
  readonly stats: { hits: number; misses: number };

  constructor(registry: Registry, roots: TrustedRoots, limits: DiscoveryLimits, audienceOf: AudienceOf = publicAudience) {
    this.#cache = new AudienceScopedVerifierCache(registry, roots, limits, audienceOf, {
      maxEntries: 5_000,
      maxBytes: 16 * 1024 * 1024,
      policyKey: attestationCacheKey,
      run: verifyAttestations,
      cacheable: (result) => result.complete,
      passed: (result, policy) =>
        result.requirements.every((requirement, index) => authoritiesBehind(requirement) >= (policy.requirements[index]?.threshold ?? 1)),
      bytes: resultBytes,
    });
    this.stats = this.#cache.stats;
  }

  verify(policy: AttestationPolicy, locator: RepositoryLocator, digest: string, deadline: number): AttestationResult | Promise<AttestationResult> {
    return this.#cache.verify(policy, locator, digest, deadline, undefined);
  }
}
