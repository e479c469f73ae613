/** A failed rule: what failed, why, and how to fix it. */
import type { PolicyMode } from '../policy/types.ts';

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
