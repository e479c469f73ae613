/**
 * What the engine says about each rule it judged: passed, failed, skipped
 * (the policy leaves it off), not checked (its facts could not be had or were
 * not needed) or error (a check that could not complete). Denials, warnings,
 * audit records, metrics, `check` and `explain` all render these; only
 * failures and errors count towards the verdict (decision.ts).
 */
import type { PolicyMode } from '../policy/types.ts';
import type { Finding } from '../core/finding.ts';

export type RuleStatus = 'pass' | 'fail' | 'skipped' | 'not-checked' | 'error';

/** The check of the rules that come before any policy: an invalid reference, short names, the defaultAction. */
export const BUILT_IN = 'built-in';
/** Its rules: an invalid reference (or patch), a short name the Config denies, no policy matching (evaluate.ts). */
export const BUILT_IN_RULES: readonly string[] = ['reference', 'shortNames', 'defaultAction'];

export interface RuleResult {
  /** The check kind that judged it (checks/registered.ts), or BUILT_IN. */
  readonly check: string;
  /** Policy name, or `(default)` / `(reference)` / `(config)` for built-in rules. */
  readonly policy: string;
  /** Rule name as written in the policy, e.g. `requireDigest`, `artifact.mountable`. */
  readonly rule: string;
  readonly status: RuleStatus;
  /** pass: what was checked; fail and error: what is wrong; skipped and not-checked: why it was not judged. */
  readonly reason: string;
  /** Fail and error only: how the result counts (enforce denies, warn warns, audit records). */
  readonly mode?: PolicyMode;
  /** Fail and error only: what the user can do about it. */
  readonly fix?: string;
  /** Facts behind the verdict for `explain` to show (e.g. the file-by-file mapping of a model signature); never in messages. */
  readonly details?: readonly string[];
}

/** A result that counts: a failed rule or a check that could not complete, as a Finding with its status. */
export interface FailedResult extends RuleResult, Finding {
  readonly status: 'fail' | 'error';
  readonly mode: PolicyMode;
  readonly fix: string;
}

export function isFinding(result: RuleResult): result is FailedResult {
  return result.status === 'fail' || result.status === 'error';
}

/** A Finding as the result of a check: failed, or (error) could not complete. */
export function failedResult(check: string, finding: Finding, status: 'fail' | 'error' = 'fail'): FailedResult {
  return { check, policy: finding.policy, rule: finding.rule, status, reason: finding.reason, mode: finding.mode, fix: finding.fix };
}

/** A rule that passed, was skipped or was not checked. */
export function ruleResult(check: string, policy: string, rule: string, status: 'pass' | 'skipped' | 'not-checked', reason: string): RuleResult {
  return { check, policy, rule, status, reason };
}
