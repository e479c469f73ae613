/**
 * Every object that carries a pod spec, listed from a live cluster for
 * `modelgate audit`. Kubernetes' own workload kinds are always there; custom
 * ones (the AI workloads, the Config's workloads) are found through API
 * discovery and listed where the cluster serves them.
 */
import { ApisApi, AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig, V1APIGroup, V1APIResource } from '@kubernetes/client-node';
import { apiStatus, describeApiError } from './api-errors.ts';

/** An object as listed: its apiVersion and kind set. */
type KubeObject = Record<string, unknown>;

/** A custom kind to look for (admission/kinds.ts's WorkloadKind is one). */
export interface ListedKind {
  readonly group: string;
  readonly kind: string;
  /** The versions its pod spec paths were read for; empty for any. */
  readonly versions: readonly string[];
}

const kindName = (kind: ListedKind): string => (kind.group === '' ? kind.kind : `${kind.group}/${kind.kind}`);

interface ListPage {
  readonly items: readonly object[];
  /** `_continue` from the typed clients, `continue` in the raw JSON of custom object lists. */
  readonly metadata?: { readonly _continue?: string | undefined; readonly continue?: string | undefined } | undefined;
}

interface PageParams {
  readonly limit: number;
  readonly _continue?: string;
}

interface Lister {
  readonly kind: string;
  readonly apiVersion: string;
  /** Plural resource name, for messages: `pods`, `leaderworkersets.leaderworkerset.x-k8s.io`. */
  readonly resource: string;
  /** Listed only across all namespaces (-A). */
  readonly clusterScoped?: boolean;
  /** Found through discovery: a 404 means the kind went away meanwhile, not an error. */
  readonly discovered?: boolean;
  readonly all: (params: PageParams) => Promise<ListPage>;
  readonly namespaced: (namespace: string, params: PageParams) => Promise<ListPage>;
}

function listers(config: KubeConfig): Lister[] {
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const batch = config.makeApiClient(BatchV1Api);
  return [
    {
      kind: 'Pod',
      apiVersion: 'v1',
      resource: 'pods',
      all: (p) => core.listPodForAllNamespaces(p),
      namespaced: (namespace, p) => core.listNamespacedPod({ namespace, ...p }),
    },
    {
      kind: 'PodTemplate',
      apiVersion: 'v1',
      resource: 'podtemplates',
      all: (p) => core.listPodTemplateForAllNamespaces(p),
      namespaced: (namespace, p) => core.listNamespacedPodTemplate({ namespace, ...p }),
    },
    {
      kind: 'ReplicationController',
      apiVersion: 'v1',
      resource: 'replicationcontrollers',
      all: (p) => core.listReplicationControllerForAllNamespaces(p),
      namespaced: (namespace, p) => core.listNamespacedReplicationController({ namespace, ...p }),
    },
    {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      resource: 'deployments',
      all: (p) => apps.listDeploymentForAllNamespaces(p),
      namespaced: (namespace, p) => apps.listNamespacedDeployment({ namespace, ...p }),
    },
    {
      kind: 'ReplicaSet',
      apiVersion: 'apps/v1',
      resource: 'replicasets',
      all: (p) => apps.listReplicaSetForAllNamespaces(p),
      namespaced: (namespace, p) => apps.listNamespacedReplicaSet({ namespace, ...p }),
    },
    {
      kind: 'StatefulSet',
      apiVersion: 'apps/v1',
      resource: 'statefulsets',
      all: (p) => apps.listStatefulSetForAllNamespaces(p),
      namespaced: (namespace, p) => apps.listNamespacedStatefulSet({ namespace, ...p }),
    },
    {
      kind: 'DaemonSet',
      apiVersion: 'apps/v1',
      resource: 'daemonsets',
      all: (p) => apps.listDaemonSetForAllNamespaces(p),
      namespaced: (namespace, p) => apps.listNamespacedDaemonSet({ namespace, ...p }),
    },
    {
      kind: 'Job',
      apiVersion: 'batch/v1',
      resource: 'jobs',
      all: (p) => batch.listJobForAllNamespaces(p),
      namespaced: (namespace, p) => batch.listNamespacedJob({ namespace, ...p }),
    },
    {
      kind: 'CronJob',
      apiVersion: 'batch/v1',
      resource: 'cronjobs',
      all: (p) => batch.listCronJobForAllNamespaces(p),
      namespaced: (namespace, p) => batch.listNamespacedCronJob({ namespace, ...p }),
    },
  ];
}

/** Objects per list call; larger lists are read in pages. */
export const PAGE_SIZE = 500;

/** Every object of one kind; undefined when a discovered kind is no longer served. */
async function listAll(lister: Lister, namespace: string | undefined, server: string): Promise<KubeObject[] | undefined> {
  if (lister.clusterScoped === true && namespace !== undefined) return [];
  const objects: KubeObject[] = [];
  let token: string | undefined;
  do {
    const params: PageParams = token === undefined ? { limit: PAGE_SIZE } : { limit: PAGE_SIZE, _continue: token };
    let page: ListPage;
    try {
      page = namespace === undefined || lister.clusterScoped === true ? await lister.all(params) : await lister.namespaced(namespace, params);
    } catch (error) {
      if (lister.discovered === true && apiStatus(error) === 404) return undefined;
      throw describeApiError(error, `list ${lister.resource} ${namespace === undefined ? 'in all namespaces' : `in namespace ${namespace}`}`, server);
    }
    for (const item of page.items) {
      // Typed list items carry neither apiVersion nor kind; the engine needs both to find the pod spec.
      objects.push({ ...(item as KubeObject), apiVersion: lister.apiVersion, kind: lister.kind });
    }
    const next = page.metadata?._continue ?? page.metadata?.continue;
    token = next === undefined || next === '' ? undefined : next;
  } while (token !== undefined);
  return objects;
}

/** What discovery says about an API group: the versions it serves and the one it prefers. */
type GroupVersions = Pick<V1APIGroup, 'versions' | 'preferredVersion'>;

/**
 * The versions to look for a kind at: those of its table row (the paths were
 * read for them) that the group serves, the group's preferred one first; a
 * Config kind names no versions, so every served one.
 */
export function versionsToTry(kind: Pick<ListedKind, 'versions'>, group: GroupVersions | undefined): string[] {
  if (group === undefined) return [];
  const served = group.versions.map((entry) => entry.version);
  const known = kind.versions.length === 0 ? served : kind.versions.filter((version) => served.includes(version));
  const preferred = group.preferredVersion?.version;
  return preferred !== undefined && known.includes(preferred) ? [preferred, ...known.filter((version) => version !== preferred)] : known;
}

export interface WorkloadListing {
  readonly objects: KubeObject[];
  /** Custom kinds the cluster does not serve (`group/Kind`), skipped. */
  readonly absentKinds: string[];
}

/** Listers for the custom kinds the cluster serves, found through discovery (GET /apis, then /apis/GROUP/VERSION). */
async function discoveredListers(config: KubeConfig, kinds: readonly ListedKind[], server: string): Promise<{ listers: Lister[]; absent: ListedKind[] }> {
  if (kinds.length === 0) return { listers: [], absent: [] };
  let groups: readonly V1APIGroup[];
  try {
    groups = (await config.makeApiClient(ApisApi).getAPIVersions()).groups;
  } catch (error) {
    throw describeApiError(error, 'discover the API groups', server);
  }
  const custom = config.makeApiClient(CustomObjectsApi);
  const resourceLists = new Map<string, Promise<readonly V1APIResource[]>>();
  const resourcesOf = (group: string, version: string): Promise<readonly V1APIResource[]> => {
    const key = `${group}/${version}`;
    let list = resourceLists.get(key);
    if (list === undefined) {
      list = custom.getAPIResources({ group, version }).then(
        (found) => found.resources,
        (error: unknown) => {
          // Discovery said the group serves it; gone since (a CRD deleted) is the same as absent.
          if (apiStatus(error) === 404) return [];
          throw describeApiError(error, `discover the resources of ${key}`, server);
        },
      );
      resourceLists.set(key, list);
    }
    return list;
  };
  const listers: Lister[] = [];
  const absent: ListedKind[] = [];
  await Promise.all(
    kinds.map(async (kind) => {
      for (const version of versionsToTry(
        kind,
        groups.find((group) => group.name === kind.group),
      )) {
        const resource = (await resourcesOf(kind.group, version)).find((entry) => entry.kind === kind.kind && !entry.name.includes('/'));
        if (resource === undefined) continue;
        const base = { group: kind.group, version };
        const plural = resource.name;
        listers.push({
          kind: kind.kind,
          apiVersion: `${kind.group}/${version}`,
          resource: `${plural}.${kind.group}`,
          clusterScoped: !resource.namespaced,
          discovered: true,
          all: (p) =>
            (resource.namespaced
              ? custom.listCustomObjectForAllNamespaces({ ...base, resourcePlural: plural, ...p })
              : custom.listClusterCustomObject({ ...base, plural, ...p })) as Promise<ListPage>,
          namespaced: (namespace, p) => custom.listNamespacedCustomObject({ ...base, namespace, plural, ...p }) as Promise<ListPage>,
        });
        return;
      }
      absent.push(kind);
    }),
  );
  return { listers, absent };
}

/**
 * Every object of the kinds that carry a pod spec, in one namespace or
 * (undefined) all of them: Kubernetes' own kinds, and those of `customKinds`
 * the cluster serves. Cluster-scoped kinds are listed for all namespaces only.
 */
export async function listWorkloads(config: KubeConfig, namespace: string | undefined, customKinds: readonly ListedKind[] = []): Promise<WorkloadListing> {
  const server = config.getCurrentCluster()?.server ?? '(unknown)';
  const [listed, found] = await Promise.allSettled([
    Promise.all(listers(config).map((lister) => listAll(lister, namespace, server))),
    discoveredListers(config, customKinds, server).then(async ({ listers: found, absent }) => {
      const lists = await Promise.all(found.map(async (lister) => ({ lister, objects: await listAll(lister, namespace, server) })));
      const gone = lists.filter((entry) => entry.objects === undefined).map((entry) => `${entry.lister.apiVersion.split('/')[0]}/${entry.lister.kind}`);
      return { objects: lists.flatMap((entry) => entry.objects ?? []), absent: [...absent.map(kindName), ...gone] };
    }),
  ]);
  // An unreachable or untrusted cluster fails both; say it the same way every time (the listing's error first).
  if (listed.status === 'rejected') throw listed.reason;
  if (found.status === 'rejected') throw found.reason;
  const [builtIn, discovered] = [listed.value, found.value];
  return { objects: [...builtIn.flatMap((objects) => objects ?? []), ...discovered.objects], absentKinds: discovered.absent.sort() };
}
