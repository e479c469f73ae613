/** Checked `spec.signatures` and `spec.signatureDiscovery` sections into the verifier's form, defaults filled in. */
import { SchemaValidator } from '../core/schema.ts';
import type { IdentityMatcher } from './identity.ts';
import { DEFAULT_DISCOVERY_LIMITS, DEFAULT_SIGNING_TIME, SIGNING_TIME_SOURCES, signaturesSchema } from './policy-schema.ts';
import type {
  Authority,
  AuthoritySection,
  DiscoveryLimits,
  DiscoverySection,
  IdentitySection,
  SignaturePolicy,
  SignaturesSection,
  SignedIdentitySection,
  SigningTimeSource,
} from './policy-schema.ts';
import { MATCH_REPOSITORY, parseIdentityPrefix, parseSignedRepository } from './signed-identity.ts';
import type { SignedIdentity } from './signed-identity.ts';
import { PUBLIC_GOOD } from './trust.ts';

const signatures = new SchemaValidator(signaturesSchema);

function toIdentity(section: IdentitySection): IdentityMatcher {
  const out: { -readonly [K in keyof IdentityMatcher]: IdentityMatcher[K] } = {};
  for (const field of ['issuer', 'issuerRegExp', 'subject', 'subjectRegExp'] as const) {
    const value = section[field];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

/** `signingTime` as a set in the fixed order of SIGNING_TIME_SOURCES (so equal choices compare and hash equal). */
export function toSigningTime(value: SigningTimeSource | readonly SigningTimeSource[] | undefined): readonly SigningTimeSource[] {
  if (value === undefined) return DEFAULT_SIGNING_TIME;
  const chosen = new Set(typeof value === 'string' ? [value] : value);
  return SIGNING_TIME_SOURCES.filter((source) => chosen.has(source));
}

export function toAuthority(section: AuthoritySection): Authority {
  const { name } = section;
  if (section.key !== undefined) {
    return { kind: 'key', name, key: section.key, tlog: section.tlog ?? 'required', trustedRoot: section.trustedRoot ?? PUBLIC_GOOD };
  }
  if (section.keyless !== undefined) {
    const { keyless } = section;
    return {
      kind: 'keyless',
      name,
      identities: keyless.identities.map(toIdentity),
      trustedRoot: keyless.trustedRoot ?? PUBLIC_GOOD,
      tlog: keyless.tlog ?? 'required',
      ctlog: keyless.ctlog ?? 'required',
      signingTime: toSigningTime(keyless.signingTime),
    };
  }
  return { kind: 'static', name, result: section.static === 'pass' ? 'pass' : 'fail' };
}

/** The verifier's form of a checked signedIdentity: repositories and prefixes normalised. */
export function toSignedIdentity(section: SignedIdentitySection | undefined): SignedIdentity {
  switch (section?.type) {
    case undefined:
    case 'matchRepository':
      return MATCH_REPOSITORY;
    case 'matchDigest':
      return { type: 'matchDigest' };
    case 'exactRepository':
      return { type: 'exactRepository', repository: parseSignedRepository(section.repository ?? '') };
    case 'remapIdentity':
      return { type: 'remapIdentity', prefix: parseIdentityPrefix(section.prefix ?? ''), signedPrefix: parseIdentityPrefix(section.signedPrefix ?? '') };
  }
}

/**
 * Converts a `spec.signatures` section that passed checkSignatures (policy-checks.ts). A
 * value that is not even shaped like one is a programming error, not a policy mistake.
 */
export function toSignaturePolicy(section: SignaturesSection | unknown): SignaturePolicy {
  if (!signatures.check(section)) throw new TypeError('toSignaturePolicy: the value is not a checked spec.signatures section');
  return { threshold: section.threshold ?? 1, authorities: section.authorities.map(toAuthority), signedIdentity: toSignedIdentity(section.signedIdentity) };
}

/** Converts a checked `spec.signatureDiscovery` section (absent: the defaults). */
export function toDiscoveryLimits(section: DiscoverySection | undefined): DiscoveryLimits {
  return {
    maxCandidates: section?.maxCandidates ?? DEFAULT_DISCOVERY_LIMITS.maxCandidates,
    maxBlobBytes: section?.maxBlobKiB === undefined ? DEFAULT_DISCOVERY_LIMITS.maxBlobBytes : section.maxBlobKiB * 1024,
  };
}
