/**
 * Reading a live cluster for `modelgate audit` and `explain`: the kubeconfig
 * (KUBECONFIG, ~/.kube/config, --kubeconfig, --context, or the in-cluster
 * service account), every object that carries a pod spec, and the policy
 * ConfigMaps. Kubernetes' own workload kinds are always there; custom ones
 * (the AI workloads, the Config's workloads) are found through API discovery
 * and listed where the cluster serves them. API errors become ClusterError
 * with a message that says what could not be read and why (unreachable, TLS,
 * unauthorized, forbidden), never a stack trace.
 */
import { ApisApi, AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { V1APIGroup, V1APIResource, V1ConfigMap, V1ConfigMapList } from '@kubernetes/client-node';
import { kindName } from '../admission/kinds.ts';
import type { WorkloadKind } from '../admission/kinds.ts';
import type { KubeObject } from '../admission/objects.ts';
import { POLICY_LABEL_SELECTOR } from '../kube/policy-configmaps.ts';
import { isPlainObject } from '../core/guards.ts';
import { UsageError } from './usage.ts';

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

export interface KubeConfigOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}

/** The kubeconfig as kubectl would pick it. Throws UsageError for an unknown context or when no cluster is configured at all. */
export function loadClusterConfig(options: KubeConfigOptions): KubeConfig {
  const config = new KubeConfig();
  try {
    if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new UsageError(`cannot load the kubeconfig${options.kubeconfig === undefined ? '' : ` ${options.kubeconfig}`}: ${(error as Error).message}`);
  }
  if (options.context !== undefined) {
    if (config.getContextObject(options.context) === null) {
      const known = config.getContexts().map((context) => context.name);
      throw new UsageError(`context ${JSON.stringify(options.context)} is not in the kubeconfig (contexts: ${known.length === 0 ? 'none' : known.join(', ')})`);
    }
    config.setCurrentContext(options.context);
  }
  const cluster = config.getCurrentCluster();
  // loadFromDefault falls back to http://localhost:8080 when it finds nothing: say so instead of trying it.
  if (cluster === null || (config.getCurrentContext() === 'loaded-context' && cluster.server === 'http://localhost:8080')) {
    throw new UsageError('no cluster is configured: set KUBECONFIG or --kubeconfig, create ~/.kube/config, or run inside a cluster');
  }
  return config;
}

/** The namespace of the current context (as kubectl uses it), else `default`. */
export function contextNamespace(config: KubeConfig): string {
  const namespace = config.getContextObject(config.getCurrentContext())?.namespace;
  return namespace === undefined || namespace === '' ? 'default' : namespace;
}

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

const PAGE_SIZE = 500;

const TLS_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The root cause of a fetch failure: undici wraps the socket error in `cause`. */
function rootCause(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  for (let depth = 0; depth < 5; depth++) {
    if (!(current instanceof Error)) break;
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' || !(current.cause instanceof Error)) return { code: typeof code === 'string' ? code : undefined, message: current.message };
    current = current.cause;
  }
  return { code: undefined, message: String(error) };
}

function statusMessage(body: unknown): string | undefined {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : body.trim().slice(0, 300);
    }
  }
  return isPlainObject(value) && typeof value['message'] === 'string' ? value['message'] : undefined;
}

/** The HTTP status of a failed API call, when the API server answered. */
const apiStatus = (error: unknown): number | undefined => (isPlainObject(error) && typeof error['code'] === 'number' ? error['code'] : undefined);

/** A clear message for a failed API call: `what` is e.g. `list pods in all namespaces`. */
export function describeApiError(error: unknown, what: string, server: string): ClusterError {
  const code = apiStatus(error);
  if (code !== undefined) {
    const detail = statusMessage((error as { body?: unknown }).body);
    const suffix = detail === undefined ? '' : ` (the API server said: ${detail})`;
    if (code === 401) return new ClusterError(`cannot ${what}: unauthorized, the API server at ${server} rejected the credentials of the kubeconfig${suffix}`);
    if (code === 403) return new ClusterError(`cannot ${what}: forbidden${suffix}; the user needs RBAC list permission on it`);
    if (code === 404) return new ClusterError(`cannot ${what}: the API server at ${server} does not serve it (HTTP 404)${suffix}`);
    return new ClusterError(`cannot ${what}: HTTP ${code} from the API server at ${server}${suffix}`);
  }
  const cause = rootCause(error);
  const tls = cause.code !== undefined && (TLS_CODES.has(cause.code) || /CERT|SELF_SIGNED|TLS|SSL/.test(cause.code));
  // Node suggests --use-system-ca; for a cluster the fix is the kubeconfig's certificate-authority.
  const message = cause.message.replace(/; if the root CA is installed locally.*$/, '');
  const reason = tls
    ? `TLS verification failed (${cause.code}: ${message}); check the certificate-authority of the kubeconfig's cluster`
    : `${cause.code === undefined ? '' : `${cause.code}: `}${message}`;
  return new ClusterError(`cannot reach the cluster at ${server} to ${what}: ${reason}`);
}

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
export function versionsToTry(kind: Pick<WorkloadKind, 'versions'>, group: GroupVersions | undefined): string[] {
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
async function discoveredListers(config: KubeConfig, kinds: readonly WorkloadKind[], server: string): Promise<{ listers: Lister[]; absent: WorkloadKind[] }> {
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
  const absent: WorkloadKind[] = [];
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
export async function listWorkloads(config: KubeConfig, namespace: string | undefined, customKinds: readonly WorkloadKind[] = []): Promise<WorkloadListing> {
  const server = config.getCurrentCluster()?.server ?? '(unknown)';
  const [builtIn, discovered] = await Promise.all([
    Promise.all(listers(config).map((lister) => listAll(lister, namespace, server))),
    discoveredListers(config, customKinds, server).then(async ({ listers: found, absent }) => {
      const lists = await Promise.all(found.map(async (lister) => ({ lister, objects: await listAll(lister, namespace, server) })));
      const gone = lists.filter((entry) => entry.objects === undefined).map((entry) => `${entry.lister.apiVersion.split('/')[0]}/${entry.lister.kind}`);
      return { objects: lists.flatMap((entry) => entry.objects ?? []), absent: [...absent.map(kindName), ...gone] };
    }),
  ]);
  return { objects: [...builtIn.flatMap((objects) => objects ?? []), ...discovered.objects], absentKinds: discovered.absent.sort() };
}

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
