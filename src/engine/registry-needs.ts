/**
 * Whether a policy set reads anything from a registry: whether any policy
 * configures a check kind that does. Its own module so that the CLI can
 * decide without loading the registry client.
 */
import type { PolicySet } from '../policy/types.ts';
import { CHECK_KINDS } from './checks/registered.ts';

export function needsRegistry(policySet: PolicySet): boolean {
  return policySet.policies.some((policy) =>
    CHECK_KINDS.some((kind) => {
      const config = kind.configOf(policy);
      return config !== undefined && kind.needsRegistry(config);
    }),
  );
}
