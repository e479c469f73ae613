/**
 * The kubeconfig of `audit` and `explain`, from their --kubeconfig and
 * --context flags (kube/client.ts loads it); what cannot be used is a usage
 * error.
 */
import { describeError } from '../core/errors.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeConfigError, loadKubeConfig, requireCluster } from '../kube/client.ts';
import type { KubeConfigOptions } from '../kube/client.ts';
import { UsageError } from './usage.ts';

// explain loads this module (and so the Kubernetes client) only when it reads a cluster.
export { contextNamespace } from '../kube/client.ts';

/** The kubeconfig as kubectl would pick it. Throws UsageError for an unknown context or when no cluster is configured at all. */
export function loadClusterConfig(options: KubeConfigOptions): KubeConfig {
  try {
    const config = loadKubeConfig(options);
    requireCluster(config);
    return config;
  } catch (error) {
    if (error instanceof KubeConfigError) throw new UsageError(error.message);
    throw new UsageError(`cannot load the kubeconfig${options.kubeconfig === undefined ? '' : ` ${options.kubeconfig}`}: ${describeError(error)}`);
  }
}
