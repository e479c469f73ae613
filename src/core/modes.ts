/** How a policy acts on a failed rule, and on a check that could not complete: what every Finding carries. */

/** enforce denies, warn allows with a warning, audit allows and records an audit annotation. */
export type PolicyMode = 'enforce' | 'warn' | 'audit';
export const POLICY_MODES: readonly PolicyMode[] = ['enforce', 'warn', 'audit'];

/** What happens when a check could not complete (registry unreachable, timeout, …). */
export type OnError = 'deny' | 'allow' | 'warn';
export const ON_ERROR_ACTIONS: readonly OnError[] = ['deny', 'allow', 'warn'];
