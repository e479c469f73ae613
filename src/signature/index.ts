/**
 * Signature verification of model artifacts (ModelPolicy `spec.signatures`): the API the
 * engine plugs in. See verify.ts for what is checked, policy.ts for the documents.
 */
export type {
  Authority,
  DiscoveryLimits,
  KeyAuthority,
  KeylessAuthority,
  SignaturePolicy,
  StaticAuthority,
  TlogRequirement,
  TrustedRootSetting,
} from './policy.ts';
export {
  DEFAULT_DISCOVERY_LIMITS,
  checkSignatures,
  checkTrustedRoots,
  discoveryLimitsSchema,
  signatureCacheKey,
  signaturesSchema,
  toDiscoveryLimits,
  toSignaturePolicy,
  toTrustedRootSettings,
  trustedRootsSchema,
  unknownTrustedRoots,
} from './policy.ts';
export type { IdentityMatcher } from './identity.ts';
export { PUBLIC_GOOD, TrustedRoots } from './trust.ts';
export type { AuthorityOutcome, SignatureResult, VerifySignaturesInput } from './verify.ts';
export { verifySignatures } from './verify.ts';
export { SIGNATURES_RULE, signatureFinding } from './finding.ts';
export { BindingError, IdentityError, KeyError, SignatureFormatError, TrustRootError } from './errors.ts';
