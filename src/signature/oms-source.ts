/**
 * OMS signature verification behind a cache, as cosign signatures (source.ts): keyed by
 * registry/repository@digest and a hash of the authorities, threshold, location and layerPath
 * (keys by SPKI fingerprint, trusted roots by fingerprint, cache-key.ts), kept briefly when no
 * authority verified a signature, longer when one did, never when a registry problem may have
 * hidden one. Concurrent reviews of one digest share one verification; a result read with a
 * pod's pull secret is told only to reviews with the same credential.
 */
import { createHash } from 'node:crypto';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { signatureCacheKey } from './cache-key.ts';
import type { OmsDiscoveryInput } from './oms-discover.ts';
import type { ModelSignaturePolicy } from './oms-policy.ts';
import { verifyModelSignatures } from './oms-verify.ts';
import type { OmsVerification } from './oms-verify.ts';
import type { DiscoveryLimits } from './policy-schema.ts';
import { MATCH_REPOSITORY } from './signed-identity.ts';
import type { TrustedRoots } from './trust.ts';
import { AudienceScopedVerifierCache, publicAudience } from './verifier-cache.ts';
import type { AudienceOf } from './verifier-cache.ts';

export interface ModelSignatureSource {
  /** Synchronous when cached. `signatureLayer`: the manifest's layer at the policy's layerPath, if any. */
  verify(
    policy: ModelSignaturePolicy,
    locator: RepositoryLocator,
    digest: string,
    signatureLayer: OmsDiscoveryInput['signatureLayer'],
    deadline: number,
  ): OmsVerification | Promise<OmsVerification>;
}

/** The cache key of a policy: what a verification depends on besides the digest (the layer is fixed by the digest). */
export function modelSignatureCacheKey(policy: ModelSignaturePolicy, roots?: TrustedRoots, limits?: DiscoveryLimits): string {
  const authorities = signatureCacheKey({ threshold: policy.threshold, authorities: policy.authorities, signedIdentity: MATCH_REPOSITORY }, roots, limits);
  return createHash('sha256')
    .update(JSON.stringify(['modelgate-model-signature/v1', authorities, policy.location, policy.layerPath]))
    .digest('hex');
}

/**
 * Whether enough authorities verified a signature (or pass statically) for the policy's
 * threshold: such a result is kept PASS_TTL_MS, one short of it FAIL_TTL_MS, so a signer who
 * signs later is seen soon. Whether the signatures cover the manifest's files is judged per
 * review and cannot change for a digest.
 */
export function thresholdMet(result: OmsVerification, policy: ModelSignaturePolicy): boolean {
  return result.authorities.filter((authority) => authority.static === 'pass' || authority.verified.length > 0).length >= policy.threshold;
}

function resultBytes(result: OmsVerification): number {
  let characters = 0;
  for (const signature of result.signatures) {
    characters += signature.source.length + (signature.error?.length ?? 0);
    for (const resource of signature.statement?.resources ?? []) characters += resource.name.length + resource.digest.length + 16;
  }
  for (const authority of result.authorities) characters += authority.name.length + authority.failures.reduce((sum, failure) => sum + failure.length, 0);
  return 1024 + 2 * characters;
}

export class CachedModelSignatureVerifier implements ModelSignatureSource {
  readonly #cache: AudienceScopedVerifierCache<ModelSignaturePolicy, OmsVerification, OmsDiscoveryInput['signatureLayer']>;
  readonly stats: { hits: number; misses: number };

  constructor(registry: Registry, roots: TrustedRoots, limits: DiscoveryLimits, audienceOf: AudienceOf = publicAudience) {
    this.#cache = new AudienceScopedVerifierCache(registry, roots, limits, audienceOf, {
      maxEntries: 10_000,
      maxBytes: 8 * 1024 * 1024,
      policyKey: modelSignatureCacheKey,
      run: (request) => verifyModelSignatures({ ...request, signatureLayer: request.input }),
      cacheable: (result) => result.complete,
      passed: thresholdMet,
      bytes: resultBytes,
    });
    this.stats = this.#cache.stats;
  }

  verify(
    policy: ModelSignaturePolicy,
    locator: RepositoryLocator,
    digest: string,
    signatureLayer: OmsDiscoveryInput['signatureLayer'],
    deadline: number,
  ): OmsVerification | Promise<OmsVerification> {
    return this.#cache.verify(policy, locator, digest, deadline, signatureLayer);
  }
}
