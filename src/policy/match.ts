/** Which policies apply to a model reference in a namespace. */
import { matchesAny } from '../core/glob.ts';
import type { ModelPolicy, PolicySet } from './types.ts';

export function policyMatches(policy: ModelPolicy, namespace: string, repository: string): boolean {
  const { match } = policy;
  return matchesAny(match.namespaces, namespace) && !matchesAny(match.excludeNamespaces, namespace) && matchesAny(match.references, repository);
}

export function matchingPolicies(policySet: PolicySet, namespace: string, repository: string): ModelPolicy[] {
  return policySet.policies.filter((policy) => policyMatches(policy, namespace, repository));
}
