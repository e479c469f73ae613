/**
 * verifySignatures: finds an artifact's signatures (sigstore bundles and legacy cosign
 * signatures, see discover.ts) and checks them against each authority of a policy with
 * @sigstore/verify, offline. The result lists every authority's outcome, whether the
 * threshold was met and a short summary for denial messages.
 *
 * Per signature and authority, in this order:
 * 1. binding (binding.ts): the payload signs the admitted digest (and, for simple signing, names
 *    the repository signedIdentity requires; a signature that verifies but names another
 *    repository is reported as such, so the denial can point at mirrors);
 * 2. key authorities: the signature verifies with the authority's key; its transparency-log
 *    entries (Rekor SET or inclusion proof against the trusted root's logs) must verify unless
 *    `tlog: optional`, in which case the signature alone suffices;
 * 3. keyless authorities (keyless.ts): the certificate chains to a CA of the trusted root at the
 *    time the transparency log (SET) or a timestamp authority vouches for, carries a valid
 *    embedded SCT from a trusted CT log, is for code signing, the Rekor entry verifies, and
 *    its OIDC issuer and subject match one of the authority's identities; `tlog`, `ctlog` and
 *    `signingTime` relax the evidence for private CAs, only when chosen.
 */
import { dsse } from '@sigstore/core';
import type { Bundle } from '@sigstore/bundle';
import { HashAlgorithm } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import type { SignedEntity, TrustMaterial } from '@sigstore/verify';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { assertBinding, normalizedRepository } from './binding.ts';
import type { ParsedBundle } from './bundle.ts';
import { discoverSignatures } from './discover.ts';
import type { Candidate, Discovery } from './discover.ts';
import { BindingError, errorMessage } from './errors.ts';
import { verifyKeyless } from './keyless.ts';
import { parseAuthorityKey, verifyWithKey } from './keys.ts';
import type { AuthorityKey } from './keys.ts';
import { DEFAULT_DISCOVERY_LIMITS } from './policy-schema.ts';
import type { Authority, DiscoveryLimits, KeyAuthority, KeylessAuthority, SignaturePolicy } from './policy-schema.ts';
import type { TrustedRoots } from './trust.ts';

export interface VerifySignaturesInput {
  readonly policy: SignaturePolicy;
  readonly registry: Registry;
  readonly locator: RepositoryLocator;
  /** The admitted digest (`sha256:…`). */
  readonly digest: string;
  /** Date.now() by which all registry work must be over. */
  readonly deadline: number;
  readonly trustedRoots: TrustedRoots;
  /** Bounds of discovery (DEFAULT_DISCOVERY_LIMITS when absent). */
  readonly limits?: DiscoveryLimits;
}

/** A signature that verified but names another repository than signedIdentity requires: a mirror, most likely. */
export interface RepositoryMismatch {
  /** The pulled repository (`registry/repository`). */
  readonly pulled: string;
  /** The repository the signature names, normalised. */
  readonly signed: string;
}

export interface AuthorityOutcome {
  readonly name: string;
  readonly kind: Authority['kind'];
  readonly passed: boolean;
  /** Why it passed (which signature, how) or why every signature failed it. */
  readonly reason: string;
  /** The signature that passed it (`bundle sha256:…`, `sha256-….sig layer 1`). */
  readonly signature: string | undefined;
  /** Set when it failed and a signature would have passed it but for the repository it names. */
  readonly repositoryMismatch?: RepositoryMismatch;
}

export interface SignatureResult {
  /** The threshold was met. */
  readonly passed: boolean;
  readonly threshold: number;
  readonly passedCount: number;
  readonly authorities: readonly AuthorityOutcome[];
  /** Signatures read (parsed or not). */
  readonly signatures: number;
  /** More signatures existed than the discovery limits let be read. */
  readonly truncated: boolean;
  /** Registry problems met while looking for signatures. */
  readonly problems: readonly string[];
  /**
   * False when a registry problem may have hidden a signature: a failed result is then a
   * "could not check" (the policy's onError applies) rather than a verdict.
   */
  readonly complete: boolean;
  /**
   * Whether the result may be cached: not when a registry problem hid signatures (the registry
   * may recover; credentials may differ from one pod's pull secrets to another's).
   */
  readonly cacheable: boolean;
  /** A few lines: the verdict, then one line per authority. */
  readonly summary: string;
  /** The first failed authority's repository mismatch: the denial's Fix is then about mirrors, not keys. */
  readonly repositoryMismatch?: RepositoryMismatch;
}

export type Check =
  | { readonly ok: true; readonly detail: string }
  | { readonly ok: false; readonly reason: string; readonly mismatch?: RepositoryMismatch | undefined };

const HASH_NAMES: Readonly<Partial<Record<HashAlgorithm, string>>> = {
  [HashAlgorithm.SHA2_256]: 'sha256',
  [HashAlgorithm.SHA2_384]: 'sha384',
  [HashAlgorithm.SHA2_512]: 'sha512',
};

const EMPTY_MATERIAL: Omit<TrustMaterial, 'publicKey'> = { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] };

/** The data a signature is over: the DSSE pre-authentication encoding or the message. */
function signedData(parsed: ParsedBundle): { readonly data: Buffer | undefined; readonly hash: string | undefined } {
  const { content } = parsed.bundle;
  if (content.$case === 'dsseEnvelope') return { data: dsse.preAuthEncoding(content.dsseEnvelope.payloadType, content.dsseEnvelope.payload), hash: undefined };
  return { data: parsed.artifact, hash: HASH_NAMES[content.messageSignature.messageDigest.algorithm] };
}

/** The bundle with its verification material replaced by a bare key hint: a key authority ignores certificates. */
function asKeyBundle(bundle: Bundle): Bundle {
  return { ...bundle, verificationMaterial: { ...bundle.verificationMaterial, content: { $case: 'publicKey', publicKey: { hint: '' } } } };
}

/** sigstore's signed entity, with the signature checked against the authority's key by keys.ts (hash per key type). */
function keyEntity(parsed: ParsedBundle, key: AuthorityKey): SignedEntity {
  const entity = toSignedEntity(asKeyBundle(parsed.bundle), parsed.artifact);
  const base = entity.signature;
  const { data, hash } = signedData(parsed);
  const signature = base.signature;
  return {
    ...entity,
    signature: {
      signature,
      compareSignature: (other) => base.compareSignature(other),
      compareDigest: (digest) => base.compareDigest(digest),
      compareSignedDigest: (digest) => base.compareSignedDigest(digest),
      verifySignature: () => data !== undefined && verifyWithKey(key, data, signature, hash),
    },
  };
}

function sigstoreReason(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message = errorMessage(error, 200);
  const cause = (error as { cause?: unknown }).cause;
  const because = cause instanceof Error && cause.message !== '' && cause.message !== message ? ` (${errorMessage(cause, 120)})` : '';
  return typeof code === 'string' ? `${message}${because}` : message;
}

/** One bundle against one key or keyless authority (the signature and its evidence; not what it binds to): OMS signatures (oms-verify.ts). */
export function verifyBundleWith(authority: KeyAuthority | KeylessAuthority, parsed: ParsedBundle, roots: TrustedRoots): Check {
  return authority.kind === 'key' ? verifyKey(authority, parsed, roots) : verifyKeyless(authority, parsed, roots);
}

function verifyKey(authority: KeyAuthority, parsed: ParsedBundle, roots: TrustedRoots): Check {
  let key: AuthorityKey;
  try {
    key = parseAuthorityKey(authority.key);
  } catch (error) {
    return { ok: false, reason: `the authority's key ${errorMessage(error)}` };
  }
  const entries = parsed.bundle.verificationMaterial.tlogEntries.length;
  const publicKey = () => ({ publicKey: key.key, validFor: () => true });
  const relaxed = (note: string): Check => {
    const entity = { ...keyEntity(parsed, key), tlogEntries: [], timestamps: [] };
    try {
      new Verifier({ ...EMPTY_MATERIAL, publicKey }, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
      return { ok: true, detail: `verified with the key; ${note} (tlog: optional)` };
    } catch (error) {
      return { ok: false, reason: signatureFailure(error, authority) };
    }
  };
  if (entries === 0) {
    if (authority.tlog === 'optional') return relaxed('no transparency-log entry');
    // Still check the signature, so the message says which of the two is wrong.
    const check = relaxed('');
    return check.ok
      ? {
          ok: false,
          reason: 'the signature verifies with the key but has no transparency-log entry (set tlog: optional to accept key-based signatures without one)',
        }
      : check;
  }
  let material: TrustMaterial;
  try {
    material = { ...roots.get(authority.trustedRoot).material, publicKey };
  } catch (error) {
    return authority.tlog === 'optional'
      ? relaxed(`transparency-log entry not checked: ${errorMessage(error, 120)}`)
      : { ok: false, reason: errorMessage(error) };
  }
  try {
    // A key has no validity period: the log's inclusion (SET or proof) matters, not a signing time.
    new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }).verify(keyEntity(parsed, key));
    return { ok: true, detail: `verified with the key and its transparency-log entry (${authority.trustedRoot})` };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'SIGNATURE_ERROR' || code === 'PUBLIC_KEY_ERROR') return { ok: false, reason: signatureFailure(error, authority) };
    if (authority.tlog === 'optional') return relaxed(`transparency-log entry ignored: ${sigstoreReason(error)}`);
    // The tlog failed: say so, but first whether the signature itself is good.
    const check = relaxed('');
    return check.ok
      ? { ok: false, reason: `its transparency-log entry does not verify against trusted root ${authority.trustedRoot}: ${sigstoreReason(error)}` }
      : check;
  }
}

function signatureFailure(error: unknown, authority: KeyAuthority): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'SIGNATURE_ERROR') return `the signature does not verify with ${authority.name}'s key (another signer, or a changed payload)`;
  return sigstoreReason(error);
}

function checkCandidate(
  authority: KeyAuthority | KeylessAuthority,
  candidate: Candidate,
  input: VerifySignaturesInput,
  bindings: Map<Candidate, Check>,
): Check {
  if (candidate.parsed === undefined) return { ok: false, reason: errorMessage(candidate.error ?? 'unreadable', 200) };
  let binding = bindings.get(candidate);
  if (binding === undefined) {
    binding = bindingCheck(candidate.parsed, input);
    bindings.set(candidate, binding);
  }
  if (!binding.ok && binding.mismatch === undefined) return binding;
  const check =
    authority.kind === 'key' ? verifyKey(authority, candidate.parsed, input.trustedRoots) : verifyKeyless(authority, candidate.parsed, input.trustedRoots);
  // Only the repository stands in the way of a signature that verifies: say so (a mirror?); else what fails first.
  return binding.ok || !check.ok ? check : binding;
}

/** The binding of a signature to the admitted digest and the repository signedIdentity requires. */
function bindingCheck(parsed: ParsedBundle, input: VerifySignaturesInput): Check {
  try {
    assertBinding(parsed.claims, input.digest, input.locator, input.policy.signedIdentity);
    return { ok: true, detail: '' };
  } catch (error) {
    const reason = errorMessage(error);
    if (!(error instanceof BindingError) || error.code !== 'REPOSITORY_MISMATCH') return { ok: false, reason };
    const pulled = normalizedRepository(`${input.locator.registry}/${input.locator.repository}`);
    const signed = parsed.claims.dockerReference === undefined ? undefined : normalizedRepository(parsed.claims.dockerReference);
    return { ok: false, reason, mismatch: pulled === undefined || signed === undefined ? undefined : { pulled, signed } };
  }
}

/** "none of 3 signatures verified: a: reason; b and 1 more: reason": identical reasons grouped, at most 3 groups. */
function failureSummary(failures: readonly { readonly source: string; readonly reason: string; readonly readable: boolean }[], discovery: Discovery): string {
  if (failures.length === 0) {
    const where =
      discovery.problems.length > 0
        ? ' (the registry could not be read fully, see below)'
        : ' (no sigstore bundle referrer, no cosign signature referrer, no cosign signature tag)';
    return `no signature found${where}`;
  }
  const groups = new Map<string, string[]>();
  // Signatures that could be read say more about what is wrong than unreadable ones: they come first.
  const ordered = [...failures.filter((failure) => failure.readable), ...failures.filter((failure) => !failure.readable)];
  for (const failure of ordered) {
    const sources = groups.get(failure.reason) ?? [];
    sources.push(failure.source);
    groups.set(failure.reason, sources);
  }
  const parts = [...groups].slice(0, 3).map(([reason, sources]) => `${sources[0]}${sources.length > 1 ? ` and ${sources.length - 1} more` : ''}: ${reason}`);
  const more = groups.size > 3 ? `; and ${groups.size - 3} other reason(s)` : '';
  const noun = failures.length === 1 ? 'the only signature found did not verify' : `none of ${failures.length} signatures verified`;
  return `${noun}: ${parts.join('; ')}${more}`;
}

function evaluateAuthority(authority: Authority, discovery: Discovery, input: VerifySignaturesInput, bindings: Map<Candidate, Check>): AuthorityOutcome {
  if (authority.kind === 'static') {
    return authority.result === 'pass'
      ? { name: authority.name, kind: 'static', passed: true, reason: 'static pass: an explicit exception, no signature checked', signature: undefined }
      : { name: authority.name, kind: 'static', passed: false, reason: 'static fail', signature: undefined };
  }
  const failures: { source: string; reason: string; readable: boolean }[] = [];
  let repositoryMismatch: RepositoryMismatch | undefined;
  for (const candidate of discovery.candidates) {
    let check: Check;
    try {
      check = checkCandidate(authority, candidate, input, bindings);
    } catch (error) {
      // Anything unforeseen in a signature fails that signature, never the admission.
      check = { ok: false, reason: `verification failed: ${errorMessage(error, 160)}` };
    }
    if (check.ok)
      return { name: authority.name, kind: authority.kind, passed: true, reason: `${candidate.source}: ${check.detail}`, signature: candidate.source };
    failures.push({ source: candidate.source, reason: check.reason, readable: candidate.parsed !== undefined });
    repositoryMismatch ??= check.mismatch;
  }
  const outcome = { name: authority.name, kind: authority.kind, passed: false, reason: failureSummary(failures, discovery), signature: undefined };
  return repositoryMismatch === undefined ? outcome : { ...outcome, repositoryMismatch };
}

const EMPTY_DISCOVERY: Discovery = { candidates: [], truncated: false, problems: [], referrersSource: undefined };

function summarize(result: Omit<SignatureResult, 'summary'>): string {
  const met = result.passed ? 'met' : 'not met';
  const lines = [
    `signatures: ${result.passedCount} of ${result.authorities.length} authorit${result.authorities.length === 1 ? 'y' : 'ies'} passed, threshold ${result.threshold} ${met}`,
  ];
  for (const outcome of result.authorities) lines.push(`- ${outcome.name} (${outcome.kind}): ${outcome.passed ? 'passed' : 'failed'}: ${outcome.reason}`);
  if (result.truncated) lines.push('- note: more signatures exist than were read (discovery limit); the unread ones were not considered');
  for (const problem of result.problems.slice(0, 2)) lines.push(`- registry: ${problem}`);
  return lines.join('\n');
}

/** Verifies the admitted digest's signatures against the policy's authorities. Never throws for signature problems. */
export async function verifySignatures(input: VerifySignaturesInput): Promise<SignatureResult> {
  const { policy } = input;
  const limits = input.limits ?? DEFAULT_DISCOVERY_LIMITS;
  const needsRegistry = policy.authorities.some((authority) => authority.kind !== 'static');
  const discovery = needsRegistry
    ? await discoverSignatures({ registry: input.registry, locator: input.locator, digest: input.digest, deadline: input.deadline, limits })
    : EMPTY_DISCOVERY;
  const bindings = new Map<Candidate, Check>();
  const authorities = policy.authorities.map((authority) => evaluateAuthority(authority, discovery, input, bindings));
  const passedCount = authorities.filter((outcome) => outcome.passed).length;
  const repositoryMismatch = authorities.find((outcome) => !outcome.passed && outcome.repositoryMismatch !== undefined)?.repositoryMismatch;
  const result = {
    passed: passedCount >= policy.threshold,
    threshold: policy.threshold,
    passedCount,
    authorities,
    signatures: discovery.candidates.length,
    truncated: discovery.truncated,
    problems: discovery.problems.map((problem) => problem.message),
    complete: discovery.problems.length === 0,
    cacheable: discovery.problems.length === 0,
    ...(repositoryMismatch === undefined ? {} : { repositoryMismatch }),
  };
  return { ...result, summary: summarize(result) };
}

/**
 * One authority's verdict on one bundle's signature and evidence, without the binding (an
 * attestation binds by its statement's subject, attestation/verify.ts).
 */
export function verifyBundleSignature(
  authority: KeyAuthority | KeylessAuthority,
  parsed: ParsedBundle,
  roots: TrustedRoots,
): { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly reason: string } {
  const check = authority.kind === 'key' ? verifyKey(authority, parsed, roots) : verifyKeyless(authority, parsed, roots);
  return check.ok ? { ok: true, detail: check.detail } : { ok: false, reason: check.reason };
}
