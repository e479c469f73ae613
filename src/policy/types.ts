/**
 * The in-memory, validated form of policy documents: what the declarations
 * (model-policy-schema.ts, config-schema.ts) convert to, defaults filled in.
 */
import type { ArtifactRules } from '../artifact/policy-schema.ts';
import type { ModelSignaturePolicy } from '../signature/oms-policy.ts';
import type { AttestationPolicy } from '../attestation/policy-schema.ts';
import type { DiscoveryLimits, SignaturePolicy, TrustedRootSetting } from '../signature/policy-schema.ts';
import { DEFAULT_DISCOVERY_LIMITS } from '../signature/policy-schema.ts';
import { DEFAULT_PUBLIC_GOOD_SETTINGS } from '../signature/public-good-settings.ts';
import type { PublicGoodSettings } from '../signature/public-good-settings.ts';
import type { RegistrySettings } from '../oci/settings.ts';
import type { ConfigSpec, LimitsSection, WorkloadSection } from './config-schema.ts';
import type { MatchSection, PolicySpec } from './model-policy-schema.ts';

export type { ArtifactRules } from '../artifact/policy-schema.ts';
export type { OnError, PolicyMode } from '../core/modes.ts';
export { ON_ERROR_ACTIONS, POLICY_MODES } from '../core/modes.ts';
export { API_VERSION } from './document-schema.ts';

/** A section with every field present: defaults filled in. */
type Resolved<T> = { readonly [K in keyof T]-?: Readonly<NonNullable<T[K]>> };

/** What happens to a model reference that no ModelPolicy matches. */
export type DefaultAction = NonNullable<ConfigSpec['defaultAction']>;

/** Namespaces (globs over the name) and references (globs over `registry/repository`) a policy applies to. */
export type PolicyMatch = Resolved<MatchSection>;

/**
 * Where a policy applies: `cluster` for policy files and the webhook namespace's
 * ConfigMaps, or the namespace of a namespaced policy ConfigMap (issue 6).
 * Namespaced policies only add requirements: they apply to their own namespace
 * and never stand in for a cluster policy when the defaultAction is decided.
 */
export type PolicyScope = 'cluster' | (string & {});
export const CLUSTER_SCOPE = 'cluster';

export interface ModelPolicy extends Resolved<Pick<PolicySpec, 'mode' | 'requireDigest' | 'registries' | 'onError'>> {
  /** The metadata.name; a namespaced policy's is qualified as `<namespace>/<name>`. */
  readonly name: string;
  /** Where the policy came from, e.g. `policies/models.yaml#2`, for messages. */
  readonly source: string;
  readonly match: PolicyMatch;
  readonly artifact: ArtifactRules | undefined;
  /** Who must have signed the artifact. */
  readonly signatures: SignaturePolicy | undefined;
  /** An OpenSSF Model Signing signature that must cover the model's files (separate from signatures). */
  readonly modelSignature?: ModelSignaturePolicy | undefined;
  /** The attestations the artifact must carry; optional so that policies built in code need not name it. */
  readonly attestations?: AttestationPolicy | undefined;
  /** Absent means `cluster` (policies built in code, e.g. by tests). */
  readonly scope?: PolicyScope;
}

/** Cluster policies decide the defaultAction; namespaced ones only add findings. */
export function isClusterPolicy(policy: ModelPolicy): boolean {
  return policy.scope === undefined || policy.scope === CLUSTER_SCOPE;
}

export interface RegistryTimeouts {
  /** One HTTP request, headers and body. */
  readonly requestMs: number;
  /** All registry work for one admission review; keep it below the webhook's timeoutSeconds. */
  readonly totalMs: number;
}

/** Where registry credentials come from. */
export interface CredentialSettings {
  /** A docker config.json file given to the webhook (a mounted Secret). */
  readonly dockerConfig: string | undefined;
  /** Also use the admitted pod's imagePullSecrets and its ServiceAccount's (needs RBAC get on Secrets and ServiceAccounts). */
  readonly pullSecrets: boolean;
}

/**
 * How a reference without a registry (`llama`) is judged: `docker.io` as the
 * kubelet and containerd resolve it, or `deny`, because CRI-O may resolve it
 * through its unqualified-search-registries, so the registry judged need not
 * be the one pulled.
 */
export type ShortNameMode = NonNullable<ConfigSpec['shortNames']>;

/** A Config `workloads` entry: a kind and where its pod specs are (`spec.roles[].template.spec`); group defaults to ''. */
export type WorkloadSetting = Omit<WorkloadSection, 'group'> & { readonly group: string };

/** Bounds on the work one object or the whole webhook may cause (Config `spec.limits`). */
export type Limits = Resolved<LimitsSection>;

export const DEFAULT_LIMITS: Limits = { maxReferencesPerObject: 64, registryRequests: 64, registryRequestsPerHost: 16 };

export interface ModelgateConfig {
  readonly source: string;
  /** Kinds beyond the built-in ones whose pod specs hold model references (admission/kinds.ts). */
  readonly workloads: readonly WorkloadSetting[];
  readonly shortNames: ShortNameMode;
  readonly limits: Limits;
  readonly credentials: CredentialSettings;
  readonly defaultAction: DefaultAction;
  readonly registries: readonly RegistrySettings[];
  readonly timeouts: RegistryTimeouts;
  /** Custom Sigstore trusted roots (private Sigstore, air-gapped clusters) that authorities may name. */
  readonly trustedRoots: readonly TrustedRootSetting[];
  /** Where the public-good root comes from and how it stays current (TUF refresh or offline). */
  readonly publicGood: PublicGoodSettings;
  readonly signatureDiscovery: DiscoveryLimits;
  /**
   * Also watch ConfigMaps labelled `modelgate.dev/policy: "true"` in every
   * namespace, each applying to its own namespace (needs cluster-wide list/watch
   * on ConfigMaps). Only read from the webhook namespace's ConfigMaps; the
   * `--namespaced-policies` flag turns it on as well.
   */
  readonly namespacedPolicies: boolean;
}

export interface PolicySet {
  readonly policies: readonly ModelPolicy[];
  readonly config: ModelgateConfig;
  /** Short hash of the active policy set; part of log lines and cache keys. */
  readonly revision: string;
}

export const DEFAULT_TIMEOUTS: RegistryTimeouts = { requestMs: 2_000, totalMs: 4_000 };

export const DEFAULT_CONFIG: ModelgateConfig = {
  source: '(built-in)',
  workloads: [],
  shortNames: 'docker.io',
  limits: DEFAULT_LIMITS,
  defaultAction: 'deny',
  registries: [],
  timeouts: DEFAULT_TIMEOUTS,
  credentials: { dockerConfig: undefined, pullSecrets: false },
  trustedRoots: [],
  publicGood: DEFAULT_PUBLIC_GOOD_SETTINGS,
  signatureDiscovery: DEFAULT_DISCOVERY_LIMITS,
  namespacedPolicies: false,
};
