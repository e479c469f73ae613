/**
 * The OMS signatures of an artifact against the authorities of `spec.modelSignature`: which
 * signature each authority verifies (the signature and its evidence, verify.ts and keyless.ts,
 * exactly as for cosign bundles). What the verified statements say about the files is judged
 * against the manifest afterwards (oms-mapping.ts), per policy, from this result.
 */
import { detach } from '../core/detach.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { errorMessage } from './errors.ts';
import { discoverModelSignatures } from './oms-discover.ts';
import type { OmsCandidate, OmsDiscoveryInput } from './oms-discover.ts';
import type { ModelSignaturePolicy } from './oms-policy.ts';
import type { OmsStatement } from './oms-statement.ts';
import type { Authority, DiscoveryLimits } from './policy-schema.ts';
import type { TrustedRoots } from './trust.ts';
import { verifyBundleWith } from './verify.ts';

/** A signature found, as the result keeps it: the statement (once verified by some authority) or why it could not be read. */
export interface OmsSignature {
  readonly source: string;
  readonly location: 'referrer' | 'layer';
  readonly statement: OmsStatement | undefined;
  readonly error: string | undefined;
}

export interface OmsAuthorityOutcome {
  readonly name: string;
  readonly kind: Authority['kind'];
  /** A static authority's result; undefined for key and keyless ones. */
  readonly static: 'pass' | 'fail' | undefined;
  /** Indices (into signatures) of the signatures this authority verified. */
  readonly verified: readonly number[];
  /** Why no signature verified, one reason per signature (empty when one did). */
  readonly failures: readonly string[];
}

export interface OmsVerification {
  readonly signatures: readonly OmsSignature[];
  readonly authorities: readonly OmsAuthorityOutcome[];
  readonly truncated: boolean;
  /** Bundle referrers of other predicates (cosign signatures) that were left out. */
  readonly otherBundles: number;
  readonly problems: readonly string[];
  /** No registry problem may have hidden a signature. */
  readonly complete: boolean;
}

export interface VerifyModelSignaturesInput {
  readonly policy: ModelSignaturePolicy;
  readonly registry: Registry;
  readonly locator: RepositoryLocator;
  readonly digest: string;
  readonly deadline: number;
  readonly trustedRoots: TrustedRoots;
  readonly limits: DiscoveryLimits;
  readonly signatureLayer: OmsDiscoveryInput['signatureLayer'];
}

function outcomeOf(authority: Authority, candidates: readonly OmsCandidate[], roots: TrustedRoots): OmsAuthorityOutcome {
  const base = { name: authority.name, kind: authority.kind };
  if (authority.kind === 'static') return { ...base, static: authority.result, verified: [], failures: [] };
  const verified: number[] = [];
  const failures: string[] = [];
  candidates.forEach((candidate, index) => {
    if (candidate.parsed === undefined) {
      failures.push(`${candidate.source}: ${errorMessage(candidate.error ?? 'unreadable', 200)}`);
      return;
    }
    try {
      const check = verifyBundleWith(authority, candidate.parsed, roots);
      if (check.ok) verified.push(index);
      else failures.push(`${candidate.source}: ${check.reason}`);
    } catch (error) {
      // Anything unforeseen in a signature fails that signature, never the admission.
      failures.push(`${candidate.source}: verification failed: ${errorMessage(error, 160)}`);
    }
  });
  return { ...base, static: undefined, verified, failures: verified.length > 0 ? [] : failures };
}

/** Finds the OMS signatures and checks each against every authority. Never throws for signature problems. */
export async function verifyModelSignatures(input: VerifyModelSignaturesInput): Promise<OmsVerification> {
  const { policy } = input;
  const needsRegistry = policy.authorities.some((authority) => authority.kind !== 'static');
  const discovery = needsRegistry
    ? await discoverModelSignatures({ ...input, location: policy.location })
    : { candidates: [], truncated: false, problems: [], otherBundles: 0 };
  const authorities = policy.authorities.map((authority) => outcomeOf(authority, discovery.candidates, input.trustedRoots));
  const trusted = new Set(authorities.flatMap((outcome) => outcome.verified));
  return {
    // Only a statement some authority vouches for is kept: the rest is an unverified claim.
    signatures: discovery.candidates.map((candidate, index) => ({
      source: detach(candidate.source),
      location: candidate.location,
      statement: trusted.has(index) ? candidate.statement : undefined,
      error: candidate.error === undefined ? undefined : detach(errorMessage(candidate.error, 240)),
    })),
    authorities: authorities.map((outcome) => ({ ...outcome, failures: outcome.failures.map((failure) => detach(failure)) })),
    truncated: discovery.truncated,
    otherBundles: discovery.otherBundles,
    problems: discovery.problems.map((problem) => detach(problem.message)),
    complete: discovery.problems.length === 0,
  };
}
