/**
 * The engine: a policy set with the I/O its rules need. Built once per policy
 * revision and shared by every review, so the registry client's connection
 * pools and the facts cache live as long as the configuration does.
 */
import { readFileSync } from 'node:fs';
import { CachedArtifactSource, RegistryArtifactSource } from '../artifact/source.ts';
import type { ArtifactSource } from '../artifact/source.ts';
import type { PullSecretReader } from '../kube/pull-secrets.ts';
import { ReviewCredentials } from '../kube/review-credentials.ts';
import { RegistryClient } from '../oci/client.ts';
import type { RegistryClientOptions } from '../oci/client.ts';
import { DockerConfigCredentialProvider } from '../oci/credentials.ts';
import { PolicyLoadError } from '../policy/load.ts';
import type { PolicySet } from '../policy/types.ts';
import { CachedSignatureVerifier } from '../signature/source.ts';
import type { SignatureSource } from '../signature/source.ts';
import { TrustedRoots } from '../signature/trust.ts';

export interface Engine {
  readonly policySet: PolicySet;
  /** Undefined where no registry may be contacted (offline checks): artifact rules then fail as onError says. */
  readonly artifacts: ArtifactSource | undefined;
  /** Undefined offline, like artifacts. */
  readonly signatures?: SignatureSource | undefined;
  /** Runs a review's evaluation with the pod's pull secrets in reach of the registry client. */
  readonly withPod?: <T>(namespace: string, podSpec: Record<string, unknown> | undefined, work: () => T) => T;
}

export interface EngineOptions {
  readonly onRequest?: RegistryClientOptions['onRequest'];
  readonly offline?: boolean;
  /** Reads pull secrets from the cluster; needed when the Config enables `credentials.pullSecrets`. */
  readonly pullSecrets?: PullSecretReader;
}

export interface RegistryBackedEngine extends Engine {
  readonly client: RegistryClient | undefined;
  readonly cache: CachedArtifactSource | undefined;
  readonly signatureCache?: CachedSignatureVerifier | undefined;
}

function webhookCredentials(path: string | undefined): DockerConfigCredentialProvider | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PolicyLoadError([{ source: path, document: 0, path: 'spec.credentials.dockerConfig', message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }]);
  }
  try {
    return new DockerConfigCredentialProvider([{ name: path, text }]);
  } catch (error) {
    throw new PolicyLoadError([{ source: path, document: 0, path: 'spec.credentials.dockerConfig', message: (error as Error).message }]);
  }
}

export function createEngine(policySet: PolicySet, options: EngineOptions = {}): RegistryBackedEngine {
  const needsRegistry = !options.offline && policySet.policies.some((policy) => policy.artifact !== undefined || policy.signatures !== undefined);
  if (!needsRegistry) return { policySet, artifacts: undefined, client: undefined, cache: undefined };
  const { timeouts, credentials: settings } = policySet.config;
  const credentials = new ReviewCredentials(webhookCredentials(settings.dockerConfig), settings.pullSecrets ? options.pullSecrets : undefined);
  const client = new RegistryClient({
    registries: policySet.config.registries,
    credentials,
    ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }),
    requestTimeoutMs: timeouts.requestMs,
    defaultDeadlineMs: timeouts.totalMs,
  });
  const cache = new CachedArtifactSource(new RegistryArtifactSource(client));
  // Validated when the policy loaded; parsing again here is once per policy revision.
  const signatureCache = new CachedSignatureVerifier(client, TrustedRoots.fromSettings(policySet.config.trustedRoots), policySet.config.signatureDiscovery);
  return {
    policySet,
    artifacts: cache,
    signatures: signatureCache,
    client,
    cache,
    signatureCache,
    withPod: (namespace, podSpec, work) => credentials.withPod(namespace, podSpec, work),
  };
}
