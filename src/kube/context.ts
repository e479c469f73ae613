/** Where the webhook runs: its namespace and how it reaches the Kubernetes API. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const DEFAULT_NAMESPACE = 'modelgate';

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());

function readNamespaceFile(path: string): string | undefined {
  try {
    return nonEmpty(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** `--namespace`, else MODELGATE_NAMESPACE, else the in-cluster service account's namespace, else `modelgate`. */
export function webhookNamespace(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): string {
  return nonEmpty(flag) ?? nonEmpty(env['MODELGATE_NAMESPACE']) ?? readNamespaceFile(join(serviceAccountDir, 'namespace')) ?? DEFAULT_NAMESPACE;
}

/**
 * Where a KubeConfig would come from, as KubeConfig.loadFromDefault looks:
 * KUBECONFIG, ~/.kube/config, the in-cluster service account. Undefined when
 * there is none (loadFromDefault would then silently use http://localhost:8080).
 */
export function kubeConfigSource(env: NodeJS.ProcessEnv = process.env, home: string = homedir(), serviceAccountDir = SERVICE_ACCOUNT_DIR): string | undefined {
  const fromEnv = nonEmpty(env['KUBECONFIG']);
  if (fromEnv !== undefined) return `KUBECONFIG ${fromEnv}`;
  const file = join(home, '.kube', 'config');
  if (home !== '' && existsSync(file)) return file;
  if (existsSync(join(serviceAccountDir, 'token'))) return 'in-cluster service account';
  return undefined;
}
