/**
 * How a policy's failures count, shared by every check kind and the findings they make:
 * declared here, at the bottom, so that checks need not import the policy documents.
 */
import type { Static } from 'typebox';
import { stringEnum } from './schema.ts';

export const POLICY_MODES = ['enforce', 'warn', 'audit'] as const;
/** enforce denies, warn allows with a warning, audit allows and records an audit annotation. */
export const PolicyModeSchema = stringEnum(POLICY_MODES, {
  description: 'enforce denies, warn allows with a warning, audit allows and records an audit annotation (default enforce)',
});
export type PolicyMode = Static<typeof PolicyModeSchema>;

export const ON_ERROR_ACTIONS = ['deny', 'allow', 'warn'] as const;
/** What happens when a check could not complete (registry unreachable, timeout, …). */
export const OnErrorSchema = stringEnum(ON_ERROR_ACTIONS, {
  description: 'what happens when a check could not complete (registry unreachable, timeout, …) (default deny)',
});
export type OnError = Static<typeof OnErrorSchema>;
