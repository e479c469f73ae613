/** A failed rule: what failed, why, and how to fix it. */
import type { OnError, PolicyMode } from './modes.ts';

export interface Finding {
  /** Policy name, or `(default)` / `(reference)` for built-in rules. */
  readonly policy: string;
  /** Rule name as written in the policy, e.g. `requireDigest`. */
  readonly rule: string;
  readonly mode: PolicyMode;
  /** What is wrong, in one sentence. */
  readonly reason: string;
  /** What the user can do about it. */
  readonly fix: string;
}

/**
 * A check that could not complete (registry unreachable, timeout, …), as the
 * policy's onError says: deny fails as the policy's mode would, warn only
 * warns, allow leaves an audit record.
 */
export function couldNotCheck(policy: { readonly name: string; readonly mode: PolicyMode; readonly onError: OnError }, rule: string, reason: string): Finding {
  const mode: PolicyMode = policy.onError === 'deny' ? policy.mode : policy.onError === 'warn' && policy.mode !== 'audit' ? 'warn' : 'audit';
  return {
    policy: policy.name,
    rule,
    mode,
    reason,
    fix: `resolve the registry problem and retry${policy.onError === 'deny' ? ', or set spec.onError to warn or allow' : ''}`,
  };
}
