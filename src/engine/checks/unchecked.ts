/**
 * Results of a check whose facts could not be had or were not read: the
 * check failed as a whole (it threw, or it needs a digest the reference lacks),
 * or it was not consulted; its rules are then reported as not checked.
 */
import { describeError, isContentProblem } from '../../core/errors.ts';
import type { ModelPolicy } from '../../policy/types.ts';
import { couldNotCheck } from '../../core/finding.ts';
import { failedResult, ruleResult } from '../result.ts';
import type { FailedResult, RuleResult } from '../result.ts';
import type { AnyCheckKind } from './kind.ts';

export const NO_DIGEST = 'the reference has no digest, so the registry is not consulted';
export const DENIED_ALREADY = 'the reference is denied by the rules above, so the registry is not consulted';

/**
 * A check that threw: content the registry served and that is wrong fails the
 * rule as the policy's mode says; anything else could not be checked, and
 * spec.onError decides.
 */
export function failedCheck(policy: ModelPolicy, error: unknown, check: string): FailedResult {
  const message = describeError(error);
  if (isContentProblem(error)) {
    return failedResult(check, {
      policy: policy.name,
      rule: check,
      mode: policy.mode,
      reason: `what the registry served was refused: ${message}`,
      fix: 'the registry must serve a well-formed, unambiguous OCI manifest whose bytes match the pinned digest; find out why it does not (a changed or compromised registry or proxy), then push the artifact again',
    });
  }
  return failedResult(check, couldNotCheck(policy, check, `the ${check} could not be checked: ${message}`), 'error');
}

/** A check that needs a digest on a reference without one, where the policy does not require digests (requireDigest would explain it). */
export function needsDigest(kind: AnyCheckKind, policy: ModelPolicy): FailedResult {
  return failedResult(kind.name, {
    policy: policy.name,
    rule: kind.name,
    mode: policy.mode,
    reason: `${kind.title} can only be checked on a digest-pinned reference`,
    fix: 'pin the reference by digest (@sha256:…)',
  });
}

/** The rules of a config as not checked; after a failure of the whole check, they point to it. */
export function notChecked(kind: AnyCheckKind, policy: ModelPolicy, config: unknown, reason: string, afterFailure = false): RuleResult[] {
  const rules = kind.rulesOf(config);
  const results: RuleResult[] = [];
  for (const rule of rules) {
    if (afterFailure && rule === kind.name) continue;
    results.push(ruleResult(kind.name, policy.name, rule, 'not-checked', afterFailure ? `see ${kind.name}` : reason));
  }
  return results;
}

/** A failure of the whole check, then its rules as not checked. */
export function checkFailed(kind: AnyCheckKind, policy: ModelPolicy, config: unknown, failure: FailedResult): RuleResult[] {
  return [failure, ...notChecked(kind, policy, config, '', true)];
}
