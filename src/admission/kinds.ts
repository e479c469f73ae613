/**
 * The object kinds that carry pod specs, and where: Kubernetes' own workloads
 * and the AI workloads that operators turn into them (LeaderWorkerSet, JobSet,
 * KServe, KubeRay, Kubeflow, Argo). A workload is judged when it is applied,
 * not when its operator later fails to create pods and the denial lands in an
 * operator's log. One row per kind; paths were read from each project's CRD
 * schema and Go API types (versions named in the comments). A Config can add
 * kinds (`workloads`).
 */
import { parsePathPattern } from '../core/paths.ts';
import type { WorkloadSetting } from '../policy/types.ts';
import type { PathPattern } from '../core/paths.ts';

/** Something that holds pod-level fields (serviceAccountName, imagePullSecrets) and volume lists: a PodSpec, or what inlines one. */
export interface PodSource {
  readonly at: PathPattern;
  /** Volume lists, relative to `at`; a PodSpec has one, `volumes`. */
  readonly volumes: readonly PathPattern[];
  /** Model storage URIs, relative to `at`; `oci://` ones are OCI model references (KServe modelcars). */
  readonly storageUris: readonly PathPattern[];
  /** Strings holding a strategic-merge patch of a PodSpec (Argo podSpecPatch), relative to `at`. */
  readonly podSpecPatches: readonly PathPattern[];
}

export interface WorkloadKind {
  readonly group: string;
  readonly kind: string;
  /** The plural resource name, for webhook rules and audit's listing. */
  readonly resource: string;
  readonly versions: readonly string[];
  readonly namespaced: boolean;
  readonly sources: readonly PodSource[];
  /** Built in, or from the Config's `workloads`. */
  readonly origin: 'kubernetes' | 'ai-workload' | 'config';
}

interface SourceSpec {
  readonly at: string;
  readonly volumes?: readonly string[];
  readonly storageUris?: readonly string[];
  readonly podSpecPatches?: readonly string[];
}

export function podSource(spec: SourceSpec): PodSource {
  return {
    at: parsePathPattern(spec.at),
    volumes: (spec.volumes ?? ['volumes']).map(parsePathPattern),
    storageUris: (spec.storageUris ?? []).map(parsePathPattern),
    podSpecPatches: (spec.podSpecPatches ?? []).map(parsePathPattern),
  };
}

interface KindSpec {
  readonly group: string;
  readonly kind: string;
  readonly resource: string;
  readonly versions: readonly string[];
  readonly namespaced?: boolean;
  readonly sources: readonly (string | SourceSpec)[];
}

function kinds(origin: WorkloadKind['origin'], specs: readonly KindSpec[]): WorkloadKind[] {
  return specs.map((spec) => ({
    group: spec.group,
    kind: spec.kind,
    resource: spec.resource,
    versions: spec.versions,
    namespaced: spec.namespaced ?? true,
    sources: spec.sources.map((source) => podSource(typeof source === 'string' ? { at: source } : source)),
    origin,
  }));
}

const TEMPLATE = 'spec.template.spec';

const KUBERNETES: readonly WorkloadKind[] = kinds('kubernetes', [
  { group: '', kind: 'Pod', resource: 'pods', versions: ['v1'], sources: ['spec'] },
  { group: '', kind: 'PodTemplate', resource: 'podtemplates', versions: ['v1'], sources: ['template.spec'] },
  { group: '', kind: 'ReplicationController', resource: 'replicationcontrollers', versions: ['v1'], sources: [TEMPLATE] },
  { group: 'apps', kind: 'Deployment', resource: 'deployments', versions: ['v1'], sources: [TEMPLATE] },
  { group: 'apps', kind: 'ReplicaSet', resource: 'replicasets', versions: ['v1'], sources: [TEMPLATE] },
  { group: 'apps', kind: 'StatefulSet', resource: 'statefulsets', versions: ['v1'], sources: [TEMPLATE] },
  { group: 'apps', kind: 'DaemonSet', resource: 'daemonsets', versions: ['v1'], sources: [TEMPLATE] },
  { group: 'batch', kind: 'Job', resource: 'jobs', versions: ['v1'], sources: [TEMPLATE] },
  { group: 'batch', kind: 'CronJob', resource: 'cronjobs', versions: ['v1'], sources: ['spec.jobTemplate.spec.template.spec'] },
]);

/** KServe inlines PodSpec fields into each component; the predictor's model (and the older framework fields) name storage URIs. */
const KSERVE_FRAMEWORKS = ['sklearn', 'xgboost', 'tensorflow', 'pytorch', 'triton', 'onnx', 'huggingface', 'pmml', 'lightgbm', 'paddle'];
const predictor = (at: string): SourceSpec[] => [
  { at, storageUris: ['model.storageUri', 'storageUris[].uri', ...KSERVE_FRAMEWORKS.map((framework) => `${framework}.storageUri`)] },
  { at: `${at}.workerSpec` },
];
const RAY_CLUSTER = (at: string): string[] => [`${at}.headGroupSpec.template.spec`, `${at}.workerGroupSpecs[].template.spec`];
const JOBSET_PODS = 'replicatedJobs[].template.spec.template.spec';
/** Argo templates are not PodSpecs: volumes sit at the workflow and in templates, and podSpecPatch strings can add more. */
const ARGO = (at: string): SourceSpec => ({
  at,
  volumes: ['volumes', 'templates[].volumes', 'templateDefaults.volumes', 'templates[].steps[][].inline.volumes', 'templates[].dag.tasks[].inline.volumes'],
  podSpecPatches: ['podSpecPatch', 'templates[].podSpecPatch', 'templateDefaults.podSpecPatch'],
});
const kubeflowV1 = (kind: string, replicas: string): KindSpec => ({
  group: 'kubeflow.org',
  kind,
  resource: `${kind.toLowerCase()}s`,
  versions: ['v1'],
  sources: [`spec.${replicas}.*.template.spec`],
});

const AI_WORKLOADS: readonly WorkloadKind[] = kinds('ai-workload', [
  // sigs.k8s.io/lws v0.9.0, api/leaderworkerset/v1
  {
    group: 'leaderworkerset.x-k8s.io',
    kind: 'LeaderWorkerSet',
    resource: 'leaderworkersets',
    versions: ['v1'],
    sources: ['spec.leaderWorkerTemplate.leaderTemplate.spec', 'spec.leaderWorkerTemplate.workerTemplate.spec'],
  },
  // sigs.k8s.io/jobset v0.12.0, api/jobset/v1alpha2
  { group: 'jobset.x-k8s.io', kind: 'JobSet', resource: 'jobsets', versions: ['v1alpha2'], sources: [`spec.${JOBSET_PODS}`] },
  // github.com/kserve/kserve v0.20.0, pkg/apis/serving/v1beta1 and v1alpha1
  {
    group: 'serving.kserve.io',
    kind: 'InferenceService',
    resource: 'inferenceservices',
    versions: ['v1beta1'],
    sources: [
      ...predictor('spec.predictor'),
      { at: 'spec.transformer', storageUris: ['storageUris[].uri'] },
      { at: 'spec.explainer', storageUris: ['art.storageUri', 'storageUris[].uri'] },
      ...predictor('spec.canary[].predictor'),
    ],
  },
  { group: 'serving.kserve.io', kind: 'ServingRuntime', resource: 'servingruntimes', versions: ['v1alpha1'], sources: ['spec', 'spec.workerSpec'] },
  {
    group: 'serving.kserve.io',
    kind: 'ClusterServingRuntime',
    resource: 'clusterservingruntimes',
    versions: ['v1alpha1'],
    namespaced: false,
    sources: ['spec', 'spec.workerSpec'],
  },
  // github.com/ray-project/kuberay/ray-operator v1.6.2, apis/ray/v1 (v1alpha1 still served)
  { group: 'ray.io', kind: 'RayCluster', resource: 'rayclusters', versions: ['v1', 'v1alpha1'], sources: RAY_CLUSTER('spec') },
  {
    group: 'ray.io',
    kind: 'RayJob',
    resource: 'rayjobs',
    versions: ['v1', 'v1alpha1'],
    sources: [...RAY_CLUSTER('spec.rayClusterSpec'), 'spec.submitterPodTemplate.spec'],
  },
  { group: 'ray.io', kind: 'RayService', resource: 'rayservices', versions: ['v1', 'v1alpha1'], sources: RAY_CLUSTER('spec.rayClusterConfig') },
  {
    group: 'ray.io',
    kind: 'RayCronJob',
    resource: 'raycronjobs',
    versions: ['v1'],
    sources: [...RAY_CLUSTER('spec.jobTemplate.rayClusterSpec'), 'spec.jobTemplate.submitterPodTemplate.spec'],
  },
  // github.com/kubeflow/trainer/v2 v2.3.0: runtimes embed a JobSet; a TrainJob patches pods
  // (runtimePatches since v2.2, podTemplateOverrides in v2.1, podSpecOverrides in v2.0).
  {
    group: 'trainer.kubeflow.org',
    kind: 'TrainJob',
    resource: 'trainjobs',
    versions: ['v1alpha1'],
    sources: [`spec.runtimePatches[].trainingRuntimeSpec.template.spec.${JOBSET_PODS}`, 'spec.podTemplateOverrides[].spec', 'spec.podSpecOverrides[]'],
  },
  {
    group: 'trainer.kubeflow.org',
    kind: 'TrainingRuntime',
    resource: 'trainingruntimes',
    versions: ['v1alpha1'],
    sources: [`spec.template.spec.${JOBSET_PODS}`],
  },
  {
    group: 'trainer.kubeflow.org',
    kind: 'ClusterTrainingRuntime',
    resource: 'clustertrainingruntimes',
    versions: ['v1alpha1'],
    namespaced: false,
    sources: [`spec.template.spec.${JOBSET_PODS}`],
  },
  // github.com/kubeflow/training-operator v1.9.4 (kubeflow.org/v1) and mpi-operator v0.8.0 (MPIJob v2beta1)
  kubeflowV1('PyTorchJob', 'pytorchReplicaSpecs'),
  kubeflowV1('TFJob', 'tfReplicaSpecs'),
  kubeflowV1('XGBoostJob', 'xgbReplicaSpecs'),
  kubeflowV1('PaddleJob', 'paddleReplicaSpecs'),
  kubeflowV1('JAXJob', 'jaxReplicaSpecs'),
  { group: 'kubeflow.org', kind: 'MPIJob', resource: 'mpijobs', versions: ['v2beta1', 'v1'], sources: ['spec.mpiReplicaSpecs.*.template.spec'] },
  // github.com/argoproj/argo-workflows/v3 v3.7.18, pkg/apis/workflow/v1alpha1
  { group: 'argoproj.io', kind: 'Workflow', resource: 'workflows', versions: ['v1alpha1'], sources: [ARGO('spec')] },
  { group: 'argoproj.io', kind: 'WorkflowTemplate', resource: 'workflowtemplates', versions: ['v1alpha1'], sources: [ARGO('spec')] },
  {
    group: 'argoproj.io',
    kind: 'ClusterWorkflowTemplate',
    resource: 'clusterworkflowtemplates',
    versions: ['v1alpha1'],
    namespaced: false,
    sources: [ARGO('spec')],
  },
  { group: 'argoproj.io', kind: 'CronWorkflow', resource: 'cronworkflows', versions: ['v1alpha1'], sources: [ARGO('spec.workflowSpec')] },
]);

export const BUILT_IN_KINDS: readonly WorkloadKind[] = [...KUBERNETES, ...AI_WORKLOADS];
export const AI_WORKLOAD_KINDS: readonly WorkloadKind[] = AI_WORKLOADS;
export const KUBERNETES_KINDS: readonly WorkloadKind[] = KUBERNETES;

const keyOf = (group: string, kind: string): string => `${group}/${kind}`;
const BUILT_IN: ReadonlyMap<string, WorkloadKind> = new Map(BUILT_IN_KINDS.map((kind) => [keyOf(kind.group, kind.kind), kind]));

const fromSettings = new WeakMap<readonly WorkloadSetting[], ReadonlyMap<string, WorkloadKind>>();

/** The Config's `workloads` as table rows (validated when the Config loaded), made once per Config. */
function configKinds(settings: readonly WorkloadSetting[]): ReadonlyMap<string, WorkloadKind> {
  let made = fromSettings.get(settings);
  if (made === undefined) {
    made = new Map(
      settings.map((setting): [string, WorkloadKind] => [
        keyOf(setting.group, setting.kind),
        {
          group: setting.group,
          kind: setting.kind,
          resource: `${setting.kind.toLowerCase()}s`,
          versions: [],
          namespaced: setting.namespaced ?? true,
          sources: setting.podSpecPaths.map((at) => podSource({ at })),
          origin: 'config',
        },
      ]),
    );
    fromSettings.set(settings, made);
  }
  return made;
}

/** The kind's table row: a Config entry, else a built-in one (a Config may describe a kind anew). */
export function workloadKind(group: string, kind: string, settings: readonly WorkloadSetting[] = []): WorkloadKind | undefined {
  const key = keyOf(group, kind);
  return (settings.length === 0 ? undefined : configKinds(settings).get(key)) ?? BUILT_IN.get(key);
}

/** `apps/v1` → `apps`, `v1` → `` (core). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

/** `apps/Deployment`, `Pod` (core), as in metrics and messages. */
export function kindName(kind: Pick<WorkloadKind, 'group' | 'kind'>): string {
  return kind.group === '' ? kind.kind : `${kind.group}/${kind.kind}`;
}

export const SUPPORTED_KINDS: readonly string[] = BUILT_IN_KINDS.map(kindName);
