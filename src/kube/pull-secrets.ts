/**
 * The registry credentials a pod would pull with: its imagePullSecrets and
 * those of its ServiceAccount, read from the API server. Secrets are cached
 * briefly so that a burst of reviews does not become a burst of API calls.
 */
import type { CoreV1Api, V1Secret, V1ServiceAccount } from '@kubernetes/client-node';
import { LruCache } from '../core/lru.ts';
import type { DockerConfigSource } from '../oci/credentials.ts';
import type { PullSecretReader } from '../engine/review-credentials.ts';
import { isPlainObject } from '../core/guards.ts';
import { describeKubeError } from './api-errors.ts';

const SECRET_TTL_MS = 30_000;

function secretNames(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item: unknown) => (isPlainObject(item) && typeof item['name'] === 'string' ? item['name'] : '')).filter((name) => name !== '');
}

/** The config.json text of a dockerconfigjson or legacy dockercfg Secret. */
export function dockerConfigOf(secret: V1Secret): string | undefined {
  const data = secret.data ?? {};
  const json = data['.dockerconfigjson'];
  if (json !== undefined) return Buffer.from(json, 'base64').toString('utf8');
  const legacy = data['.dockercfg'];
  // The legacy format is the `auths` map alone.
  if (legacy !== undefined) return JSON.stringify({ auths: JSON.parse(Buffer.from(legacy, 'base64').toString('utf8')) as unknown });
  return undefined;
}

export class KubePullSecretReader implements PullSecretReader {
  readonly #api: CoreV1Api;
  readonly #secrets = new LruCache<string, Promise<DockerConfigSource | undefined>>({ maxEntries: 1000, maxBytes: 16 * 1024 * 1024 });
  readonly #accounts = new LruCache<string, Promise<string[]>>({ maxEntries: 1000, maxBytes: 1024 * 1024 });
  readonly #onError: (message: string) => void;

  constructor(api: CoreV1Api, onError: (message: string) => void = () => undefined) {
    this.#api = api;
    this.#onError = onError;
  }

  async dockerConfigs(namespace: string, podSpec: Record<string, unknown>): Promise<DockerConfigSource[]> {
    const account = typeof podSpec['serviceAccountName'] === 'string' && podSpec['serviceAccountName'] !== '' ? podSpec['serviceAccountName'] : 'default';
    const names = new Set([...secretNames(podSpec['imagePullSecrets']), ...(await this.#accountSecrets(namespace, account))]);
    const sources = await Promise.all([...names].map((name) => this.#secret(namespace, name)));
    return sources.filter((source): source is DockerConfigSource => source !== undefined);
  }

  #accountSecrets(namespace: string, name: string): Promise<string[]> {
    const key = `${namespace}/${name}`;
    let cached = this.#accounts.get(key);
    if (cached === undefined) {
      cached = this.#api.readNamespacedServiceAccount({ name, namespace }).then(
        (account: V1ServiceAccount) => secretNames(account.imagePullSecrets),
        (error: unknown) => {
          this.#onError(`cannot read ServiceAccount ${key}: ${describeKubeError(error)}`);
          return [];
        },
      );
      this.#accounts.set(key, cached, 256, SECRET_TTL_MS);
    }
    return cached;
  }

  #secret(namespace: string, name: string): Promise<DockerConfigSource | undefined> {
    const key = `${namespace}/${name}`;
    let cached = this.#secrets.get(key);
    if (cached === undefined) {
      cached = this.#api.readNamespacedSecret({ name, namespace }).then(
        (secret: V1Secret) => {
          try {
            const text = dockerConfigOf(secret);
            if (text === undefined) this.#onError(`Secret ${key} is not of type kubernetes.io/dockerconfigjson`);
            return text === undefined ? undefined : { name: `secret ${key}`, text };
          } catch (error) {
            this.#onError(`Secret ${key} holds no valid docker config: ${describeKubeError(error)}`);
            return undefined;
          }
        },
        (error: unknown) => {
          this.#onError(`cannot read Secret ${key}: ${describeKubeError(error)}`);
          return undefined;
        },
      );
      this.#secrets.set(key, cached, 4096, SECRET_TTL_MS);
    }
    return cached;
  }
}
