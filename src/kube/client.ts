/** API clients from the usual places: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(context?: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromDefault();
  if (context !== undefined) config.setCurrentContext(context);
  return config;
}

export function coreApi(config: KubeConfig): CoreV1Api {
  return config.makeApiClient(CoreV1Api);
}
