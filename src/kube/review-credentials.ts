/**
 * Credentials for registry requests made on behalf of one admission review.
 * The registry client asks a CredentialProvider; this one answers from the
 * webhook's own docker config first, then from the pull secrets of the pod
 * under review, found through AsyncLocalStorage so that the client and the
 * cache need not know about reviews at all.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DockerConfigCredentialProvider } from '../oci/credentials.ts';
import type { Credential, CredentialProvider } from '../oci/credentials.ts';
import type { PullSecretReader } from './pull-secrets.ts';

interface ReviewScope {
  readonly namespace: string;
  readonly podSpec: Record<string, unknown>;
  /** Read on the first registry request that needs credentials, then reused. */
  provider?: Promise<DockerConfigCredentialProvider>;
}

export class ReviewCredentials implements CredentialProvider {
  readonly #scope = new AsyncLocalStorage<ReviewScope>();
  readonly #webhook: CredentialProvider | undefined;
  readonly #reader: PullSecretReader | undefined;

  constructor(webhook: CredentialProvider | undefined, reader: PullSecretReader | undefined) {
    this.#webhook = webhook;
    this.#reader = reader;
  }

  /** Runs `work` with the pod's pull secrets available to registry requests it makes. */
  withPod<T>(namespace: string, podSpec: Record<string, unknown> | undefined, work: () => T): T {
    if (this.#reader === undefined || podSpec === undefined) return work();
    return this.#scope.run({ namespace, podSpec }, work);
  }

  async credentialsFor(registry: string, repository: string): Promise<Credential | undefined> {
    const own = await this.#webhook?.credentialsFor(registry, repository);
    if (own !== undefined) return own;
    const scope = this.#scope.getStore();
    if (scope === undefined || this.#reader === undefined) return undefined;
    scope.provider ??= this.#reader.dockerConfigs(scope.namespace, scope.podSpec).then((sources) => new DockerConfigCredentialProvider(sources));
    return (await scope.provider).credentialsFor(registry, repository);
  }
}
