/**
 * Where the policy of `check`, `audit` and `explain` comes from: one rule, so
 * that a command run against a cluster judges as that cluster's webhook does
 * (a live `explain` once said ALLOW for what the webhook denied: it had read
 * the bundled file instead of the cluster's ConfigMaps).
 *
 * 1. --policy (or MODELGATE_POLICY): those files;
 * 2. else, when the command may read a cluster and one is configured: the
 *    ConfigMaps labelled modelgate.dev/policy=true in the webhook's namespace
 *    (and, with namespaced policies, every namespace's), as the webhook reads
 *    them;
 * 3. else the bundled manifests/policy.yaml.
 *
 * --config (or MODELGATE_CONFIG) adds a Config document to whichever is used.
 * Every command prints what was used (describePolicy) and its revision.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeConfigSource } from '../kube/context.ts';
import { BUNDLED_POLICY, PACKAGE_ROOT } from '../core/package-root.ts';
import { loadPolicySet } from '../policy/load.ts';
import type { DefaultAction, PolicySet } from '../policy/types.ts';
import { DEFAULT_POLICY_NAMESPACE } from './commands.ts';
import { env, policyPathsOption } from './options.ts';

export type PolicySource =
  | { readonly kind: 'files'; readonly paths: readonly string[]; readonly configPath: string | undefined }
  | { readonly kind: 'bundled'; readonly configPath: string | undefined }
  | { readonly kind: 'configmaps'; readonly namespace: string; readonly namespaced: boolean; readonly configPath: string | undefined };

/**
 * Whether a command may take its policy from a cluster: `never` for check
 * (CI verdicts must not depend on whoever's kubeconfig is around), `always`
 * for audit (it reads a cluster anyway), `when-configured` for explain.
 */
export type ClusterUse = 'never' | 'always' | 'when-configured';

export interface PolicyRequest {
  /** --policy. */
  readonly policy?: readonly string[] | undefined;
  /** --config. */
  readonly config?: string | undefined;
  readonly cluster: ClusterUse;
  /** --kubeconfig or --context given: a cluster is configured, whatever the environment says. */
  readonly clusterFlags?: boolean;
  readonly policyNamespace?: string;
  readonly namespacedPolicies?: boolean;
}

/** Whether a kubeconfig or the in-cluster service account is there, as kubectl would find it. */
export function clusterConfigured(request: Pick<PolicyRequest, 'clusterFlags'>, environment: NodeJS.ProcessEnv = process.env): boolean {
  return request.clusterFlags === true || kubeConfigSource(environment) !== undefined;
}

/** The one rule (see the top of this file). */
export function choosePolicySource(request: PolicyRequest, environment: NodeJS.ProcessEnv = process.env): PolicySource {
  const paths = policyPathsOption(request.policy, environment);
  const configPath = request.config ?? env('MODELGATE_CONFIG', environment);
  if (paths.length > 0) return { kind: 'files', paths, configPath };
  const useCluster = request.cluster === 'always' || (request.cluster === 'when-configured' && clusterConfigured(request, environment));
  if (useCluster) {
    return { kind: 'configmaps', namespace: request.policyNamespace ?? DEFAULT_POLICY_NAMESPACE, namespaced: request.namespacedPolicies === true, configPath };
  }
  return { kind: 'bundled', configPath };
}

/** What a report says about its policy (JSON `policy`). */
export interface PolicyInfo {
  readonly source: PolicySource['kind'];
  /** One line: `ConfigMaps in namespace modelgate (modelgate/modelgate-policies), revision 0123456789ab`. */
  readonly description: string;
  /** configmaps: the webhook's namespace they were read from. */
  readonly namespace?: string;
  /** The files read, or `ConfigMap NAMESPACE/NAME` (`(namespaced)` for a namespace's own). */
  readonly sources: readonly string[];
  readonly revision: string;
  readonly policies: number;
  readonly defaultAction: DefaultAction;
  /** Said next to the output: a policy without any ModelPolicy, for one. */
  readonly warnings: readonly string[];
}

export interface LoadedPolicy {
  readonly policySet: PolicySet;
  readonly info: PolicyInfo;
}

const shortPath = (path: string): string => (path.startsWith(`${PACKAGE_ROOT}/`) ? path.slice(PACKAGE_ROOT.length + 1) : path);

function whatWasRead(source: PolicySource, sources: readonly string[]): string {
  const config = source.configPath === undefined ? '' : ` with Config ${source.configPath}`;
  if (source.kind === 'bundled') return `${shortPath(BUNDLED_POLICY)} (bundled)${config}`;
  if (source.kind === 'files') return `${source.paths.join(', ')}${config}`;
  const names = sources.map((entry) => entry.replace(/^ConfigMap /, ''));
  return `ConfigMaps in namespace ${source.namespace} (${names.join(', ')})${config}`;
}

export function policyInfo(source: PolicySource, policySet: PolicySet, sources: readonly string[]): PolicyInfo {
  const { defaultAction } = policySet.config;
  const warnings =
    policySet.policies.length === 0
      ? [
          `the policy holds no ModelPolicy: every model reference gets the Config's defaultAction (${defaultAction}), so every image volume is ${defaultAction === 'allow' ? 'allowed' : 'denied'}`,
        ]
      : [];
  return {
    source: source.kind,
    description: `${whatWasRead(source, sources)}, revision ${policySet.revision}`,
    ...(source.kind === 'configmaps' ? { namespace: source.namespace } : {}),
    sources,
    revision: policySet.revision,
    policies: policySet.policies.length,
    defaultAction,
    warnings,
  };
}

/** Loads the policy from its source; ConfigMaps need the cluster's kubeconfig. */
export async function loadPolicy(source: PolicySource, kubeConfig?: KubeConfig): Promise<LoadedPolicy> {
  if (source.kind === 'configmaps') {
    if (kubeConfig === undefined) throw new Error('loadPolicy: policy ConfigMaps need a kubeconfig');
    // Imported here: it brings the Kubernetes client, which files and the bundled policy do not need.
    const { clusterPolicy } = await import('./cluster-policy.ts');
    const loaded = await clusterPolicy(kubeConfig, source.namespace, source.configPath, source.namespaced);
    return { policySet: loaded.policySet, info: policyInfo(source, loaded.policySet, loaded.sources) };
  }
  const paths = source.kind === 'files' ? source.paths : [BUNDLED_POLICY];
  const policySet = await loadPolicySet(paths, source.configPath);
  return { policySet, info: policyInfo(source, policySet, [...paths, ...(source.configPath === undefined ? [] : [source.configPath])]) };
}

/** The lines a table or text output prints before anything else (stderr for tables). */
export function policyLines(info: PolicyInfo): string {
  return `policy: ${info.description}\n${info.warnings.map((warning) => `modelgate: warning: ${warning}\n`).join('')}`;
}
