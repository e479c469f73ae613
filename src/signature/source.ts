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
import { detach } from '../core/detach.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { signatureCacheKey } from './cache-key.ts';
import type { DiscoveryLimits, SignaturePolicy } from './policy-schema.ts';
import type { TrustedRoots } from './trust.ts';
import { verifySignatures } from './verify.ts';
import type { RepositoryMismatch, SignatureResult } from './verify.ts';
import { AudienceScopedVerifierCache, publicAudience } from './verifier-cache.ts';
import type { AudienceOf } from './verifier-cache.ts';

export interface SignatureSource {
  /** Synchronous when cached. */
  verify(policy: SignaturePolicy, locator: RepositoryLocator, digest: string, deadline: number): SignatureResult | Promise<SignatureResult>;
}

export { FAIL_TTL_MS, PASS_TTL_MS } from './verifier-cache.ts';

export class CachedSignatureVerifier implements SignatureSource {
  readonly #cache: AudienceScopedVerifierCache<SignaturePolicy, SignatureResult>;
  readonly stats: { hits: number; misses: number };

  constructor(registry: Registry, roots: TrustedRoots, limits: DiscoveryLimits, audienceOf: AudienceOf = publicAudience) {
    this.#cache = new AudienceScopedVerifierCache(registry, roots, limits, audienceOf, {
      maxEntries: 20_000,
      maxBytes: 8 * 1024 * 1024,
      policyKey: signatureCacheKey,
      run: verifySignatures,
      cacheable: (result) => result.cacheable,
      passed: (result) => result.passed,
      keep: keptResult,
      bytes: resultBytes,
    });
    this.stats = this.#cache.stats;
  }

  verify(policy: SignaturePolicy, locator: RepositoryLocator, digest: string, deadline: number): SignatureResult | Promise<SignatureResult> {
    return this.#cache.verify(policy, locator, digest, deadline, undefined);
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
