/**
 * Attestations (`spec.attestations`, attestation/): each matching policy's attestations read and
 * verified once per digest through the engine's cached verifier, then, per review, each
 * requirement's conditions evaluated over the statements that verified, for the object under
 * review. One result per requirement, in the policy's order.
 */
import { DEFAULT_CONDITION_BUDGETS, judgeConditions } from '../../attestation/conditions.ts';
import { ATTESTATIONS_RULE, attestationFinding, passedReason } from '../../attestation/finding.ts';
import type { AttestationPolicy } from '../../attestation/policy-schema.ts';
import type { AttestationResult } from '../../attestation/verify.ts';
import { failedResult, ruleResult } from '../result.ts';
import type { RuleResult } from '../result.ts';
import type { FetchingCheckKind } from './kind.ts';
import { VerificationFailure, resultsPerConfig } from './per-config.ts';
import { failedCheck } from './unchecked.ts';

const CHECK = ATTESTATIONS_RULE;
const RULES: readonly string[] = [CHECK];

/** Each policy's verification result, by its attestation policy. */
export type AttestationFacts = ReadonlyMap<AttestationPolicy, AttestationResult | VerificationFailure>;

export const attestationCheck: FetchingCheckKind<AttestationPolicy, AttestationFacts> = {
  name: CHECK,
  title: 'attestations',
  rules: RULES,
  needsDigest: true,
  configOf: (policy) => policy.attestations,
  needsRegistry: () => true,
  rulesOf: () => RULES,
  fetch(target, configs, sources) {
    const source = sources.attestations;
    if (source === undefined) throw new Error('no registry access is configured');
    return resultsPerConfig(configs, (config) => source.verify(config, target.locator, target.digest, target.deadline));
  },
  judge(policy, config, facts, ref, object) {
    const outcome = facts.get(config);
    if (outcome === undefined || outcome instanceof VerificationFailure) return [failedCheck(policy, outcome?.error, CHECK)];
    const reference = { registry: ref.registry, repository: ref.repository, digest: ref.digest ?? '' };
    // What conditions read as `object`: the admitted object alone, not the review's budget.
    const admitted = { namespace: object.namespace, name: object.name, kind: object.kind };
    const results: RuleResult[] = [];
    // The result may have been cached for another policy with the same requirements but other conditions: judge with this policy's.
    for (const [index, requirement] of config.requirements.entries()) {
      const result = outcome.requirements[index];
      if (result === undefined) {
        results.push(failedCheck(policy, new Error(`no result for attestation ${requirement.name}`), CHECK));
        continue;
      }
      const verdict = judgeConditions(requirement, result, reference, admitted, DEFAULT_CONDITION_BUDGETS, object.conditionSpend);
      if (verdict.passed) {
        results.push(ruleResult(CHECK, policy.name, CHECK, 'pass', passedReason(result, verdict)));
        continue;
      }
      const incomplete = result.verified.length === 0 && !outcome.complete;
      results.push(failedResult(CHECK, attestationFinding(policy, outcome, result, verdict), incomplete ? 'error' : 'fail'));
    }
    return results;
  },
};
