/**
 * verifyAttestations: the attestations of an admitted digest, judged against each requirement
 * of a policy, in this order for every attestation found:
 * 1. it could be read, and its envelope holds an in-toto statement;
 * 2. the statement's predicateType is the requirement's, exactly;
 * 3. a subject of the statement has the admitted digest;
 * 4. its envelope verifies with an authority of the requirement (signature/verify.ts: keys,
 *    keyless certificates, transparency-log evidence as the authority asks).
 * Only statements that pass all four are kept for the conditions (conditions.ts): a statement
 * that does not verify is never evaluated.
 */
import { shortDigest } from '../oci/digest.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { errorMessage } from '../signature/errors.ts';
import { DEFAULT_DISCOVERY_LIMITS } from '../signature/policy-schema.ts';
import type { DiscoveryLimits } from '../signature/policy-schema.ts';
import type { TrustedRoots } from '../signature/trust.ts';
import { verifyBundleSignature } from '../signature/verify.ts';
import { discoverAttestations } from './discover.ts';
import type { AttestationCandidate, AttestationDiscovery } from './discover.ts';
import type { AttestationPolicy, AttestationRequirement } from './policy-schema.ts';
import type { Statement } from './statement.ts';

/** What became of one attestation found, for one requirement (explain lists these). */
export interface AttestationFound {
  readonly source: string;
  /** The statement's predicateType; undefined when it could not be read. */
  readonly predicateType: string | undefined;
  /** The authorities its envelope verified with. */
  readonly verifiedBy: readonly string[];
  /** Why it does not count (unreadable, another predicate type or digest, no authority verified it); undefined when it verified. */
  readonly problem: string | undefined;
}

/** A statement that verified: the conditions read it. */
export interface VerifiedStatement {
  readonly source: string;
  readonly statement: Statement;
  readonly authorities: readonly string[];
}

/**
 * One requirement's attestations. It holds no conditions: a result is cached for every policy
 * whose requirement has the same predicate type and authorities (source.ts), and each judges it
 * with its own conditions (conditions.ts).
 */
export interface RequirementResult {
  readonly found: readonly AttestationFound[];
  readonly verified: readonly VerifiedStatement[];
  /** Static authorities that pass without an attestation (explicit exceptions). */
  readonly staticPasses: readonly string[];
}

export interface AttestationResult {
  /** In the order of the policy's requirements. */
  readonly requirements: readonly RequirementResult[];
  /** Attestations read (parsed or not). */
  readonly attestations: number;
  readonly truncated: boolean;
  readonly problems: readonly string[];
  /** False when a registry problem may have hidden an attestation. */
  readonly complete: boolean;
}

export interface VerifyAttestationsInput {
  readonly policy: AttestationPolicy;
  readonly registry: Registry;
  readonly locator: RepositoryLocator;
  readonly digest: string;
  readonly deadline: number;
  readonly trustedRoots: TrustedRoots;
  readonly limits?: DiscoveryLimits;
}

function judgeCandidate(candidate: AttestationCandidate, requirement: AttestationRequirement, digest: string, roots: TrustedRoots): AttestationFound {
  const { source, attestation } = candidate;
  if (attestation === undefined) {
    return { source, predicateType: undefined, verifiedBy: [], problem: `unreadable: ${errorMessage(candidate.error ?? 'unknown', 200)}` };
  }
  const { statement } = attestation;
  const found = (problem: string | undefined, verifiedBy: readonly string[] = []): AttestationFound => ({
    source,
    predicateType: statement.predicateType,
    verifiedBy,
    problem,
  });
  if (statement.predicateType !== requirement.predicateType) return found(`predicate type ${statement.predicateType}, not ${requirement.predicateType}`);
  if (!statement.digests.includes(digest))
    return found(`it is about ${statement.digests.map(shortDigest).join(', ')}, not the admitted ${shortDigest(digest)}`);
  const verifiedBy: string[] = [];
  const reasons: string[] = [];
  for (const authority of requirement.authorities) {
    if (authority.kind === 'static') continue;
    let check: ReturnType<typeof verifyBundleSignature>;
    try {
      check = verifyBundleSignature(authority, attestation.parsed, roots);
    } catch (error) {
      check = { ok: false, reason: `verification failed: ${errorMessage(error, 160)}` };
    }
    if (check.ok) verifiedBy.push(authority.name);
    else reasons.push(`${authority.name}: ${check.reason}`);
  }
  return verifiedBy.length > 0 ? found(undefined, verifiedBy) : found(`no authority verified it (${reasons.join('; ')})`);
}

function judgeRequirement(requirement: AttestationRequirement, discovery: AttestationDiscovery, digest: string, roots: TrustedRoots): RequirementResult {
  const found: AttestationFound[] = [];
  const verified: VerifiedStatement[] = [];
  for (const candidate of discovery.candidates) {
    const outcome = judgeCandidate(candidate, requirement, digest, roots);
    found.push(outcome);
    if (outcome.problem === undefined && candidate.attestation !== undefined) {
      verified.push({ source: candidate.source, statement: candidate.attestation.statement, authorities: outcome.verifiedBy });
    }
  }
  const staticPasses = requirement.authorities.flatMap((authority) => (authority.kind === 'static' && authority.result === 'pass' ? [authority.name] : []));
  return { found, verified, staticPasses };
}

const EMPTY: AttestationDiscovery = { candidates: [], truncated: false, problems: [] };

/** Reads the digest's attestations once and judges them for every requirement of the policy. Never throws for attestation problems. */
export async function verifyAttestations(input: VerifyAttestationsInput): Promise<AttestationResult> {
  const { policy, digest } = input;
  const wanted = new Set(policy.requirements.map((requirement) => requirement.predicateType));
  const needsRegistry = policy.requirements.some((requirement) => requirement.authorities.some((authority) => authority.kind !== 'static'));
  const discovery = needsRegistry
    ? await discoverAttestations(
        { registry: input.registry, locator: input.locator, digest, deadline: input.deadline, limits: input.limits ?? DEFAULT_DISCOVERY_LIMITS },
        wanted,
      )
    : EMPTY;
  return {
    requirements: policy.requirements.map((requirement) => judgeRequirement(requirement, discovery, digest, input.trustedRoots)),
    attestations: discovery.candidates.length,
    truncated: discovery.truncated,
    problems: discovery.problems.map((problem) => problem.message),
    complete: discovery.problems.length === 0,
  };
}
