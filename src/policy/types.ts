/** The in-memory, validated form of policy documents. */

export const API_VERSION = 'modelgate.dev/v1alpha1';

/** enforce denies, warn allows with a warning, audit allows and records an audit annotation. */
export type PolicyMode = 'enforce' | 'warn' | 'audit';
export const POLICY_MODES: readonly PolicyMode[] = ['enforce', 'warn', 'audit'];

/** What happens to a model reference that no ModelPolicy matches. */
export type DefaultAction = 'deny' | 'allow' | 'warn';
export const DEFAULT_ACTIONS: readonly DefaultAction[] = ['deny', 'allow', 'warn'];

export interface PolicyMatch {
  /** Globs over the namespace name. */
  readonly namespaces: readonly string[];
  readonly excludeNamespaces: readonly string[];
  /** Globs over `registry/repository`. */
  readonly references: readonly string[];
}

export interface ModelPolicy {
  readonly name: string;
  /** Where the policy came from, e.g. `policies/models.yaml#2`, for messages. */
  readonly source: string;
  readonly mode: PolicyMode;
  readonly match: PolicyMatch;
  readonly requireDigest: boolean;
  /** Allowed registry host globs; empty allows any. */
  readonly registries: readonly string[];
}

/** Connection settings for one registry, used by the registry client. */
export interface RegistrySettings {
  readonly host: string;
  /** Plain HTTP; only ever for hosts listed with it. */
  readonly insecure: boolean;
  /** PEM bundle of CAs to trust for this host. */
  readonly ca: string | undefined;
}

export interface ModelgateConfig {
  readonly source: string;
  readonly defaultAction: DefaultAction;
  readonly registries: readonly RegistrySettings[];
}

export interface PolicySet {
  readonly policies: readonly ModelPolicy[];
  readonly config: ModelgateConfig;
  /** Short hash of the active policy set; part of log lines and cache keys. */
  readonly revision: string;
}

export const DEFAULT_CONFIG: ModelgateConfig = { source: '(built-in)', defaultAction: 'deny', registries: [] };
