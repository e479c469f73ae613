/**
 * A SignatureResult as an engine Finding (rule `signatures`), with the same onError
 * semantics as the artifact rules: a verdict denies as the policy's mode says; a result that
 * a registry problem left incomplete is a "could not check", which spec.onError decides.
 * A pass that needed a static authority leaves an audit record: exceptions are logged.
 * A signature that verified but names another repository gets a Fix about mirrors.
 */
import { couldNotCheck } from '../core/finding.ts';
import type { Finding } from '../core/finding.ts';
import type { OnError, PolicyMode } from '../core/modes.ts';
import { suggestedRemap } from './signed-identity.ts';
import type { RepositoryMismatch, SignatureResult } from './verify.ts';

export interface SignaturePolicyContext {
  readonly name: string;
  readonly mode: PolicyMode;
  readonly onError: OnError;
}

export const SIGNATURES_RULE = 'signatures';

/** The finding for a result, or undefined when it passed without needing an exception. */
export function signatureFinding(policy: SignaturePolicyContext, result: SignatureResult): Finding | undefined {
  if (result.passed) {
    const exceptions = result.authorities.filter((outcome) => outcome.kind === 'static' && outcome.passed);
    const verified = result.passedCount - exceptions.length;
    if (exceptions.length === 0 || verified >= result.threshold) return undefined;
    return {
      policy: policy.name,
      rule: SIGNATURES_RULE,
      mode: 'audit',
      reason: `admitted by the static exception ${exceptions.map((outcome) => outcome.name).join(', ')}: only ${verified} of the ${result.threshold} required authorit${result.threshold === 1 ? 'y' : 'ies'} verified a signature\n${result.summary}`,
      fix: 'sign the artifact and remove the static: pass authority once it is no longer needed',
    };
  }
  if (!result.complete) {
    return couldNotCheck(policy, SIGNATURES_RULE, `the signatures could not be checked fully: ${result.problems[0] ?? 'registry problem'}\n${result.summary}`);
  }
  return {
    policy: policy.name,
    rule: SIGNATURES_RULE,
    mode: policy.mode,
    reason: `the artifact is not signed as spec.signatures requires\n${result.summary}`,
    fix:
      result.repositoryMismatch === undefined
        ? 'sign this digest (cosign sign --key … or keyless) with an authority the policy lists, or fix the policy’s keys and identities'
        : mirrorFix(result.repositoryMismatch),
  };
}

/** A signature verified but names another repository: most likely the artifact was copied to a mirror. */
function mirrorFix({ pulled, signed }: RepositoryMismatch): string {
  const { prefix, signedPrefix } = suggestedRemap(pulled, signed);
  return (
    `if ${pulled} is a mirror of ${signed}, set spec.signatures.signedIdentity to {type: remapIdentity, prefix: ${prefix}, signedPrefix: ${signedPrefix}} ` +
    `or {type: exactRepository, repository: ${signed}}; otherwise sign this digest for ${pulled}`
  );
}
