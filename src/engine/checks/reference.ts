/**
 * Reference rules (policy/rules.ts): requireDigest and registries, judged on
 * the parsed reference alone. Every policy has them; one that leaves a rule
 * off reports it skipped. Passing and skipped results depend on the policy
 * only, so they are made once per policy, not per review.
 */
import { allowedRegistry, requireDigest } from '../../policy/rules.ts';
import type { ReferenceRule } from '../../policy/rules.ts';
import type { ModelPolicy } from '../../policy/types.ts';
import type { ImageReference } from '../../reference/parse.ts';
import { failedResult, ruleResult } from '../result.ts';
import type { RuleResult } from '../result.ts';
import type { CheckKind } from './kind.ts';

const CHECK = 'reference';

interface Unfailed {
  readonly digest: RuleResult;
  readonly registries: RuleResult;
  readonly both: readonly RuleResult[];
}

const unfailedByPolicy = new WeakMap<ModelPolicy, Unfailed>();

function unfailed(policy: ModelPolicy): Unfailed {
  let results = unfailedByPolicy.get(policy);
  if (results === undefined) {
    const digest = policy.requireDigest
      ? ruleResult(CHECK, policy.name, 'requireDigest', 'pass', 'the reference carries a digest')
      : ruleResult(CHECK, policy.name, 'requireDigest', 'skipped', 'not required by this policy');
    const registries =
      policy.registries.length > 0
        ? ruleResult(CHECK, policy.name, 'registries', 'pass', `registry is one of ${policy.registries.join(', ')}`)
        : ruleResult(CHECK, policy.name, 'registries', 'skipped', 'any registry is allowed');
    results = { digest, registries, both: [digest, registries] };
    unfailedByPolicy.set(policy, results);
  }
  return results;
}

function judged(rule: ReferenceRule, policy: ModelPolicy, ref: ImageReference, otherwise: RuleResult): RuleResult {
  const finding = rule(policy, ref);
  return finding === undefined ? otherwise : failedResult(CHECK, finding);
}

export const referenceCheck: CheckKind<ModelPolicy, undefined> = {
  name: CHECK,
  title: 'reference rules',
  rules: ['requireDigest', 'registries'],
  needsDigest: false,
  configOf: (policy) => policy,
  needsRegistry: () => false,
  rulesOf: () => referenceCheck.rules,
  judge(policy, _config, _facts, ref) {
    const results = unfailed(policy);
    const digest = judged(requireDigest, policy, ref, results.digest);
    const registries = judged(allowedRegistry, policy, ref, results.registries);
    return digest === results.digest && registries === results.registries ? results.both : [digest, registries];
  },
};
