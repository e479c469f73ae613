/**
 * Rules that need nothing but the parsed reference. Each is a pure function of
 * the policy and the reference and returns a Finding when the rule fails.
 */
import type { Finding } from '../core/finding.ts';
import type { ImageReference } from '../reference/parse.ts';
import { repositoryName } from '../reference/parse.ts';
import { matchesAny } from '../core/glob.ts';
import type { ModelPolicy } from './types.ts';

export type ReferenceRule = (policy: ModelPolicy, ref: ImageReference) => Finding | undefined;

export const requireDigest: ReferenceRule = (policy, ref) => {
  if (!policy.requireDigest || ref.digest !== undefined) return undefined;
  const tagged = `${repositoryName(ref)}:${ref.tag ?? 'latest'}`;
  return {
    policy: policy.name,
    rule: 'requireDigest',
    mode: policy.mode,
    reason: `${ref.tag === undefined ? 'not pinned by digest (no tag means :latest)' : `pinned only by tag ${JSON.stringify(ref.tag)}, not by digest`}: the model behind it can change after it was checked`,
    fix: `pin it by digest as ${tagged}@sha256:<digest> (the digest is printed by \`oras resolve ${tagged}\` or \`crane digest ${tagged}\`)`,
  };
};

export const allowedRegistry: ReferenceRule = (policy, ref) => {
  if (policy.registries.length === 0 || matchesAny(policy.registries, ref.registry, 'host')) return undefined;
  return {
    policy: policy.name,
    rule: 'registries',
    mode: policy.mode,
    reason: `registry ${ref.registry} is not one of the allowed registries (${policy.registries.join(', ')})`,
    fix: `use a model from an allowed registry, or add ${JSON.stringify(ref.registry)} to spec.registries of policy ${JSON.stringify(policy.name)}`,
  };
};

export const REFERENCE_RULES: readonly ReferenceRule[] = [requireDigest, allowedRegistry];
