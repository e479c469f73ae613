/**
 * `spec.signatures` of a ModelPolicy and `spec.signatureDiscovery` of the Config: the
 * declarations (JSON Schema and document types) and the verifier's form they convert to
 * (policy-convert.ts). Cross-field rules: policy-checks.ts; `spec.trustedRoots`:
 * trusted-root-settings.ts.
 *
 * ```yaml
 * signatures:
 *   threshold: 1                  # distinct authorities that must pass (default 1)
 *   authorities:
 *     - name: release-key
 *       key: |                    # PEM public key: ECDSA P-256/P-384/P-521, Ed25519, RSA >= 2048
 *         -----BEGIN PUBLIC KEY-----
 *         ...
 *       tlog: optional            # accept signatures without a transparency-log entry (default: required)
 *       trustedRoot: public-good  # whose Rekor keys check the tlog entries (default public-good)
 *     - name: ci
 *       keyless:
 *         identities:
 *           - issuer: https://token.actions.githubusercontent.com
 *             subjectRegExp: ^https://github\.com/acme/models/\.github/workflows/release\.yml@refs/tags/v
 *         trustedRoot: public-good  # or a name from the Config's spec.trustedRoots
 *     - name: corp-ca               # a private CA without transparency logs (keyless.ts)
 *       keyless:
 *         identities: [{issuer: https://idp.corp.example, subject: release@corp.example}]
 *         trustedRoot: corp-ca
 *         tlog: optional            # Rekor entry (default required)
 *         ctlog: optional           # SCT in the certificate (default required)
 *         signingTime: [timestampAuthority, certificateValidity]  # default [tlog, timestampAuthority]
 *     - name: break-glass
 *       static: pass              # or fail: an explicit, logged exception
 *   signedIdentity:               # which repository a cosign v2 signature must name (signed-identity.ts)
 *     type: remapIdentity         # matchRepository (default), exactRepository, remapIdentity, matchDigest
 *     prefix: mirror.internal:5000/models
 *     signedPrefix: ghcr.io/acme
 * ```
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import { nonEmptyString, patternString, stringEnum, strictObject, withCheck } from '../core/schema.ts';
import { patternProblem } from './identity.ts';
import type { IdentityMatcher } from './identity.ts';
import { keyProblem } from './keys.ts';
import { SIGNED_IDENTITY_TYPES, prefixProblem, repositoryProblem } from './signed-identity.ts';
import type { SignedIdentity } from './signed-identity.ts';

export type { IdentityMatcher } from './identity.ts';
export type { SignedIdentity } from './signed-identity.ts';
export type { TrustedRootSetting } from './trust.ts';

export const MAX_AUTHORITIES = 32;

export const TLOG_REQUIREMENTS = ['required', 'optional'] as const;
/** Whether a key-based signature needs a transparency-log entry. */
export type TlogRequirement = (typeof TLOG_REQUIREMENTS)[number];

export const CTLOG_REQUIREMENTS = ['required', 'optional'] as const;
/** Whether a keyless certificate needs an embedded SCT from a CT log of the trusted root. */
export type CtlogRequirement = (typeof CTLOG_REQUIREMENTS)[number];

/**
 * Where a keyless signature's signing time may come from, to check the certificate against:
 * a verified Rekor entry's integrated time (`tlog`), an RFC 3161 timestamp from a timestamp
 * authority of the trusted root (`timestampAuthority`), or, only when chosen, no proof at all:
 * the certificate must be valid now (`certificateValidity`).
 */
export const SIGNING_TIME_SOURCES = ['tlog', 'timestampAuthority', 'certificateValidity'] as const;
export type SigningTimeSource = (typeof SIGNING_TIME_SOURCES)[number];
export const DEFAULT_SIGNING_TIME: readonly SigningTimeSource[] = ['tlog', 'timestampAuthority'];

/** A trusted root's name: the Config's `spec.trustedRoots[].name`, or public-good. */
export const rootNameSchema = patternString(/^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, 'must be a lowercase DNS label such as public-good or corp-sigstore');

const regExp = (description: string) => withCheck(Type.String({ description }), patternProblem);

export const identitySchema = strictObject(
  {
    issuer: Type.Optional(nonEmptyString({ description: 'the OIDC issuer, exactly' })),
    issuerRegExp: Type.Optional(regExp('an RE2 pattern over the OIDC issuer, anchored at the start')),
    subject: Type.Optional(nonEmptyString({ description: 'the certificate subject (URI or e-mail), exactly' })),
    subjectRegExp: Type.Optional(regExp('an RE2 pattern over the certificate subject, anchored at the start')),
  },
  { description: 'one accepted signer: issuer or issuerRegExp, and subject or subjectRegExp' },
);

export const authoritySchema = strictObject(
  {
    name: patternString(
      /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
      'must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    ),
    key: Type.Optional(withCheck(Type.String({ description: 'PEM public key: ECDSA P-256/P-384/P-521, Ed25519, RSA >= 2048' }), keyProblem)),
    tlog: Type.Optional(stringEnum(TLOG_REQUIREMENTS, { description: 'key authorities: whether a transparency-log entry is required (default required)' })),
    trustedRoot: Type.Optional(rootNameSchema),
    keyless: Type.Optional(
      strictObject({
        identities: Type.Array(identitySchema, { minItems: 1 }),
        trustedRoot: Type.Optional(rootNameSchema),
        tlog: Type.Optional(stringEnum(TLOG_REQUIREMENTS, { description: 'whether a Rekor entry of the trusted root is required (default required)' })),
        ctlog: Type.Optional(
          stringEnum(CTLOG_REQUIREMENTS, { description: 'whether the certificate must carry an SCT from a CT log of the trusted root (default required)' }),
        ),
        signingTime: Type.Optional(
          Type.Union([stringEnum(SIGNING_TIME_SOURCES), Type.Array(stringEnum(SIGNING_TIME_SOURCES), { minItems: 1, maxItems: SIGNING_TIME_SOURCES.length })], {
            description: 'accepted sources of the signing time: tlog, timestampAuthority, certificateValidity (default [tlog, timestampAuthority])',
          }),
        ),
      }),
    ),
    static: Type.Optional(stringEnum(['pass', 'fail'], { description: 'an explicit, logged exception' })),
  },
  { description: 'exactly one of key, keyless or static' },
);

/** `spec.signatures.signedIdentity`, as containers-policy.json(5) names it; policy-checks.ts says which fields go with which type. */
export const signedIdentitySchema = strictObject(
  {
    type: stringEnum(SIGNED_IDENTITY_TYPES, {
      description:
        'matchRepository (default): the signature names the pulled repository; exactRepository: it names `repository`; remapIdentity: the pulled repository with `prefix` replaced by `signedPrefix`; matchDigest: the digest alone, any repository',
    }),
    repository: Type.Optional(
      withCheck(
        Type.String({ maxLength: 512, description: 'exactRepository: the repository the signatures name, e.g. ghcr.io/acme/model' }),
        repositoryProblem,
      ),
    ),
    prefix: Type.Optional(
      withCheck(
        Type.String({ maxLength: 512, description: 'remapIdentity: host[:port][/path] of the pulled repositories, e.g. mirror.internal:5000/models' }),
        prefixProblem,
      ),
    ),
    signedPrefix: Type.Optional(
      withCheck(Type.String({ maxLength: 512, description: 'remapIdentity: host[:port][/path] that replaces prefix, e.g. ghcr.io/acme' }), prefixProblem),
    ),
  },
  { description: 'which repository a signature that names one (cosign v2 simple signing) must name; the digest must always match' },
);

/** `spec.signatures`; policy-checks.ts adds the rules across fields. */
export const signaturesSchema = strictObject(
  {
    threshold: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_AUTHORITIES, description: 'distinct authorities that must pass (default 1)' })),
    authorities: Type.Array(authoritySchema, { minItems: 1 }),
    signedIdentity: Type.Optional(signedIdentitySchema),
  },
  { description: 'who must have signed the artifact' },
);

export type SignaturesSection = Static<typeof signaturesSchema>;
export type AuthoritySection = Static<typeof authoritySchema>;
export type IdentitySection = Static<typeof identitySchema>;
export type SignedIdentitySection = Static<typeof signedIdentitySchema>;

/** `spec.signatureDiscovery` of the Config: bounds of the registry reads. */
export const discoveryLimitsSchema = strictObject({
  maxCandidates: Type.Optional(Type.Integer({ minimum: 1, maximum: 128, description: 'most signatures read per artifact (default 16)' })),
  maxBlobKiB: Type.Optional(Type.Integer({ minimum: 4, maximum: 4096, description: 'size limit of each signature blob and manifest, in KiB (default 256)' })),
});
export type DiscoverySection = Static<typeof discoveryLimitsSchema>;

// The verifier's form.

export interface KeyAuthority {
  readonly kind: 'key';
  readonly name: string;
  /** PEM public key. */
  readonly key: string;
  readonly tlog: TlogRequirement;
  /** The trusted root whose transparency logs (and timestamp authorities) check tlog entries. */
  readonly trustedRoot: string;
}

export interface KeylessAuthority {
  readonly kind: 'keyless';
  readonly name: string;
  /** Accepted signers; one must match. */
  readonly identities: readonly IdentityMatcher[];
  /** Name of the trusted root (Fulcio CAs, CT logs, Rekor) the certificate must chain to. */
  readonly trustedRoot: string;
  /** A verified Rekor entry is required. */
  readonly tlog: TlogRequirement;
  /** A verified embedded SCT is required. */
  readonly ctlog: CtlogRequirement;
  /** Accepted sources of the signing time, in a fixed order (SIGNING_TIME_SOURCES). */
  readonly signingTime: readonly SigningTimeSource[];
}

export interface StaticAuthority {
  readonly kind: 'static';
  readonly name: string;
  readonly result: 'pass' | 'fail';
}

export type Authority = KeyAuthority | KeylessAuthority | StaticAuthority;

export interface SignaturePolicy {
  /** Distinct authorities that must pass (1 ≤ threshold ≤ authorities). */
  readonly threshold: number;
  readonly authorities: readonly Authority[];
  /** Which repository a signature that names one must name (matchRepository unless the policy says otherwise). */
  readonly signedIdentity: SignedIdentity;
}

/** Bounds of signature discovery. */
export interface DiscoveryLimits {
  /** Most signatures read per artifact: referrer bundles and legacy signature layers together. */
  readonly maxCandidates: number;
  /** Size limit of each bundle or payload blob and of each signature manifest. */
  readonly maxBlobBytes: number;
}

export const DEFAULT_DISCOVERY_LIMITS: DiscoveryLimits = { maxCandidates: 16, maxBlobBytes: 256 * 1024 };
