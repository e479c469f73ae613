/**
 * Credentials for registry requests made on behalf of one admission review.
 * The registry client asks a CredentialProvider; this one answers from the
 * webhook's own docker config first, then from the pull secrets of the pod
 * under review, found through AsyncLocalStorage so that the client and the
 * cache need not know about reviews at all.
 *
 * A pod's credentials carry their audience (oci/credentials.ts): what is read
 * with them is told only to reviews whose pods hold the same credential.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DockerConfigCredentialProvider, PUBLIC, credentialIdentity } from '../oci/credentials.ts';
import type { Audience, Credential, CredentialProvider, DockerConfigSource } from '../oci/credentials.ts';
import type { RepositoryLocator } from '../oci/types.ts';

/** Reads the pull secrets of a pod under review; the cluster layer (kube/pull-secrets.ts) implements it. */
export interface PullSecretReader {
  /** config.json documents the pod may pull with; missing or unreadable Secrets are skipped, as the kubelet does. */
  dockerConfigs(namespace: string, podSpec: Record<string, unknown>): Promise<DockerConfigSource[]>;
}

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
    // The webhook's own credentials are the cluster admin's: what they read is for every namespace.
    if (own !== undefined) return { username: own.username, password: own.password, audience: 'shared' };
    const scope = this.#scope.getStore();
    if (scope === undefined || this.#reader === undefined) return undefined;
    scope.provider ??= this.#reader.dockerConfigs(scope.namespace, scope.podSpec).then((sources) => new DockerConfigCredentialProvider(sources));
    const pods = await (await scope.provider).credentialsFor(registry, repository);
    return pods === undefined ? undefined : { ...pods, audience: `pod:${credentialIdentity(pods)}` };
  }

  /** The audience of what this review would read from a repository: whose credentials it would send. */
  async audienceFor(locator: RepositoryLocator): Promise<Audience> {
    const credential = await this.credentialsFor(locator.registry, locator.repository).catch(() => undefined);
    return credential?.audience ?? PUBLIC;
  }
}
