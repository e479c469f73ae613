/**
 * The commands and their flags: what each parses, and what its --help and
 * the overview print. Light on purpose: `modelgate --help` and
 * `modelgate check --help` read only this, never a command's own module.
 */
import { HELP_FLAG } from './flags.ts';
import type { Flags } from './flags.ts';

export interface CommandSpec<F extends Flags = Flags> {
  readonly name: string;
  /** Usage lines, without `modelgate `. */
  readonly synopsis: readonly string[];
  /** One line for the overview. */
  readonly summary: string;
  /** What the command does, a few lines. */
  readonly about: string;
  readonly flags: F;
  /** After the flags: defaults, sources, caveats. */
  readonly notes?: string;
}

export const DEFAULT_POLICY_NAMESPACE = 'modelgate';

const policyFlags = {
  policy: {
    type: 'string',
    multiple: true,
    value: 'PATH',
    env: 'MODELGATE_POLICY, comma-separated',
    help: 'ModelPolicy file or directory; repeatable',
  },
  config: { type: 'string', value: 'FILE', env: 'MODELGATE_CONFIG', help: 'Config document (defaultAction, registries, credentials, timeouts, ...)' },
} as const;

const clusterPolicyFlags = {
  'policy-namespace': {
    type: 'string',
    default: DEFAULT_POLICY_NAMESPACE,
    value: 'NS',
    help: 'where the webhook runs and its policy ConfigMaps (label modelgate.dev/policy=true) are (default modelgate)',
  },
  'namespaced-policies': {
    type: 'boolean',
    default: false,
    help: "also each namespace's labelled ConfigMaps, confined to it (as the Config's namespacedPolicies)",
  },
} as const;

const kubeconfigFlags = {
  context: { type: 'string', value: 'CTX', help: 'kubeconfig context (default: the current one)' },
  kubeconfig: { type: 'string', value: 'FILE', help: 'kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster service account)' },
} as const;

const offlineFlag = { type: 'boolean', default: false, help: 'contact no registry; registry-backed rules then fail as spec.onError says' } as const;

const POLICY_RULE = `Policy: --policy (or MODELGATE_POLICY) when given; otherwise, when a cluster is configured, the ConfigMaps
labelled modelgate.dev/policy=true in --policy-namespace, as the webhook reads them; otherwise the bundled
manifests/policy.yaml (digest pinning everywhere). --config adds a Config document to whichever is used.
The output names the policy used and its revision.`;

export const CHECK = {
  name: 'check',
  summary: 'judge manifests (files, directories, stdin) as the webhook would',
  synopsis: ['check -f FILE|DIR|- [-f ...] [-n NAMESPACE] [--policy PATH]... [--config FILE] [-o table|json] [--offline] [--allow-empty]'],
  about: 'Judges the objects in manifests as the webhook judges a CREATE of each.',
  flags: {
    filename: {
      type: 'string',
      short: 'f',
      multiple: true,
      value: 'FILE|DIR|-',
      help: 'manifests: a file, a directory (every *.yaml, *.yml and *.json in it and below, in name order,\nas kubectl -R reads them), or - for stdin; repeatable',
    },
    recursive: { type: 'boolean', short: 'R', default: false, help: 'accepted for kubectl habits: directories are always read recursively' },
    namespace: {
      type: 'string',
      short: 'n',
      default: 'default',
      value: 'NS',
      help: 'namespace of objects that name none, as kubectl apply -n puts them (default default)',
    },
    ...policyFlags,
    output: { type: 'string', short: 'o', default: 'table', value: 'table|json', help: 'output format (default table)' },
    offline: offlineFlag,
    'allow-empty': { type: 'boolean', default: false, help: 'accept input without any Kubernetes object (exit 0 instead of 2)' },
    help: HELP_FLAG,
  },
  notes: `Policy: --policy (or MODELGATE_POLICY), else the bundled manifests/policy.yaml (digest pinning everywhere);
check never reads a cluster, so CI verdicts depend on the files alone. The output names the policy used.`,
} as const satisfies CommandSpec;

export const AUDIT = {
  name: 'audit',
  summary: 'judge what already runs in a cluster, with the policy the webhook uses',
  synopsis: [
    'audit [-n NAMESPACE | -A] [--include-system-namespaces] [--policy PATH]... [--config FILE] [--policy-namespace NS]',
    '      [--context CTX] [--kubeconfig FILE] [--all-objects] [-o table|json] [--offline]',
  ],
  about: `Judges what already runs in a cluster: Pods, every workload kind with a pod template, and the AI
workloads (LeaderWorkerSet, JobSet, KServe, KubeRay, Kubeflow, Argo, and the Config's workloads) whose
kinds the cluster serves (found through API discovery; kinds it does not have are skipped).`,
  flags: {
    namespace: { type: 'string', short: 'n', value: 'NS', help: "audit this namespace (default: the context's namespace)" },
    'all-namespaces': { type: 'boolean', short: 'A', default: false, help: 'audit every namespace the webhook reviews' },
    'include-system-namespaces': {
      type: 'boolean',
      default: false,
      help: "also kube-system and the webhook's own namespace (--policy-namespace), which the webhook's\nnamespaceSelector leaves out",
    },
    ...policyFlags,
    ...clusterPolicyFlags,
    ...kubeconfigFlags,
    output: { type: 'string', short: 'o', default: 'table', value: 'table|json', help: 'output format (default table)' },
    'all-objects': { type: 'boolean', default: false, help: "report each object, also those made from an owner's template with its references" },
    offline: offlineFlag,
    help: HELP_FLAG,
  },
  notes: `Objects made from an owner's template (a Deployment's ReplicaSets and Pods) are reported at the owner while
their references are among the owner's. Cluster-scoped kinds are listed with -A only.
${POLICY_RULE}`,
} as const satisfies CommandSpec;

export const EXPLAIN = {
  name: 'explain',
  summary: 'the whole trace for one model reference',
  synopsis: [
    'explain REFERENCE [-n NAMESPACE] [--policy PATH]... [--config FILE] [--policy-namespace NS] [--context CTX]',
    '        [--kubeconfig FILE] [-o text|json] [--offline]',
  ],
  about: `The whole trace for one reference: parsed form, digest resolved from a tag, manifest, every matching
policy and rule, signature authorities, and the time of each step.`,
  flags: {
    namespace: {
      type: 'string',
      short: 'n',
      value: 'NS',
      help: "judge it as in this namespace (default: the context's namespace with a cluster's policy, else default)",
    },
    ...policyFlags,
    ...clusterPolicyFlags,
    ...kubeconfigFlags,
    output: { type: 'string', short: 'o', default: 'text', value: 'text|json', help: 'output format (default text)' },
    offline: offlineFlag,
    help: HELP_FLAG,
  },
  notes: POLICY_RULE,
} as const satisfies CommandSpec;

export const SERVE = {
  name: 'serve',
  summary: 'run the admission webhook',
  synopsis: [
    'serve [--port N] [--host ADDR] [--tls-cert FILE] [--tls-key FILE] [--policy PATH]... [--config FILE]',
    '      [--namespace NS] [--namespaced-policies] [--shutdown-delay SECONDS] [--cache-dir DIR]',
    '      [--tls-mode self-managed --tls-secret NAME --webhook-config NAME... [--tls-names NAMES]]',
  ],
  about: 'The admission webhook (HTTPS): POST /validate, GET /healthz, /readyz, /metrics.',
  flags: {
    port: { type: 'string', value: 'N', env: 'MODELGATE_PORT', help: 'HTTPS port (default 8443)' },
    host: { type: 'string', value: 'ADDR', env: 'MODELGATE_HOST', help: 'listen address (default: all)' },
    'tls-cert': { type: 'string', value: 'FILE', env: 'MODELGATE_TLS_CERT', help: 'serving certificate (default certs/tls.crt)' },
    'tls-key': { type: 'string', value: 'FILE', env: 'MODELGATE_TLS_KEY', help: 'serving key (default certs/tls.key)' },
    'tls-mode': {
      type: 'string',
      value: 'MODE',
      env: 'MODELGATE_TLS_MODE',
      help: 'files (default: --tls-cert and --tls-key as given) or self-managed (a CA and serving pair kept in\n--tls-secret, the CA written into each --webhook-config, the pair written to --tls-cert/--tls-key)',
    },
    'tls-secret': { type: 'string', value: 'NAME', env: 'MODELGATE_TLS_SECRET', help: 'self-managed: the Secret in --namespace that holds the CA and pair' },
    'webhook-config': {
      type: 'string',
      multiple: true,
      value: 'NAME',
      env: 'MODELGATE_WEBHOOK_CONFIGS, comma-separated',
      help: 'self-managed: a ValidatingWebhookConfiguration whose caBundle modelgate keeps; repeatable',
    },
    'tls-names': {
      type: 'string',
      value: 'NAMES',
      env: 'MODELGATE_TLS_NAMES',
      help: 'self-managed: DNS names and IP addresses of the serving certificate, comma-separated\n(default modelgate.NS.svc,modelgate.NS.svc.cluster.local)',
    },
    'tls-cert-validity': { type: 'string', value: 'DURATION', help: 'self-managed: serving certificate lifetime (default 2160h)' },
    'tls-cert-renew-before': { type: 'string', value: 'DURATION', help: 'self-managed: renew it this long before it expires (default 720h)' },
    'tls-ca-validity': { type: 'string', value: 'DURATION', help: 'self-managed: CA lifetime (default 87600h)' },
    'tls-ca-renew-before': { type: 'string', value: 'DURATION', help: 'self-managed: make the next CA this long before it expires (default 8760h)' },
    'tls-sync-interval': { type: 'string', value: 'DURATION', help: 'self-managed: how often each replica checks the Secret and caBundle (default 1m)' },
    policy: { ...policyFlags.policy, help: 'ModelPolicy file or directory, followed and reloaded on change; repeatable' },
    config: policyFlags.config,
    namespace: {
      type: 'string',
      value: 'NS',
      env: 'MODELGATE_NAMESPACE',
      help: "where the policy ConfigMaps are watched (default: the pod's namespace, else modelgate)",
    },
    'namespaced-policies': {
      type: 'boolean',
      env: 'MODELGATE_NAMESPACED_POLICIES',
      help: "also labelled ConfigMaps in each workload's own namespace; they can only add requirements",
    },
    'shutdown-delay': {
      type: 'string',
      value: 'SECONDS',
      env: 'MODELGATE_SHUTDOWN_DELAY',
      help: 'keep serving this long after SIGTERM before closing (default 0)',
    },
    'cache-dir': {
      type: 'string',
      value: 'DIR',
      env: 'MODELGATE_CACHE_DIR',
      help: 'writable directory for the TUF-refreshed public-good trusted root (default: a temporary one)',
    },
    help: HELP_FLAG,
  },
  notes: `Policy: --policy (or MODELGATE_POLICY) files, followed on disk; a Config file alone goes with the bundled policy;
otherwise the policy ConfigMaps, watched through the kubeconfig or the in-cluster service account; without any
Kubernetes API configuration, the bundled manifests/policy.yaml.
MODELGATE_LOG_LEVEL: fatal, error, warn, info (default), debug, trace or silent.`,
} as const satisfies CommandSpec;

export const PIN = {
  name: 'pin',
  summary: 'pin model references to digests in manifests, then judge them',
  synopsis: ['pin -f FILE|DIR|- [-f ...] [-w | --dry-run] [-n NAMESPACE] [--policy PATH]... [--config FILE] [--allow-empty]'],
  about: `Resolves every image-volume reference (and KServe oci:// storage URI) that has a tag and no digest to
name:tag@sha256:... through the registry, judges the pinned manifests as check does, and prints them
(or, with -w, rewrites the files; with --dry-run, shows a diff). Only the references change: comments,
key order and formatting stay as written.`,
  flags: {
    filename: CHECK.flags.filename,
    recursive: CHECK.flags.recursive,
    write: { type: 'boolean', short: 'w', default: false, help: 'rewrite the files in place (not with -f -)' },
    'dry-run': { type: 'boolean', default: false, help: 'print a unified diff of what would change; write nothing' },
    namespace: CHECK.flags.namespace,
    ...policyFlags,
    'allow-empty': CHECK.flags['allow-empty'],
    help: HELP_FLAG,
  },
  notes: `Registry credentials: the Config's credentials.dockerConfig, as for check. Nothing is written when any
reference cannot be resolved (an unknown tag, an unreachable registry: exit 2), nor with -w when the pinned
manifests would be denied (exit 1). The verdicts go to stderr; stdout holds the manifests or the diff.
Policy: as for check (--policy, else the bundled manifests/policy.yaml).`,
} as const satisfies CommandSpec;

export const COMMANDS: readonly CommandSpec[] = [SERVE, CHECK, AUDIT, EXPLAIN, PIN];

export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((spec) => spec.name === name);
}
