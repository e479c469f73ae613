/**
 * The engine: a policy set with the I/O its rules need. Built once per policy
 * revision and shared by every review; the EngineManager (manager.ts) hands
 * the next revision the same RegistryAccess while the connection settings are
 * unchanged, so the registry client's connection pools and the caches live as
 * long as the configuration does.
 */
import { describeError, describeFileError } from '../core/errors.ts';
import { readFileSync } from 'node:fs';
import { CachedArtifactSource, DEFAULT_FACTS_CACHE, RegistryArtifactSource } from '../artifact/source.ts';
import type { ArtifactSource } from '../artifact/source.ts';
import { ReviewCredentials } from './review-credentials.ts';
import type { PullSecretReader } from './review-credentials.ts';
import { RegistryClient } from '../oci/client.ts';
import type { RegistryClientOptions } from '../oci/client.ts';
import { DockerConfigCredentialProvider } from '../oci/credentials.ts';
import type { Audience } from '../oci/credentials.ts';
import type { RepositoryLocator } from '../oci/types.ts';
import { PolicyLoadError } from '../policy/load.ts';
import { needsRegistry } from './registry-needs.ts';
import type { ModelgateConfig, PolicySet } from '../policy/types.ts';
import { CachedModelSignatureVerifier } from '../signature/oms-source.ts';
import type { ModelSignatureSource } from '../signature/oms-source.ts';
import { CachedAttestationVerifier } from '../attestation/source.ts';
import type { AttestationSource } from '../attestation/source.ts';
import { CachedSignatureVerifier } from '../signature/source.ts';
import type { SignatureSource } from '../signature/source.ts';
import { TrustedRoots } from '../signature/trust.ts';
import type { LivePublicGood } from '../signature/trust.ts';

export { needsRegistry } from './registry-needs.ts';

export interface Engine {
  readonly policySet: PolicySet;
  /** Undefined where no registry may be contacted (offline checks): artifact rules then fail as onError says. */
  readonly artifacts: ArtifactSource | undefined;
  /** Undefined offline, like artifacts. */
  readonly signatures?: SignatureSource | undefined;
  /** Undefined offline, like artifacts. */
  readonly modelSignatures?: ModelSignatureSource | undefined;
  readonly attestations?: AttestationSource | undefined;
  /** Runs a review's evaluation with the pod's pull secrets in reach of the registry client. */
  readonly withPod?: <T>(namespace: string, podSpec: Record<string, unknown> | undefined, work: () => T) => T;
}

export interface EngineOptions {
  readonly onRequest?: RegistryClientOptions['onRequest'];
  readonly offline?: boolean;
  /** Reads pull secrets from the cluster; needed when the Config enables `credentials.pullSecrets`. */
  readonly pullSecrets?: PullSecretReader;
  /**
   * Registry access to reuse instead of making new: the EngineManager passes the
   * previous revision's when the connection settings are unchanged, so pools and
   * caches survive a policy change (see connectionKey).
   */
  readonly registry?: RegistryAccess;
  /** The public-good root as it is refreshed (the EngineManager's); absent: the root @sigstore/tuf embeds. */
  readonly publicGood?: LivePublicGood | undefined;
}

/** The registry client with its credentials and the caches built on it; lives as long as the connection settings do. */
export interface RegistryAccess {
  readonly client: RegistryClient;
  readonly credentials: ReviewCredentials;
  readonly cache: CachedArtifactSource;
  readonly signatureCache: CachedSignatureVerifier;
  readonly modelSignatureCache: CachedModelSignatureVerifier;
  readonly attestationCache: CachedAttestationVerifier;
}

export interface RegistryBackedEngine extends Engine {
  readonly client: RegistryClient | undefined;
  readonly cache: CachedArtifactSource | undefined;
  readonly signatureCache?: CachedSignatureVerifier | undefined;
  /** What createEngine used (made or given); undefined when the policy set needs no registry. */
  readonly registry?: RegistryAccess | undefined;
}

function webhookCredentials(path: string | undefined): DockerConfigCredentialProvider | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PolicyLoadError([{ source: path, document: 0, path: 'spec.credentials.dockerConfig', message: `cannot read: ${describeFileError(error)}` }]);
  }
  try {
    return new DockerConfigCredentialProvider([{ name: path, text }]);
  } catch (error) {
    throw new PolicyLoadError([{ source: path, document: 0, path: 'spec.credentials.dockerConfig', message: describeError(error) }]);
  }
}

/** Throws PolicyLoadError when the Config's registry access cannot be set up (an unreadable dockerConfig). */
export function checkRegistryConfig(config: ModelgateConfig): void {
  webhookCredentials(config.credentials.dockerConfig);
}

/**
 * What the registry access depends on: registries, credentials, timeouts,
 * trusted roots (and where public-good comes from), signature discovery and the registry
 * request limits. Equal keys may share one RegistryAccess.
 */
export function connectionKey(config: ModelgateConfig): string {
  const { registries, credentials, timeouts, trustedRoots, publicGood, signatureDiscovery, limits } = config;
  return JSON.stringify({
    registries,
    credentials,
    timeouts,
    trustedRoots,
    publicGood,
    signatureDiscovery,
    limits: [limits.registryRequests, limits.registryRequestsPerHost],
  });
}

/** A registry client, its credentials and caches for a Config; throws PolicyLoadError like createEngine. */
export function createRegistryAccess(config: ModelgateConfig, options: Pick<EngineOptions, 'onRequest' | 'pullSecrets' | 'publicGood'> = {}): RegistryAccess {
  const { timeouts, credentials: settings } = config;
  const credentials = new ReviewCredentials(webhookCredentials(settings.dockerConfig), settings.pullSecrets ? options.pullSecrets : undefined);
  const client = new RegistryClient({
    registries: config.registries,
    credentials,
    ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }),
    requestTimeoutMs: timeouts.requestMs,
    defaultDeadlineMs: timeouts.totalMs,
    maxInFlight: config.limits.registryRequests,
    maxInFlightPerHost: config.limits.registryRequestsPerHost,
  });
  const audienceOf = (locator: RepositoryLocator): Promise<Audience> => credentials.audienceFor(locator);
  const cache = new CachedArtifactSource(new RegistryArtifactSource(client), DEFAULT_FACTS_CACHE, audienceOf);
  // Validated when the policy loaded; parsing again here is once per connection setting.
  const roots = TrustedRoots.fromSettings(config.trustedRoots, options.publicGood);
  const signatureCache = new CachedSignatureVerifier(client, roots, config.signatureDiscovery, audienceOf);
  const modelSignatureCache = new CachedModelSignatureVerifier(client, roots, config.signatureDiscovery, audienceOf);
  const attestationCache = new CachedAttestationVerifier(client, roots, config.signatureDiscovery, audienceOf);
  return { client, credentials, cache, signatureCache, modelSignatureCache, attestationCache };
}

export function createEngine(policySet: PolicySet, options: EngineOptions = {}): RegistryBackedEngine {
  if (options.offline === true || !needsRegistry(policySet)) return { policySet, artifacts: undefined, client: undefined, cache: undefined };
  const registry = options.registry ?? createRegistryAccess(policySet.config, options);
  const { client, cache, signatureCache, modelSignatureCache, attestationCache, credentials } = registry;
  return {
    policySet,
    artifacts: cache,
    signatures: signatureCache,
    modelSignatures: modelSignatureCache,
    attestations: attestationCache,
    client,
    cache,
    signatureCache,
    registry,
    withPod: (namespace, podSpec, work) => credentials.withPod(namespace, podSpec, work),
  };
}
