/**
 * Where artifact facts come from: the registry, read through a cache.
 * A digest names immutable content, so facts are cached without expiry,
 * bounded by entries and by their estimated heap (compact.ts); failures are
 * never cached. Concurrent admissions of one uncached digest share one fetch.
 *
 * Facts read with a pod's pull secret are told only to reviews whose pods
 * pull with the same credential (their audience, oci/credentials.ts): a
 * namespace never learns about an artifact its own credentials cannot read.
 */
import { LruCache } from '../core/lru.ts';
import type { LruOptions } from '../core/lru.ts';
import { SingleFlight } from '../core/single-flight.ts';
import { isContentProblem, ModelgateError } from '../core/errors.ts';
import { KeptRefusal } from '../core/detach.ts';
import { LimitWaitError, Limiter } from '../core/limiter.ts';
import type { Release } from '../core/limiter.ts';
import { RegistryError } from '../oci/errors.ts';
import { describeRefusal, parseStrictJson } from '../core/strict-json.ts';
import { PUBLIC, narrower } from '../oci/credentials.ts';
import type { Audience } from '../oci/credentials.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { compactFacts, estimateHeapBytes } from './compact.ts';
import { MalformedManifestError, parseManifest } from './manifest.ts';
import type { ImageManifest } from './manifest.ts';
import { parseModelPackConfig } from './modelpack-config.ts';
import { isModelPackConfig } from './rules.ts';
import type { ArtifactFacts, ConfigFact } from './rules.ts';

export interface ArtifactSource {
  /** Facts about registry/repository@digest; `withConfigs` also reads each ModelPack config blob. Synchronous when cached. */
  facts(locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): ArtifactFacts | Promise<ArtifactFacts>;
}

/** Too many manifests in an index is a reason to deny, not to fetch without end. */
export const MAX_INDEX_MANIFESTS = 16;
const MAX_CONFIG_BYTES = 1024 * 1024;

export class IndexTooLargeError extends ModelgateError<'INDEX_TOO_LARGE'> {
  static readonly codes = { INDEX_TOO_LARGE: { contentProblem: true } } as const;
  override readonly name = 'IndexTooLargeError';
  constructor(digest: string, count: number) {
    super(IndexTooLargeError.codes, 'INDEX_TOO_LARGE', `index ${digest} lists ${count} manifests; modelgate checks at most ${MAX_INDEX_MANIFESTS}`);
  }
}

/**
 * Artifacts read and judged at once: a manifest of up to 4 MiB is held as bytes,
 * text and parsed objects until it is judged, so a burst of large ones must
 * queue (inside the review's deadline) rather than all be in memory together.
 */
const ARTIFACTS_AT_ONCE = 4;

export class RegistryArtifactSource implements ArtifactSource {
  readonly #registry: Registry;
  readonly #reading = new Limiter(ARTIFACTS_AT_ONCE, ARTIFACTS_AT_ONCE, 'artifact read slot');

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  async facts(locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): Promise<FetchedFacts> {
    let release: Release;
    try {
      release = await this.#reading.acquire('', { deadline });
    } catch (error) {
      if (!(error instanceof LimitWaitError)) throw error;
      throw new RegistryError(
        'TIMEOUT',
        { operation: 'manifest', registry: locator.registry, repository: locator.repository, reference: digest },
        'modelgate was too busy reading other artifacts to read this one before the deadline',
        {
          retryable: false,
        },
      );
    }
    try {
      return await this.#read(locator, digest, withConfigs, deadline);
    } finally {
      release();
    }
  }

  async #read(locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): Promise<FetchedFacts> {
    const root = await this.#registry.fetchManifest(locator, digest, { deadline });
    let bytes = root.bytes.length;
    let audience = root.audience ?? PUBLIC;
    const parsed = parseManifest(root);
    let manifests: ImageManifest[];
    if (parsed.kind === 'manifest') {
      manifests = [parsed];
    } else {
      if (parsed.manifests.length === 0) throw new MalformedManifestError(digest, 'the index lists no manifests');
      if (parsed.manifests.length > MAX_INDEX_MANIFESTS) throw new IndexTooLargeError(digest, parsed.manifests.length);
      manifests = await Promise.all(
        parsed.manifests.map(async (descriptor) => {
          const child = await this.#registry.fetchManifest(locator, descriptor.digest, { deadline });
          bytes += child.bytes.length;
          audience = narrower(audience, child.audience ?? PUBLIC);
          const manifest = parseManifest(child);
          if (manifest.kind !== 'manifest') throw new MalformedManifestError(digest, `index entry ${descriptor.digest} is itself an index`);
          return manifest;
        }),
      );
    }
    const configs = new Map<string, ConfigFact>();
    if (withConfigs) {
      const wanted = new Map(manifests.filter((m) => isModelPackConfig(m.config.mediaType)).map((m) => [m.config.digest, m.config.size]));
      await Promise.all(
        [...wanted].map(async ([configDigest, size]) => {
          const blob = await this.#registry.fetchBlob(locator, configDigest, { deadline, maxBytes: MAX_CONFIG_BYTES, expectedSize: size });
          bytes += blob.bytes.length;
          audience = narrower(audience, blob.audience ?? PUBLIC);
          configs.set(configDigest, readConfig(blob.bytes));
        }),
      );
    }
    return { root: parsed, manifests, configs, bytes, audience };
  }
}

/** Facts as fetched: with the bytes read and who may be told about them. */
export interface FetchedFacts extends ArtifactFacts {
  readonly bytes: number;
  readonly audience: Audience;
}

/** The audience of the review under way for a repository (ReviewCredentials.audienceFor). */
export type AudienceOf = (locator: RepositoryLocator) => Promise<Audience>;

const isPrivate = (audience: Audience): boolean => audience.startsWith('pod:');

function readConfig(bytes: Buffer): ConfigFact {
  let json: unknown;
  try {
    json = parseStrictJson(bytes);
  } catch (error) {
    return { ok: false, reason: describeRefusal('config', error) };
  }
  const result = parseModelPackConfig(json);
  if (result.ok) return result;
  return { ok: false, reason: result.errors.map((error) => `${error.path === '' ? '(root)' : error.path} ${error.message}`).join('; ') };
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Fetches that were joined to one already under way. */
  shared: number;
}

interface CachedFacts {
  readonly facts: ArtifactFacts;
  readonly configsRead: boolean;
  readonly audience: Audience;
}

const REFUSAL_TTL_MS = 10 * 60_000;

/** Sized by estimated heap (compact.ts): with the other caches and the body budgets it keeps the process inside its 256 MiB limit. */
export const DEFAULT_FACTS_CACHE: LruOptions = { maxEntries: 50_000, maxBytes: 24 * 1024 * 1024 };

export class CachedArtifactSource implements ArtifactSource {
  readonly #inner: RegistryArtifactSource;
  /** By registry/repository@digest; an entry records whether its configs were read, and for whom. */
  readonly #cache: LruCache<string, CachedFacts>;
  readonly #flights = new SingleFlight<string, FetchedFacts>();
  readonly #audienceOf: AudienceOf;
  /**
   * Content refused by digest (malformed, ambiguous, too many layers): the same
   * bytes are refused again, so a hostile artifact is fetched and parsed once,
   * not on every review. Kept a while, not for ever: a tampering proxy may go away.
   */
  readonly #refused = new LruCache<string, Error>({ maxEntries: 10_000, maxBytes: 8 * 1024 * 1024 });
  readonly stats: CacheStats = { hits: 0, misses: 0, shared: 0 };

  constructor(inner: RegistryArtifactSource, options: LruOptions = DEFAULT_FACTS_CACHE, audienceOf: AudienceOf = () => Promise.resolve(PUBLIC)) {
    this.#inner = inner;
    this.#cache = new LruCache(options);
    this.#audienceOf = audienceOf;
  }

  facts(locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): ArtifactFacts | Promise<ArtifactFacts> {
    // The repository is part of the key: a digest readable in one repository says nothing about another.
    const key = `${locator.registry}/${locator.repository}@${digest}`;
    const refused = this.#refused.get(key);
    if (refused !== undefined) throw refused;
    const cached = this.#cache.get(key);
    if (cached !== undefined && (cached.configsRead || !withConfigs)) {
      // Public and shared facts are everyone's: the warm path stays synchronous.
      if (!isPrivate(cached.audience)) {
        this.stats.hits++;
        return cached.facts;
      }
      return this.#private(key, cached, locator, digest, withConfigs, deadline);
    }
    this.stats.misses++;
    return this.#fetch(key, locator, digest, withConfigs, deadline);
  }

  /** Facts read with a pod's credential: told to a review that holds the same credential, fetched afresh for any other. */
  async #private(key: string, cached: CachedFacts, locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): Promise<ArtifactFacts> {
    if ((await this.#audienceOf(locator)) === cached.audience) {
      this.stats.hits++;
      return cached.facts;
    }
    this.stats.misses++;
    return this.#fetch(key, locator, digest, withConfigs, deadline);
  }

  async #fetch(key: string, locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): Promise<ArtifactFacts> {
    // A fetch is shared only by reviews that would read with the same credential.
    const audience = await this.#audienceOf(locator);
    const flight = `${key}${withConfigs ? '+configs' : ''}|${audience}`;
    const joining = this.#flights.size > 0 && this.#flights.has(flight);
    if (joining) this.stats.shared++;
    let fetched: FetchedFacts;
    try {
      fetched = await this.#flights.run(flight, () => this.#inner.facts(locator, digest, withConfigs, deadline));
    } catch (error) {
      if (isContentProblem(error) && error instanceof Error) {
        const kept = new KeptRefusal(error);
        this.#refused.set(key, kept, 512 + kept.message.length * 2 + (kept.stack?.length ?? 0) * 2, REFUSAL_TTL_MS);
      }
      throw error;
    }
    // Never replace facts with configs by facts without (a concurrent manifest-only fetch may end last).
    if (!joining && (withConfigs || this.#cache.get(key)?.configsRead !== true)) {
      const compact = compactFacts(fetched);
      this.#cache.set(key, { facts: compact, configsRead: withConfigs, audience: fetched.audience }, estimateHeapBytes(compact));
    }
    return fetched;
  }

  get entries(): number {
    return this.#cache.size;
  }
}
