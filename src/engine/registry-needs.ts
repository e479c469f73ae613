/**
 * Whether a policy set reads anything from a registry. Its own module so
 * that the CLI can decide without loading the registry client.
 */
import type { PolicySet } from '../policy/types.ts';

export function needsRegistry(policySet: PolicySet): boolean {
  return policySet.policies.some((policy) => policy.artifact !== undefined || policy.signatures !== undefined);
}
