/**
 * OMS signature verification behind a cache, as cosign signatures (source.ts): keyed by
 * registry/repository@digest and a hash of the authorities, threshold, location and layerPath
 * (keys by SPKI fingerprint, trusted roots by fingerprint, cache-key.ts), kept briefly when no
 * authority verified a signature, longer when one did, never when a registry problem may have
 * hidden one. Concurrent reviews of one digest share one verification; a result read with a
 * pod's pull secret is told only to reviews with the same credential.
 */
import { createHash } from 'node:crypto';
import { LruCache } from '../core/lru.ts';
import { SingleFlight } from '../core/single-flight.ts';
import { AudienceRecorder } from '../oci/audience.ts';
import { PUBLIC } from '../oci/credentials.ts';
import type { Audience } from '../oci/credentials.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { signatureCacheKey } from './cache-key.ts';
import type { OmsDiscoveryInput } from './oms-discover.ts';
import type { ModelSignaturePolicy } from './oms-policy.ts';
import { verifyModelSignatures } from './oms-verify.ts';
import type { OmsVerification } from './oms-verify.ts';
import type { DiscoveryLimits } from './policy-schema.ts';
import { FAIL_TTL_MS, PASS_TTL_MS } from './source.ts';
import { MATCH_REPOSITORY } from './signed-identity.ts';
import type { TrustedRoots } from './trust.ts';

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

interface Cached {
  readonly result: OmsVerification;
  readonly audience: Audience;
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
  readonly #registry: Registry;
  readonly #roots: TrustedRoots;
  readonly #limits: DiscoveryLimits;
  readonly #audienceOf: (locator: RepositoryLocator) => Promise<Audience>;
  readonly #cache = new LruCache<string, Cached>({ maxEntries: 10_000, maxBytes: 8 * 1024 * 1024 });
  readonly #flights = new SingleFlight<string, Cached>();
  readonly #policyKeys = new WeakMap<ModelSignaturePolicy, { readonly roots: TrustedRoots; readonly key: string }>();
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

  #policyKey(policy: ModelSignaturePolicy, roots: TrustedRoots): string {
    const known = this.#policyKeys.get(policy);
    if (known?.roots === roots) return known.key;
    const key = modelSignatureCacheKey(policy, roots, this.#limits);
    this.#policyKeys.set(policy, { roots, key });
    return key;
  }

  verify(
    policy: ModelSignaturePolicy,
    locator: RepositoryLocator,
    digest: string,
    signatureLayer: OmsDiscoveryInput['signatureLayer'],
    deadline: number,
  ): OmsVerification | Promise<OmsVerification> {
    const roots = this.#roots.current();
    const key = `${locator.registry}/${locator.repository}@${digest}#${this.#policyKey(policy, roots)}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined && !cached.audience.startsWith('pod:')) {
      this.stats.hits++;
      return cached.result;
    }
    return this.#verify(key, cached, roots, policy, locator, digest, signatureLayer, deadline);
  }

  async #verify(
    key: string,
    cached: Cached | undefined,
    trustedRoots: TrustedRoots,
    policy: ModelSignaturePolicy,
    locator: RepositoryLocator,
    digest: string,
    signatureLayer: OmsDiscoveryInput['signatureLayer'],
    deadline: number,
  ): Promise<OmsVerification> {
    const audience = await this.#audienceOf(locator);
    if (cached !== undefined && cached.audience === audience) {
      this.stats.hits++;
      return cached.result;
    }
    this.stats.misses++;
    const outcome = await this.#flights.run(`${key}|${audience}`, async () => {
      const registry = new AudienceRecorder(this.#registry);
      const result = await verifyModelSignatures({ policy, registry, locator, digest, deadline, trustedRoots, limits: this.#limits, signatureLayer });
      const entry = { result, audience: registry.audience };
      if (!result.complete) return entry;
      const verified = result.authorities.some((authority) => authority.verified.length > 0);
      this.#cache.set(key, entry, resultBytes(result), verified ? PASS_TTL_MS : FAIL_TTL_MS);
      return entry;
    });
    return outcome.result;
  }
}
