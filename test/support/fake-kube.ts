/**
 * An in-process fake of the Kubernetes API on loopback for the CLI tests:
 * discovery (GET /apis, /apis/GROUP/VERSION), and list endpoints of Kubernetes'
 * own workload kinds, ConfigMaps and any custom resource a test adds, paginated
 * with continue tokens and filtered by label selector. test/e2e/audit.test.ts
 * runs the same commands against a real kube-apiserver.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer } from './fake-servers.ts';
import type { RunningServer } from './fake-servers.ts';
import type { Json } from './objects.ts';

export interface FakeResource {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export interface FakeApi {
  readonly server: RunningServer;
  /** A kubeconfig with contexts `fake` (namespace lab, current) and `other` (namespace team-a). */
  readonly kubeconfig: string;
  /** Objects with apiVersion and kind; listed by the resource of their group and kind. */
  objects: Json[];
  configMaps: Json[];
  /** Plural names whose lists answer 403. */
  forbidden: Set<string>;
  /** Resources served besides Kubernetes' own (custom resources). */
  custom: FakeResource[];
  /** Groups whose discovery lists these versions, the first preferred (default: the versions of its resources). */
  groupVersions: Map<string, string[]>;
  readonly requests: string[];
}

const core = (kind: string, plural: string): FakeResource => ({ group: '', version: 'v1', kind, plural, namespaced: true });
const apps = (kind: string, plural: string): FakeResource => ({ group: 'apps', version: 'v1', kind, plural, namespaced: true });
const batch = (kind: string, plural: string): FakeResource => ({ group: 'batch', version: 'v1', kind, plural, namespaced: true });

const BUILT_IN: readonly FakeResource[] = [
  core('Pod', 'pods'),
  core('PodTemplate', 'podtemplates'),
  core('ReplicationController', 'replicationcontrollers'),
  core('ConfigMap', 'configmaps'),
  apps('Deployment', 'deployments'),
  apps('ReplicaSet', 'replicasets'),
  apps('StatefulSet', 'statefulsets'),
  apps('DaemonSet', 'daemonsets'),
  batch('Job', 'jobs'),
  batch('CronJob', 'cronjobs'),
];

/** Items per page, small so that every list is paginated with continue tokens. */
const PAGE = 2;

const NOT_FOUND = {
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: 'the server could not find the requested resource',
  reason: 'NotFound',
  code: 404,
};

export async function startFakeApi(dir: string): Promise<FakeApi> {
  const state = {
    objects: [] as Json[],
    configMaps: [] as Json[],
    forbidden: new Set<string>(),
    custom: [] as FakeResource[],
    groupVersions: new Map<string, string[]>(),
  };
  const requests: string[] = [];
  const resources = (): FakeResource[] => [...BUILT_IN, ...state.custom];
  const server = await startServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/apis') {
      const groups = [
        ...new Set(
          resources()
            .filter((r) => r.group !== '')
            .map((r) => r.group),
        ),
      ].map((name) => {
        const versions = state.groupVersions.get(name) ?? [
          ...new Set(
            resources()
              .filter((r) => r.group === name)
              .map((r) => r.version),
          ),
        ];
        return {
          name,
          versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        };
      });
      send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
      return;
    }
    const discovery = /^\/apis\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (discovery !== null) {
      const served = resources().filter((r) => r.group === discovery[1] && r.version === discovery[2]);
      if (served.length === 0) return send(404, NOT_FOUND);
      send(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: `${discovery[1]}/${discovery[2]}`,
        resources: served.map((r) => ({ name: r.plural, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['list'] })),
      });
      return;
    }
    const match = /^(?:\/api\/(v1)|\/apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([a-z]+)$/.exec(url.pathname);
    const group = match?.[2] ?? '';
    const version = match?.[1] ?? match?.[3];
    const resource = match === null ? undefined : resources().find((r) => r.group === group && r.version === version && r.plural === match[5]);
    if (match === null || resource === undefined) return send(404, NOT_FOUND);
    const namespace = match[4];
    if (state.forbidden.has(resource.plural)) {
      const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      // As kube-apiserver words it: `pods is forbidden`, `replicasets.apps is forbidden`.
      return send(403, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: `${resource.plural}${group === '' ? '' : `.${group}`} is forbidden: User "jane" cannot list resource "${resource.plural}" in API group "${group}" ${scope}`,
        reason: 'Forbidden',
        code: 403,
      });
    }
    const groupOf = (o: Json): string => (String(o['apiVersion']).includes('/') ? (String(o['apiVersion']).split('/')[0] ?? '') : '');
    const source = resource.kind === 'ConfigMap' ? state.configMaps : state.objects.filter((o) => o['kind'] === resource.kind && groupOf(o) === group);
    const selector = url.searchParams.get('labelSelector');
    const items = source
      .filter((o) => namespace === undefined || (o['metadata'] as Json)['namespace'] === namespace)
      .filter((o) => {
        if (selector === null) return true;
        const [key, wanted] = selector.split('=');
        return ((o['metadata'] as Json)['labels'] as Json | undefined)?.[key as string] === wanted;
      })
      // Lists of Kubernetes' own kinds come without kind and apiVersion per item (custom resources keep theirs).
      .map((o) => (group === '' || group === 'apps' || group === 'batch' ? (({ kind: _kind, apiVersion: _apiVersion, ...rest }) => rest)(o) : o));
    const start = Number(url.searchParams.get('continue') ?? '0');
    const page = items.slice(start, start + PAGE);
    const next = start + PAGE < items.length ? String(start + PAGE) : undefined;
    send(200, {
      kind: `${resource.kind}List`,
      apiVersion: group === '' ? version : `${group}/${version}`,
      metadata: { resourceVersion: '7', ...(next === undefined ? {} : { continue: next }) },
      items: page,
    });
  });
  const kubeconfig = join(dir, `kubeconfig-${server.port}`);
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node refuses plain HTTP unless TLS verification is off; the fake serves HTTP on loopback only.
      clusters: [{ name: 'fake', cluster: { server: server.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'jane', user: { token: 'fake-token' } }],
      contexts: [
        { name: 'fake', context: { cluster: 'fake', user: 'jane', namespace: 'lab' } },
        { name: 'other', context: { cluster: 'fake', user: 'jane', namespace: 'team-a' } },
      ],
      'current-context': 'fake',
    }),
  );
  return Object.assign(state, { server, kubeconfig, requests });
}
