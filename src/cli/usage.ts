/** Command-line usage errors end with exit code 2 and a hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;

export const HELP = `modelgate: admission control for AI models mounted as OCI image volumes

Usage:
  modelgate serve [--port N] [--host ADDR] [--tls-cert FILE] [--tls-key FILE] [--policy PATH]... [--config FILE]
                  [--namespace NS] [--namespaced-policies] [--shutdown-delay SECONDS]
  modelgate check -f FILE|- [-f FILE]... [--policy PATH]... [--config FILE] [-o table|json] [--offline]
  modelgate audit [-n NAMESPACE | -A] [--policy PATH]... [--config FILE] [--policy-namespace NS]
                  [--context CTX] [--kubeconfig FILE] [--all-objects] [-o table|json] [--offline]
  modelgate explain REFERENCE [--policy PATH]... [--config FILE] [-n NAMESPACE] [-o text|json] [--offline]
  modelgate help

As a kubectl plugin (kubectl-modelgate on PATH): kubectl modelgate audit -A, kubectl modelgate explain REF, ...

Options (each also read from the environment):
  --port N          MODELGATE_PORT       HTTPS port (default 8443)
  --host ADDR       MODELGATE_HOST       listen address (default: all)
  --tls-cert FILE   MODELGATE_TLS_CERT   serving certificate (default certs/tls.crt)
  --tls-key FILE    MODELGATE_TLS_KEY    serving key (default certs/tls.key)
  --policy PATH     MODELGATE_POLICY     ModelPolicy file or directory; repeatable (env: comma-separated).
                                         serve follows the files and reloads them on change. Default for serve:
                                         the policy ConfigMaps (below); for check, audit, explain and for serve
                                         without any Kubernetes API configuration: the bundled policy, which
                                         requires digest pinning
  --config FILE     MODELGATE_CONFIG     Config document (defaultAction, registries, credentials, timeouts, ...)
  --namespace NS    MODELGATE_NAMESPACE  serve: where the policy ConfigMaps (label modelgate.dev/policy=true) are
                                         watched (default: the pod's namespace, else modelgate)
  --namespaced-policies  MODELGATE_NAMESPACED_POLICIES  serve: also labelled ConfigMaps in each workload's own
                                         namespace; they can only add requirements
  --shutdown-delay S  MODELGATE_SHUTDOWN_DELAY  serve: keep serving S seconds after SIGTERM before closing
  MODELGATE_LOG_LEVEL                    pino log level (default info)

check: judges the objects in manifests as the webhook judges a CREATE.
audit: judges the Pods and workloads (Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs,
  ReplicationControllers, PodTemplates) of a live cluster, from KUBECONFIG, --kubeconfig, --context or the
  in-cluster service account; -n (default: the context's namespace) or -A for all namespaces. Without --policy
  it reads the policy the webhook uses: the ConfigMaps labelled modelgate.dev/policy=true in --policy-namespace
  (default modelgate). Objects made from an owner's template (a Deployment's ReplicaSets and Pods) are reported
  at the owner while their references are the owner's; --all-objects reports each.
explain: the whole trace for one reference: parsed form, digest resolved from a tag, manifest, every matching
  policy and rule, signature authorities, and the time of each step.
--offline (check, audit, explain): contact no registry; registry-backed rules then fail as spec.onError says.

Exit codes (check, audit, explain): 0 allowed (warnings included), 1 something would be denied,
2 usage, policy or cluster errors (unreachable, unauthorized, forbidden).
`;
