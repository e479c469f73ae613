/**
 * References → policy match → rule findings, one ReferenceVerdict per site.
 * This is the one place where policies meet references; the server, the CLI
 * and the benchmarks all come through here. Rules are pure functions; the
 * only I/O is reading artifact facts through the engine's ArtifactSource.
 */
import type { ModelReferenceSite } from './site.ts';
import { checkArtifactOnce, rulesNeedConfig } from '../artifact/rules.ts';
import type { ArtifactFacts } from '../artifact/rules.ts';
import { matchingPolicies } from '../policy/match.ts';
import { REFERENCE_RULES } from '../policy/rules.ts';
import { isClusterPolicy } from '../policy/types.ts';
import type { ModelPolicy } from '../policy/types.ts';
import type { ImageReference } from '../reference/parse.ts';
import { InvalidReferenceError, parseReference, repositoryName } from '../reference/parse.ts';
import type { Engine } from './engine.ts';
import { isContentProblem } from '../core/errors.ts';
import { couldNotCheck } from '../core/finding.ts';
import type { Finding } from '../core/finding.ts';
import { signatureFinding } from '../signature/finding.ts';
import type { SignatureResult } from '../signature/verify.ts';

export interface ReferenceVerdict {
  readonly site: ModelReferenceSite;
  /** Undefined when the reference could not be parsed. */
  readonly reference: ImageReference | undefined;
  /** Names of the policies that matched. */
  readonly policies: readonly string[];
  readonly findings: readonly Finding[];
}

export interface EvaluationContext {
  readonly engine: Engine;
  readonly namespace: string;
  /** Date.now() by which all registry work must be over. */
  readonly deadline: number;
}

export function evaluateReference(site: ModelReferenceSite, context: EvaluationContext): ReferenceVerdict | Promise<ReferenceVerdict> {
  if (site.problem !== undefined) {
    return {
      site,
      reference: undefined,
      policies: [],
      findings: [
        { policy: '(reference)', rule: 'reference', mode: 'enforce', reason: site.problem, fix: 'write the patch as valid YAML or JSON, under 64 KiB' },
      ],
    };
  }
  let ref: ImageReference;
  try {
    ref = parseReference(site.reference as string);
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : 'the reference is not a string';
    return {
      site,
      reference: undefined,
      policies: [],
      // An unparseable reference cannot be pulled or checked, whatever the policy mode.
      findings: [
        { policy: '(reference)', rule: 'reference', mode: 'enforce', reason, fix: 'write the reference as registry/repository[:tag]@sha256:<digest>' },
      ],
    };
  }
  const { policySet } = context.engine;
  const name = repositoryName(ref);
  if (!ref.qualified && policySet.config.shortNames === 'deny') {
    return {
      site,
      reference: ref,
      policies: [],
      findings: [
        {
          policy: '(config)',
          rule: 'shortNames',
          mode: 'enforce',
          reason: `${JSON.stringify(ref.original)} names no registry: CRI-O may resolve a short name through its unqualified-search-registries, so the registry judged (${ref.registry}) need not be the one pulled`,
          fix: `write the registry in the reference, e.g. ${name}${ref.digest === undefined ? '@sha256:<digest>' : `@${ref.digest}`}`,
        },
      ],
    };
  }
  const policies = matchingPolicies(policySet, context.namespace, name);
  if (policies.length === 0) return { site, reference: ref, policies: [], findings: defaultActionFindings(context, name, false) };
  // Only cluster policies stand in for the defaultAction: a namespace's own
  // policies add requirements and can never relax the cluster's (issue 6).
  const findings: Finding[] = policies.some(isClusterPolicy) ? [] : defaultActionFindings(context, name, true);
  for (const policy of policies) {
    for (const rule of REFERENCE_RULES) {
      const finding = rule(policy, ref);
      if (finding !== undefined) findings.push(finding);
    }
  }
  const verdict = { site, reference: ref, policies: policies.map((policy) => policy.name), findings };
  const registryPolicies = policies.filter((policy) => policy.artifact !== undefined || policy.signatures !== undefined);
  // Most references need no registry at all: stay synchronous for them.
  if (registryPolicies.length === 0) return verdict;
  // A reference that is denied already (a registry outside the allowlist, no digest) is
  // never fetched: the pod spec must not steer where modelgate connects.
  if (findings.some((finding) => finding.mode === 'enforce')) return verdict;
  const digest = ref.digest;
  if (digest === undefined) {
    for (const policy of registryPolicies) {
      // requireDigest already explains it; say it only where the policy does not require digests.
      if (!policy.requireDigest) {
        const rule = policy.artifact === undefined ? 'signatures' : 'artifact';
        findings.push({
          policy: policy.name,
          rule,
          mode: policy.mode,
          reason: `${rule === 'artifact' ? 'artifact rules' : 'signatures'} can only be checked on a digest-pinned reference`,
          fix: 'pin the reference by digest (@sha256:…)',
        });
      }
    }
    return verdict;
  }
  const artifactPolicies = registryPolicies.filter((policy) => policy.artifact !== undefined);
  const signedPolicies = registryPolicies.filter((policy) => policy.signatures !== undefined);
  // Run in parallel, reported in a fixed order: artifact findings, then signatures, policy by policy.
  // Cached facts and signature results come back synchronously, so a warm review never waits on a promise.
  const lists = [artifactFindings(ref, digest, artifactPolicies, context), ...signedPolicies.map((policy) => signatureFindings(ref, digest, policy, context))];
  if (!lists.some((list) => list instanceof Promise)) {
    for (const list of lists as Finding[][]) findings.push(...list);
    return verdict;
  }
  return Promise.all(lists).then((resolved) => {
    for (const list of resolved) findings.push(...list);
    return verdict;
  });
}

type Findings = Finding[] | Promise<Finding[]>;

function signatureFindings(ref: ImageReference, digest: string, policy: ModelPolicy, context: EvaluationContext): Findings {
  if (policy.signatures === undefined) return [];
  const source = context.engine.signatures;
  if (source === undefined) return [failedCheck(policy, new Error('no registry access is configured'), 'signatures')];
  const judge = (result: SignatureResult): Finding[] => {
    const finding = signatureFinding(policy, result);
    return finding === undefined ? [] : [finding];
  };
  const failed = (error: unknown): Finding[] => [failedCheck(policy, error, 'signatures')];
  try {
    const result = source.verify(policy.signatures, { registry: ref.registry, repository: ref.repository }, digest, context.deadline);
    return result instanceof Promise ? result.then(judge, failed) : judge(result);
  } catch (error) {
    return failed(error);
  }
}

function artifactFindings(ref: ImageReference, digest: string, policies: readonly ModelPolicy[], context: EvaluationContext): Findings {
  if (policies.length === 0) return [];
  const source = context.engine.artifacts;
  const failed = (error: unknown): Finding[] => policies.map((policy) => failedCheck(policy, error, 'artifact'));
  if (source === undefined) return failed(new Error('no registry access is configured'));
  const judge = (facts: ArtifactFacts): Finding[] =>
    policies.flatMap((policy) => (policy.artifact === undefined ? [] : checkArtifactOnce(policy, policy.artifact, facts)));
  const withConfigs = policies.some((policy) => policy.artifact !== undefined && rulesNeedConfig(policy.artifact));
  try {
    const facts = source.facts({ registry: ref.registry, repository: ref.repository }, digest, withConfigs, context.deadline);
    return facts instanceof Promise ? facts.then(judge, failed) : judge(facts);
  } catch (error) {
    return failed(error);
  }
}

/**
 * A check that threw: content the registry served and that is wrong fails the
 * rule as the policy's mode says; anything else could not be checked, and
 * spec.onError decides.
 */
function failedCheck(policy: ModelPolicy, error: unknown, rule: 'artifact' | 'signatures'): Finding {
  const message = error instanceof Error ? error.message : String(error);
  if (isContentProblem(error)) {
    return {
      policy: policy.name,
      rule,
      mode: policy.mode,
      reason: `what the registry served was refused: ${message}`,
      fix: 'the registry must serve a well-formed, unambiguous OCI manifest whose bytes match the pinned digest; find out why it does not (a changed or compromised registry or proxy), then push the artifact again',
    };
  }
  return couldNotCheck(policy, rule, `the ${rule} could not be checked: ${message}`);
}

function defaultActionFindings(context: EvaluationContext, name: string, namespaced = false): Finding[] {
  const action = context.engine.policySet.config.defaultAction;
  if (action === 'allow') return [];
  return [
    {
      policy: '(default)',
      rule: 'defaultAction',
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
  const results = sites.map((site) => scope(site, () => evaluateReference(site, context)));
  return results.some((result) => result instanceof Promise) ? Promise.all(results) : (results as ReferenceVerdict[]);
}
