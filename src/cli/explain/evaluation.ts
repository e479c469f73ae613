/**
 * One evaluation of a reference, as explain lists it: the engine's verdict
 * and rule results grouped by policy and rule, listed in the order the check
 * kinds declare their rules. Nothing here judges: every pass, failure, skip
 * and "not checked" is the engine's own.
 */
import type { ModelReferenceSite } from '../../engine/site.ts';
import { CHECK_KINDS } from '../../engine/checks/registered.ts';
import { findingsOf, strongestMode, verdictOf } from '../../engine/decision.ts';
import type { Engine } from '../../engine/engine.ts';
import { evaluateReference } from '../../engine/evaluate.ts';
import { BUILT_IN } from '../../engine/result.ts';
import type { RuleResult, RuleStatus } from '../../engine/result.ts';
import type { ModelPolicy } from '../../policy/types.ts';
import type { Clock } from './clock.ts';
import type { Evaluation, PolicyTrace, RuleTrace, SignatureTrace, TraceResult } from './model.ts';

const LISTED_AS: Readonly<Record<Exclude<RuleStatus, 'fail' | 'error'>, TraceResult>> = { pass: 'pass', skipped: 'off', 'not-checked': 'not checked' };

/** A rule's place in the listing: its kind's place in the registry, then the rule's place among the kind's rules; unknown rules last. */
function listingOrder(result: RuleResult): number {
  const kind = CHECK_KINDS.findIndex((entry) => entry.name === result.check);
  if (kind === -1) return Number.MAX_SAFE_INTEGER;
  const rule = (CHECK_KINDS[kind]?.rules ?? []).indexOf(result.rule);
  return kind * 1000 + (rule === -1 ? 999 : rule);
}

/** One line per rule: failed when any of its results counts (with the strongest mode), else as its results say. */
function ruleTrace(rule: string, results: readonly RuleResult[]): RuleTrace {
  const findings = findingsOf(results);
  const facts = results.flatMap((result) => result.details ?? []);
  const withFacts = facts.length === 0 ? {} : { facts };
  if (findings.length > 0) {
    return {
      rule,
      result: 'fail',
      mode: strongestMode(findings) ?? 'audit',
      details: findings.map((finding) => finding.reason),
      fixes: [...new Set(findings.map((finding) => finding.fix))],
      ...withFacts,
    };
  }
  const status = results[0]?.status ?? 'pass';
  return { rule, result: status === 'fail' || status === 'error' ? 'fail' : LISTED_AS[status], details: results.map((result) => result.reason), ...withFacts };
}

/** Results grouped by rule (stable: in the order the engine reported them), listed in the kinds' order. */
export function ruleTraces(results: readonly RuleResult[]): RuleTrace[] {
  const byRule = new Map<string, RuleResult[]>();
  for (const result of results) {
    const group = byRule.get(result.rule);
    if (group === undefined) byRule.set(result.rule, [result]);
    else group.push(result);
  }
  return [...byRule]
    .map(([rule, group]) => ({ rule, group, order: listingOrder(group[0] as RuleResult) }))
    .sort((a, b) => a.order - b.order)
    .map(({ rule, group }) => ruleTrace(rule, group));
}

function policyTrace(policy: ModelPolicy, results: readonly RuleResult[], signatures: SignatureTrace | { error: string } | undefined): PolicyTrace {
  return {
    name: policy.name,
    mode: policy.mode,
    source: policy.source,
    onError: policy.onError,
    rules: ruleTraces(results.filter((result) => result.check !== BUILT_IN && result.policy === policy.name)),
    ...(signatures === undefined ? {} : { signatures }),
  };
}

/** The reference judged by the engine exactly as in a review, timed as one step. */
export async function explainEvaluation(
  reference: string,
  engine: Engine,
  namespace: string,
  signatures: ReadonlyMap<string, SignatureTrace | { error: string }> | undefined,
  clock: Clock,
  step: string,
): Promise<Evaluation> {
  const site: ModelReferenceSite = { kind: 'volume', volume: '(explain)', path: '(reference)', reference, podSpec: undefined };
  const deadline = Date.now() + engine.policySet.config.timeouts.totalMs;
  const verdict = await clock.time(step, () => evaluateReference(site, { engine, namespace, deadline }));
  const matched = engine.policySet.policies.filter((policy) => verdict.policies.includes(policy.name));
  return {
    reference,
    verdict: verdictOf(verdict.results),
    policies: matched.map((policy) => policyTrace(policy, verdict.results, signatures?.get(policy.name))),
    builtIn: ruleTraces(verdict.results.filter((result) => result.check === BUILT_IN)),
    findings: findingsOf(verdict.results).map(({ policy, rule, mode, reason, fix }) => ({ policy, rule, mode, reason, fix })),
  };
}
