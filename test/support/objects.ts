/**
 * Kubernetes objects and AdmissionReviews shaped as the API server sends them
 * (fields copied from a v1.35 AdmissionReview for a Pod CREATE).
 */
export const DIGEST = `sha256:${'a'.repeat(64)}`;
export const PINNED = `ghcr.io/acme/models/llama@${DIGEST}`;
export const UNPINNED = 'ghcr.io/acme/models/llama:v1';

export interface ImageVolume {
  readonly name: string;
  readonly reference: string;
}

export type Json = Record<string, unknown>;

export function podSpec(volumes: readonly ImageVolume[]): Json {
  return {
    containers: [
      {
        name: 'server',
        image: 'registry.k8s.io/pause:3.10',
        volumeMounts: volumes.map((volume) => ({ name: volume.name, mountPath: `/models/${volume.name}`, readOnly: true })),
      },
    ],
    volumes: [
      { name: 'scratch', emptyDir: {} },
      ...volumes.map((volume) => ({ name: volume.name, image: { reference: volume.reference, pullPolicy: 'IfNotPresent' } })),
    ],
  };
}

const template = (volumes: readonly ImageVolume[]): Json => ({ metadata: { labels: { app: 'llm' } }, spec: podSpec(volumes) });

/** One object of each kind that carries a pod spec, plus the field path prefix of its volumes. */
export const KINDS: readonly { apiVersion: string; kind: string; resource: string; prefix: string; make: (volumes: readonly ImageVolume[]) => Json }[] = [
  { apiVersion: 'v1', kind: 'Pod', resource: 'pods', prefix: 'spec', make: (v) => ({ spec: podSpec(v) }) },
  { apiVersion: 'v1', kind: 'PodTemplate', resource: 'podtemplates', prefix: 'template.spec', make: (v) => ({ template: template(v) }) },
  {
    apiVersion: 'v1',
    kind: 'ReplicationController',
    resource: 'replicationcontrollers',
    prefix: 'spec.template.spec',
    make: (v) => ({ spec: { replicas: 1, selector: { app: 'llm' }, template: template(v) } }),
  },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    resource: 'deployments',
    prefix: 'spec.template.spec',
    make: (v) => ({ spec: { replicas: 2, selector: { matchLabels: { app: 'llm' } }, template: template(v) } }),
  },
  {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    resource: 'replicasets',
    prefix: 'spec.template.spec',
    make: (v) => ({ spec: { selector: { matchLabels: { app: 'llm' } }, template: template(v) } }),
  },
  {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    resource: 'statefulsets',
    prefix: 'spec.template.spec',
    make: (v) => ({ spec: { serviceName: 'llm', selector: { matchLabels: { app: 'llm' } }, template: template(v) } }),
  },
  {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    resource: 'daemonsets',
    prefix: 'spec.template.spec',
    make: (v) => ({ spec: { selector: { matchLabels: { app: 'llm' } }, template: template(v) } }),
  },
  {
    apiVersion: 'batch/v1',
    kind: 'Job',
    resource: 'jobs',
    prefix: 'spec.template.spec',
    make: (v) => ({ spec: { template: { ...template(v), spec: { ...podSpec(v), restartPolicy: 'Never' } } } }),
  },
  {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    resource: 'cronjobs',
    prefix: 'spec.jobTemplate.spec.template.spec',
    make: (v) => ({
      spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: { ...template(v), spec: { ...podSpec(v), restartPolicy: 'Never' } } } } },
    }),
  },
];

export function kubeObject(kind: string, volumes: readonly ImageVolume[], metadata: Json = {}): Json {
  const entry = KINDS.find((candidate) => candidate.kind === kind);
  if (entry === undefined) throw new Error(`no fixture for kind ${kind}`);
  return {
    apiVersion: entry.apiVersion,
    kind,
    metadata: { name: 'llm', namespace: 'team-a', uid: 'a2b1c6f4-0000-4000-8000-000000000001', ...metadata },
    ...entry.make(volumes),
  };
}

let uidCounter = 0;

export interface ReviewOptions {
  readonly operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  readonly oldObject?: Json | null;
  readonly dryRun?: boolean;
  readonly namespace?: string;
  readonly subResource?: string;
}

/** An admission.k8s.io/v1 AdmissionReview for the object, as kube-apiserver sends it. */
export function admissionReview(object: Json | null, options: ReviewOptions = {}): Json {
  const source = object ?? options.oldObject ?? {};
  const apiVersion = String(source['apiVersion'] ?? 'v1');
  const kind = String(source['kind'] ?? 'Pod');
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const resource = KINDS.find((entry) => entry.kind === kind)?.resource ?? `${kind.toLowerCase()}s`;
  const metadata = (source['metadata'] ?? {}) as Json;
  const operation = options.operation ?? 'CREATE';
  uidCounter += 1;
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: `0df28fbd-5f5f-4d0b-9a7c-${String(uidCounter).padStart(12, '0')}`,
      kind: { group, version, kind },
      resource: { group, version, resource },
      requestKind: { group, version, kind },
      requestResource: { group, version, resource },
      ...(options.subResource === undefined ? {} : { subResource: options.subResource }),
      name: metadata['name'] ?? '',
      namespace: options.namespace ?? metadata['namespace'] ?? 'default',
      operation,
      userInfo: { username: 'kubernetes-admin', groups: ['kubeadm:cluster-admins', 'system:authenticated'] },
      object,
      oldObject: options.oldObject ?? null,
      dryRun: options.dryRun ?? false,
      options: {
        kind: `${operation === 'CREATE' ? 'Create' : operation === 'UPDATE' ? 'Update' : 'Delete'}Options`,
        apiVersion: 'meta.k8s.io/v1',
        fieldManager: 'kubectl-client-side-apply',
        fieldValidation: 'Strict',
      },
    },
  };
}
