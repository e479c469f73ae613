/**
 * The one kubeconfig loader, picking it as kubectl does: `--kubeconfig`, else
 * KUBECONFIG, ~/.kube/config or the in-cluster service account; then the
 * context. The webhook and the commands that read a cluster all load it here.
 */
import { ModelgateError } from '../core/errors.ts';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}

/** The kubeconfig cannot be used: it lacks the asked context, or configures no cluster at all. */
export class KubeConfigError extends ModelgateError<'INVALID_KUBECONFIG'> {
  static readonly codes = { INVALID_KUBECONFIG: {} } as const;
  override readonly name = 'KubeConfigError';
  constructor(message: string) {
    super(KubeConfigError.codes, 'INVALID_KUBECONFIG', message);
  }
}

/** A file that cannot be read or parsed throws the client's own error; an unknown context throws KubeConfigError. */
export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfig {
  const config = new KubeConfig();
  if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  if (options.context !== undefined) {
    if (config.getContextObject(options.context) === null) {
      const known = config.getContexts().map((context) => context.name);
      throw new KubeConfigError(
        `context ${JSON.stringify(options.context)} is not in the kubeconfig (contexts: ${known.length === 0 ? 'none' : known.join(', ')})`,
      );
    }
    config.setCurrentContext(options.context);
  }
  return config;
}

/** Throws KubeConfigError when the kubeconfig names no cluster. */
export function requireCluster(config: KubeConfig): void {
  const cluster = config.getCurrentCluster();
  // loadFromDefault falls back to http://localhost:8080 when it finds nothing: say so instead of trying it.
  if (cluster === null || (config.getCurrentContext() === 'loaded-context' && cluster.server === 'http://localhost:8080')) {
    throw new KubeConfigError('no cluster is configured: set KUBECONFIG or --kubeconfig, create ~/.kube/config, or run inside a cluster');
  }
}

/** The namespace of the current context (as kubectl uses it), else `default`. */
export function contextNamespace(config: KubeConfig): string {
  const namespace = config.getContextObject(config.getCurrentContext())?.namespace;
  return namespace === undefined || namespace === '' ? 'default' : namespace;
}

export function coreApi(config: KubeConfig): CoreV1Api {
  return config.makeApiClient(CoreV1Api);
}
