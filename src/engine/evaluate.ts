/**
 * References → policy match → rule results, one ReferenceVerdict per site.
 * This is the one place where policies meet references; the server, the CLI
 * and the benchmarks all come through here. The check kinds
 * (checks/registered.ts) judge: first those that need nothing but the
 * reference, then, on a digest-pinned reference they allow, those that read
 * facts from the registry through the engine's cached sources.
 */
import { newConditionSpend } from '../attestation/conditions.ts';
import type { ConditionSpend } from '../attestation/conditions.ts';
import type { ModelReferenceSite } from './site.ts';
import { matchingPolicies } from '../policy/match.ts';
import { isClusterPolicy } from '../policy/types.ts';
import type { ModelPolicy } from '../policy/types.ts';
import type { ImageReference } from '../reference/parse.ts';
import { InvalidReferenceError, parseReference, repositoryName } from '../reference/parse.ts';
import type { AnyCheckKind, CheckSources, CheckTarget, JudgedObject } from './checks/kind.ts';
import { DIGEST_KINDS, REFERENCE_KINDS } from './checks/registered.ts';
import { DENIED_ALREADY, NO_DIGEST, checkFailed, failedCheck, needsDigest, notChecked } from './checks/unchecked.ts';
import type { Engine } from './engine.ts';
import { BUILT_IN, isFinding } from './result.ts';
import type { FailedResult, RuleResult } from './result.ts';

export interface ReferenceVerdict {
  readonly site: ModelReferenceSite;
  /** Undefined when the reference could not be parsed. */
  readonly reference: ImageReference | undefined;
  /** Names of the policies that matched. */
  readonly policies: readonly string[];
  /** Every rule judged (passed, failed, skipped, not checked, error): built-in rules first, then kind by kind, policy by policy. */
  readonly results: readonly RuleResult[];
}

export interface EvaluationContext {
  readonly engine: Engine;
  readonly namespace: string;
  /** The admitted object's kind and name (attestation conditions read them); absent: explain, a bare reference. */
  readonly object?: { readonly kind: string; readonly name: string };
  /** Date.now() by which all registry work must be over. */
  readonly deadline: number;
  /** What attestation conditions have spent in this review (evaluateReferences makes one per review). */
  readonly conditionSpend?: ConditionSpend;
}

/** A rule before any policy fails: it always denies. */
function builtIn(policy: string, rule: string, reason: string, fix: string): FailedResult {
  return { check: BUILT_IN, policy, rule, status: 'fail', mode: 'enforce', reason, fix };
}

export function evaluateReference(site: ModelReferenceSite, context: EvaluationContext): ReferenceVerdict | Promise<ReferenceVerdict> {
  if (site.problem !== undefined) {
    return {
      site,
      reference: undefined,
      policies: [],
      results: [builtIn('(reference)', 'reference', site.problem, 'write the patch as valid YAML or JSON, under 64 KiB')],
    };
  }
  let ref: ImageReference;
  try {
    ref = parseReference(site.reference as string);
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : 'the reference is not a string';
    // An unparseable reference cannot be pulled or checked, whatever the policy mode.
    return {
      site,
      reference: undefined,
      policies: [],
      results: [builtIn('(reference)', 'reference', reason, 'write the reference as registry/repository[:tag]@sha256:<digest>')],
    };
  }
  const { policySet } = context.engine;
  const name = repositoryName(ref);
  if (!ref.qualified && policySet.config.shortNames === 'deny') {
    const reason = `${JSON.stringify(ref.original)} names no registry: CRI-O may resolve a short name through its unqualified-search-registries, so the registry judged (${ref.registry}) need not be the one pulled`;
    const fix = `write the registry in the reference, e.g. ${name}${ref.digest === undefined ? '@sha256:<digest>' : `@${ref.digest}`}`;
    return { site, reference: ref, policies: [], results: [builtIn('(config)', 'shortNames', reason, fix)] };
  }
  const policies = matchingPolicies(policySet, context.namespace, name);
  if (policies.length === 0) return { site, reference: ref, policies: [], results: defaultActionResults(context, name, false) };
  // Only cluster policies stand in for the defaultAction: a namespace's own
  // policies add requirements and can never relax the cluster's (issue 6).
  const results: RuleResult[] = policies.some(isClusterPolicy) ? [] : defaultActionResults(context, name, true);
  const object: JudgedObject = {
    namespace: context.namespace,
    kind: context.object?.kind ?? '',
    name: context.object?.name ?? '',
    conditionSpend: context.conditionSpend,
  };
  for (const kind of REFERENCE_KINDS) {
    for (const policy of policies) {
      const config = kind.configOf(policy);
      if (config !== undefined) pushAll(results, kind.judge(policy, config, undefined, ref, object));
    }
  }
  const verdict = { site, reference: ref, policies: policies.map((policy) => policy.name), results };
  // Most references need no registry at all: stay synchronous for them.
  if (!configuresDigestKinds(policies)) return verdict;
  const digest = ref.digest;
  // A reference that is denied already (a registry outside the allowlist, no digest) is
  // never fetched: the pod spec must not steer where modelgate connects.
  if (hasEnforcedFinding(results)) {
    for (const policy of policies) {
      for (const kind of DIGEST_KINDS) {
        const config = kind.configOf(policy);
        if (config !== undefined) pushAll(results, notChecked(kind, policy, config, digest === undefined ? NO_DIGEST : DENIED_ALREADY));
      }
    }
    return verdict;
  }
  if (digest === undefined) {
    for (const policy of policies) {
      // requireDigest already explains it; say it once per policy where the policy does not require digests.
      let explained = policy.requireDigest;
      for (const kind of DIGEST_KINDS) {
        const config = kind.configOf(policy);
        if (config === undefined) continue;
        pushAll(results, explained ? notChecked(kind, policy, config, NO_DIGEST) : checkFailed(kind, policy, config, needsDigest(kind, policy)));
        explained = true;
      }
    }
    return verdict;
  }
  // Kinds run in parallel and report in a fixed order: kind by kind, policy by policy.
  // Cached facts come back synchronously, so a warm review never waits on a promise.
  const target: CheckTarget = { locator: { registry: ref.registry, repository: ref.repository }, digest, deadline: context.deadline };
  const lists: (readonly RuleResult[] | Promise<readonly RuleResult[]>)[] = [];
  let waiting = false;
  for (const kind of DIGEST_KINDS) {
    const configured = policies.filter((policy) => kind.configOf(policy) !== undefined);
    if (configured.length === 0) continue;
    const list = runKind(kind, configured, target, context.engine, ref, object);
    waiting ||= list instanceof Promise;
    lists.push(list);
  }
  if (!waiting) {
    for (const list of lists as (readonly RuleResult[])[]) pushAll(results, list);
    return verdict;
  }
  return Promise.all(lists).then((resolved) => {
    for (const list of resolved) pushAll(results, list);
    return verdict;
  });
}

/** One kind's facts read once for all its policies, then judged policy by policy; a fetch that throws fails each policy's check. */
function runKind(
  kind: AnyCheckKind,
  policies: readonly ModelPolicy[],
  target: CheckTarget,
  sources: CheckSources,
  ref: ImageReference,
  object: JudgedObject,
): readonly RuleResult[] | Promise<readonly RuleResult[]> {
  const configs = policies.map((policy) => kind.configOf(policy));
  const judge = (facts: unknown): RuleResult[] => {
    const results: RuleResult[] = [];
    for (let index = 0; index < policies.length; index++) pushAll(results, kind.judge(policies[index] as ModelPolicy, configs[index], facts, ref, object));
    return results;
  };
  const failed = (error: unknown): RuleResult[] => {
    const results: RuleResult[] = [];
    for (let index = 0; index < policies.length; index++) {
      const policy = policies[index] as ModelPolicy;
      pushAll(results, checkFailed(kind, policy, configs[index], failedCheck(policy, error, kind.name)));
    }
    return results;
  };
  try {
    const facts = kind.fetch?.(target, configs, sources);
    return facts instanceof Promise ? facts.then(judge, failed) : judge(facts);
  } catch (error) {
    return failed(error);
  }
}

function configuresDigestKinds(policies: readonly ModelPolicy[]): boolean {
  for (const policy of policies) {
    for (const kind of DIGEST_KINDS) if (kind.configOf(policy) !== undefined) return true;
  }
  return false;
}

function hasEnforcedFinding(results: readonly RuleResult[]): boolean {
  for (const result of results) if (isFinding(result) && result.mode === 'enforce') return true;
  return false;
}

function pushAll(results: RuleResult[], more: readonly RuleResult[]): void {
  for (const result of more) results.push(result);
}

function defaultActionResults(context: EvaluationContext, name: string, namespaced = false): RuleResult[] {
  const action = context.engine.policySet.config.defaultAction;
  if (action === 'allow') return [];
  return [
    {
      check: BUILT_IN,
      policy: '(default)',
      rule: 'defaultAction',
      status: 'fail',
      mode: action === 'deny' ? 'enforce' : 'warn',
      reason: namespaced
        ? `no cluster ModelPolicy matches ${name} in namespace ${context.namespace} (the namespace's own policies add requirements but do not replace one), and the default action is ${action}`
        : `no ModelPolicy matches ${name} in namespace ${context.namespace}, and the default action is ${action}`,
      fix: 'add a ModelPolicy whose spec.match covers this namespace and repository, or change defaultAction in the Config',
    },
  ];
}

/** Runs one reference's evaluation in its pod's context (its pull secrets); by default, as it is. */
export type SiteScope = <T>(site: ModelReferenceSite, work: () => T) => T;
const noScope: SiteScope = (_site, work) => work();

/** The verdicts of an object's references, evaluated in parallel. */
export function evaluateReferences(
  sites: readonly ModelReferenceSite[],
  context: EvaluationContext,
  scope: SiteScope = noScope,
): ReferenceVerdict[] | Promise<ReferenceVerdict[]> {
  // One condition budget for the whole review: many references cannot multiply it.
  const reviewContext = context.conditionSpend === undefined ? { ...context, conditionSpend: newConditionSpend() } : context;
  const results = sites.map((site) => scope(site, () => evaluateReference(site, reviewContext)));
  return results.some((result) => result instanceof Promise) ? Promise.all(results) : (results as ReferenceVerdict[]);
}
