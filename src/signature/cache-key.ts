/** The cache key of a signature verdict: what it depends on besides the digest and the registry's content. */
import { createHash } from 'node:crypto';
import { parseAuthorityKey } from './keys.ts';
import type { Authority, DiscoveryLimits, SignaturePolicy, SignedIdentity } from './policy-schema.ts';
import type { TrustedRoots } from './trust.ts';

/** The canonical form of an authority for hashing: keys by SPKI fingerprint, defaults written out. */
function canonicalAuthority(authority: Authority, roots: TrustedRoots | undefined): unknown {
  switch (authority.kind) {
    case 'key': {
      let key: string;
      try {
        key = parseAuthorityKey(authority.key).fingerprint;
      } catch {
        key = createHash('sha256').update(authority.key).digest('hex');
      }
      return ['key', authority.name, key, authority.tlog, authority.trustedRoot, roots?.fingerprint(authority.trustedRoot) ?? ''];
    }
    case 'keyless':
      return [
        'keyless',
        authority.name,
        authority.identities.map((identity) => [
          identity.issuer ?? null,
          identity.issuerRegExp ?? null,
          identity.subject ?? null,
          identity.subjectRegExp ?? null,
        ]),
        authority.trustedRoot,
        roots?.fingerprint(authority.trustedRoot) ?? '',
        // Evidence choices (private PKI): what a signature must carry besides the certificate.
        [authority.tlog, authority.ctlog, authority.signingTime],
      ];
    case 'static':
      return ['static', authority.name, authority.result];
  }
}

/** signedIdentity as an array (its repositories and prefixes are normalised already, policy-convert.ts). */
function canonicalIdentity(identity: SignedIdentity): unknown {
  switch (identity.type) {
    case 'exactRepository':
      return [identity.type, identity.repository];
    case 'remapIdentity':
      return [identity.type, identity.prefix, identity.signedPrefix];
    default:
      return [identity.type];
  }
}

/**
 * A deterministic key of what a verification result depends on besides the digest and the
 * registry's content: threshold, authorities (keys by SPKI fingerprint, so PEM line breaks do
 * not matter), the signedIdentity and, when given, the fingerprints of the trusted roots they
 * name. Cache
 * (registry/repository, digest, key) → SignatureResult.
 */
export function signatureCacheKey(policy: SignaturePolicy, roots?: TrustedRoots, limits?: DiscoveryLimits): string {
  const canonical = JSON.stringify([
    'modelgate-signatures/v1',
    policy.threshold,
    policy.authorities.map((authority) => canonicalAuthority(authority, roots)),
    canonicalIdentity(policy.signedIdentity),
    limits === undefined ? null : [limits.maxCandidates, limits.maxBlobBytes],
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
