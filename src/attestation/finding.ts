/**
 * One requirement's verdict as the text of a rule result: which attestations were found, which
 * verified, each condition's value (explain renders these lines as they are), and for a
 * failure the Finding with a Fix that says what to change. A requirement that a registry
 * problem may have left without its attestation is a "could not check": spec.onError decides.
 */
import { couldNotCheck } from '../core/finding.ts';
import type { Finding } from '../core/finding.ts';
import type { OnError, PolicyMode } from '../core/modes.ts';
import type { ConditionValue, RequirementVerdict } from './conditions.ts';
import type { AttestationResult, RequirementResult } from './verify.ts';

export const ATTESTATIONS_RULE = 'attestations';

export interface AttestationPolicyContext {
  readonly name: string;
  readonly mode: PolicyMode;
  readonly onError: OnError;
}

const MAX_LISTED = 8;

function conditionLine(condition: ConditionValue): string {
  const value = condition.error !== undefined ? `error: ${condition.error}` : String(condition.value);
  return `${condition.expression} → ${value}`;
}

/** The head every reason starts with, `attestation <name> (<predicateType>)`, as explain titles the lines under it. */
export function requirementTitle(reason: string): string {
  const head = reason.split('\n', 1)[0] ?? '';
  const end = head.indexOf('): ');
  return end === -1 ? head : head.slice(0, end + 1);
}

/** The lines under a verdict: one per attestation found, then its conditions. */
function detailLines(result: RequirementResult, verdict: RequirementVerdict): string[] {
  const lines: string[] = [];
  const evaluations = new Map(verdict.evaluations.map((evaluation) => [evaluation.source, evaluation]));
  for (const found of result.found.slice(0, MAX_LISTED)) {
    const type = found.predicateType ?? '(unreadable)';
    if (found.problem !== undefined) {
      lines.push(`- ${found.source} (${type}): not verified: ${found.problem}`);
      continue;
    }
    const evaluation = evaluations.get(found.source);
    lines.push(`- ${found.source} (${type}): verified by ${found.verifiedBy.join(', ')}`);
    for (const condition of evaluation?.conditions ?? []) lines.push(`  - ${conditionLine(condition)}`);
  }
  if (result.found.length > MAX_LISTED) lines.push(`- and ${result.found.length - MAX_LISTED} more attestation(s)`);
  for (const name of result.staticPasses) lines.push(`- ${name} (static): passes without an attestation (an explicit exception)`);
  return lines;
}

/** The reason of a passed requirement: what passed, with the facts under it. */
export function passedReason(result: RequirementResult, verdict: RequirementVerdict): string {
  const { name, predicateType, threshold } = verdict.requirement;
  const head = `attestation ${name} (${predicateType}): passed: ${verdict.passedAuthorities.length} of ${threshold} required authorit${threshold === 1 ? 'y' : 'ies'} satisfied (${verdict.passedAuthorities.join(', ')})`;
  return [head, ...detailLines(result, verdict)].join('\n');
}

/** The finding of a requirement that did not pass. */
export function attestationFinding(
  policy: AttestationPolicyContext,
  outcome: AttestationResult,
  result: RequirementResult,
  verdict: RequirementVerdict,
): Finding {
  const { name, predicateType, threshold } = verdict.requirement;
  const details = detailLines(result, verdict);
  if (result.found.length === 0) details.push('- no attestation found (no sigstore bundle referrer, no cosign .att tag) of this predicate type');
  if (outcome.truncated) details.push('- note: more attestations exist than were read (discovery limit)');
  for (const problem of outcome.problems.slice(0, 2)) details.push(`- registry: ${problem}`);
  const failing = verdict.evaluations.flatMap((evaluation) => evaluation.conditions.filter((condition) => condition.value !== true));
  const failed = [...new Map(failing.map((condition) => [condition.expression, condition])).values()];
  if (result.verified.length === 0 && !outcome.complete) {
    return couldNotCheck(
      policy,
      ATTESTATIONS_RULE,
      [`attestation ${name} (${predicateType}): could not be checked fully: ${outcome.problems[0] ?? 'registry problem'}`, ...details].join('\n'),
    );
  }
  if (result.verified.length === 0) {
    return {
      policy: policy.name,
      rule: ATTESTATIONS_RULE,
      mode: policy.mode,
      reason: [`attestation ${name} (${predicateType}): the artifact has none that verifies, as spec.attestations requires`, ...details].join('\n'),
      fix: `attest this digest with an authority the policy lists (cosign attest --key … --type … --predicate …), with predicate type ${predicateType}`,
    };
  }
  const because = failed.map((condition) =>
    condition.error !== undefined
      ? `the condition ${condition.expression} could not be evaluated: ${condition.error}`
      : `${condition.message ?? `the condition ${condition.expression} is false`}`,
  );
  return {
    policy: policy.name,
    rule: ATTESTATIONS_RULE,
    mode: policy.mode,
    reason: [
      `attestation ${name} (${predicateType}): verified, but its conditions do not hold (${verdict.passedAuthorities.length} of ${threshold} required authorit${threshold === 1 ? 'y' : 'ies'} passed): ${because.join('; ')}`,
      ...details,
    ].join('\n'),
    fix: failed.some((condition) => condition.error !== undefined)
      ? 'fix the condition (a field the predicate lacks can be guarded with has(…)), or attest a predicate that has the fields it reads'
      : 'attest a predicate that satisfies the conditions, or change the conditions in the policy',
  };
}
