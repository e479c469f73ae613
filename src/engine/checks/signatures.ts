/**
 * Signatures (`spec.signatures`, signature/): each matching policy's
 * authorities verified against the pinned digest through the engine's cached
 * verifier, then judged by signature/finding.ts. A result admitted only by a
 * static exception fails in audit mode: the exception is recorded.
 */
import type { ModelPolicy } from '../../policy/types.ts';
import { signatureFinding } from '../../signature/finding.ts';
import type { SignaturePolicy } from '../../signature/policy-schema.ts';
import type { SignatureResult } from '../../signature/verify.ts';
import { failedResult, ruleResult } from '../result.ts';
import type { RuleResult } from '../result.ts';
import type { FetchingCheckKind } from './kind.ts';
import { VerificationFailure, resultsPerConfig } from './per-config.ts';
import { failedCheck } from './unchecked.ts';

const CHECK = 'signatures';
const RULES: readonly string[] = [CHECK];

export { VerificationFailure } from './per-config.ts';

/** Each policy's verification result, by its signature policy. */
export type SignatureFacts = ReadonlyMap<SignaturePolicy, SignatureResult | VerificationFailure>;

const passedByConfig = new WeakMap<SignaturePolicy, readonly RuleResult[]>();

function passed(policy: ModelPolicy, config: SignaturePolicy): readonly RuleResult[] {
  let results = passedByConfig.get(config);
  if (results === undefined) {
    const { threshold } = config;
    results = [ruleResult(CHECK, policy.name, CHECK, 'pass', `at least ${threshold} authorit${threshold === 1 ? 'y' : 'ies'} verified a signature`)];
    passedByConfig.set(config, results);
  }
  return results;
}

export const signatureCheck: FetchingCheckKind<SignaturePolicy, SignatureFacts> = {
  name: CHECK,
  title: 'signatures',
  rules: RULES,
  needsDigest: true,
  configOf: (policy) => policy.signatures,
  needsRegistry: () => true,
  rulesOf: () => RULES,
  fetch(target, configs, sources) {
    const source = sources.signatures;
    if (source === undefined) throw new Error('no registry access is configured');
    return resultsPerConfig(configs, (config) => source.verify(config, target.locator, target.digest, target.deadline));
  },
  judge(policy, config, facts) {
    const outcome = facts.get(config);
    if (outcome === undefined || outcome instanceof VerificationFailure) return [failedCheck(policy, outcome?.error, CHECK)];
    const finding = signatureFinding(policy, outcome);
    if (finding === undefined) return passed(policy, config);
    return [failedResult(CHECK, finding, !outcome.passed && !outcome.complete ? 'error' : 'fail')];
  },
};
