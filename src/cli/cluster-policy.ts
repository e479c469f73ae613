/**
 * The policy the webhook builds from its ConfigMaps (policyUnit, as the
 * watcher reads them): the labelled ConfigMaps of the webhook namespace, and
 * with namespaced policies those of every namespace, each confined to its
 * own. Unlike the webhook, which keeps serving without an invalid ConfigMap,
 * a command refuses to run on a partial policy: every problem is an error.
 */
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import { POLICY_LABEL_SELECTOR, policyUnit } from '../kube/policy-configmaps.ts';
import { PolicyLoadError, policySetFromTexts, readPolicyTexts } from '../policy/load.ts';
import { CLUSTER_SCOPE } from '../policy/types.ts';
import type { PolicySet } from '../policy/types.ts';
import { listPolicyConfigMaps } from '../kube/list-policy-configmaps.ts';

/** A ConfigMap-based policy as read from the cluster. */
export interface ConfigMapPolicy {
  readonly policySet: PolicySet;
  /** `ConfigMap NAMESPACE/NAME`, `(namespaced)` appended for a namespace's own. */
  readonly sources: readonly string[];
}

export async function clusterPolicy(
  config: KubeConfig,
  policyNamespace: string,
  configPath: string | undefined,
  namespacedFlag: boolean,
): Promise<ConfigMapPolicy> {
  const extra = configPath === undefined ? [] : await readPolicyTexts([configPath]);
  const load = (maps: readonly V1ConfigMap[]): ConfigMapPolicy => {
    const units = maps.map((map) => policyUnit(map, policyNamespace)).filter((unit) => unit.texts.length > 0 || unit.problems.length > 0);
    const problems = units.flatMap((unit) => unit.problems);
    if (problems.length > 0) throw new PolicyLoadError(problems);
    // Cluster ConfigMaps first (they hold the Config), then namespaced ones by namespace and name, as the watcher orders them.
    const ordered = [...units.filter((unit) => unit.scope === CLUSTER_SCOPE), ...units.filter((unit) => unit.scope !== CLUSTER_SCOPE)];
    return {
      policySet: policySetFromTexts([...ordered.flatMap((unit) => unit.texts), ...extra]),
      sources: ordered.map((unit) => `ConfigMap ${unit.key}${unit.scope === CLUSTER_SCOPE ? '' : ' (namespaced)'}`),
    };
  };
  const maps = await listPolicyConfigMaps(config, policyNamespace);
  const loaded = load(maps);
  if (loaded.sources.length === 0) {
    const found = maps.length === 0 ? 'none' : `${maps.map((map) => map.metadata?.name ?? '?').join(', ')}, none with a .yaml or .yml key`;
    throw new PolicyLoadError([
      {
        source: `namespace ${policyNamespace}`,
        document: 0,
        path: '',
        message: `no policy ConfigMaps labelled ${POLICY_LABEL_SELECTOR} (found: ${found}); pass --policy-namespace NAMESPACE or --policy FILE`,
      },
    ]);
  }
  if (!namespacedFlag && !loaded.policySet.config.namespacedPolicies) return loaded;
  return load(await listPolicyConfigMaps(config, undefined));
}
