/** The policy ConfigMaps of a live cluster, listed for the commands that load the cluster's policy. */
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1ConfigMap, V1ConfigMapList } from '@kubernetes/client-node';
import { describeApiError } from './api-errors.ts';
import { PAGE_SIZE } from './list-workloads.ts';
import { POLICY_LABEL_SELECTOR } from './policy-configmaps.ts';

/** ConfigMaps labelled modelgate.dev/policy=true in one namespace or (undefined) all, sorted by namespace and name. */
export async function listPolicyConfigMaps(config: KubeConfig, namespace: string | undefined): Promise<V1ConfigMap[]> {
  const server = config.getCurrentCluster()?.server ?? '(unknown)';
  const core = config.makeApiClient(CoreV1Api);
  const maps: V1ConfigMap[] = [];
  let token: string | undefined;
  do {
    const params = { labelSelector: POLICY_LABEL_SELECTOR, limit: PAGE_SIZE, ...(token === undefined ? {} : { _continue: token }) };
    let page: V1ConfigMapList;
    try {
      page = namespace === undefined ? await core.listConfigMapForAllNamespaces(params) : await core.listNamespacedConfigMap({ namespace, ...params });
    } catch (error) {
      throw describeApiError(
        error,
        `list the policy ConfigMaps (label ${POLICY_LABEL_SELECTOR}) ${namespace === undefined ? 'in all namespaces' : `in namespace ${namespace}`}`,
        server,
      );
    }
    maps.push(...page.items);
    token = page.metadata?._continue === undefined || page.metadata._continue === '' ? undefined : page.metadata._continue;
  } while (token !== undefined);
  const key = (map: V1ConfigMap): string => `${map.metadata?.namespace ?? ''}/${map.metadata?.name ?? ''}`;
  return maps.sort((a, b) => key(a).localeCompare(key(b)));
}
