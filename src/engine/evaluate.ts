/**
 * References → policy match → rule findings, one ReferenceVerdict per site.
 * This is the one place where policies meet references; the server, the CLI
 * and the benchmarks all come through here.
 */
import type { ModelReferenceSite } from '../admission/extract.ts';
import { matchingPolicies } from '../policy/match.ts';
import { REFERENCE_RULES } from '../policy/rules.ts';
import type { PolicySet } from '../policy/types.ts';
import type { ImageReference } from '../reference/parse.ts';
import { InvalidReferenceError, parseReference, repositoryName } from '../reference/parse.ts';
import type { Finding } from './finding.ts';

export interface ReferenceVerdict {
  readonly site: ModelReferenceSite;
  /** Undefined when the reference could not be parsed. */
  readonly reference: ImageReference | undefined;
  /** Names of the policies that matched. */
  readonly policies: readonly string[];
  readonly findings: readonly Finding[];
}

export function evaluateReference(site: ModelReferenceSite, namespace: string, policySet: PolicySet): ReferenceVerdict {
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
      findings: [{ policy: '(reference)', rule: 'reference', mode: 'enforce', reason, fix: 'write the reference as registry/repository[:tag]@sha256:<digest>' }],
    };
  }
  const name = repositoryName(ref);
  const policies = matchingPolicies(policySet, namespace, name);
  if (policies.length === 0) return { site, reference: ref, policies: [], findings: defaultActionFindings(policySet, namespace, name) };
  const findings: Finding[] = [];
  for (const policy of policies) {
    for (const rule of REFERENCE_RULES) {
      const finding = rule(policy, ref);
      if (finding !== undefined) findings.push(finding);
    }
  }
  return { site, reference: ref, policies: policies.map((policy) => policy.name), findings };
}

function defaultActionFindings(policySet: PolicySet, namespace: string, name: string): Finding[] {
  const action = policySet.config.defaultAction;
  if (action === 'allow') return [];
  return [
    {
      policy: '(default)',
      rule: 'defaultAction',
      mode: action === 'deny' ? 'enforce' : 'warn',
      reason: `no ModelPolicy matches ${name} in namespace ${namespace}, and the default action is ${action}`,
      fix: 'add a ModelPolicy whose spec.match covers this namespace and repository, or change defaultAction in the Config',
    },
  ];
}

export function evaluateReferences(sites: readonly ModelReferenceSite[], namespace: string, policySet: PolicySet): ReferenceVerdict[] {
  return sites.map((site) => evaluateReference(site, namespace, policySet));
}
