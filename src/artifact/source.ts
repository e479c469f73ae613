/**
 * Where artifact facts come from: the registry, read through a cache.
 * A digest names immutable content, so facts are cached without expiry,
 * bounded by entries and bytes; failures are never cached. Concurrent
 * admissions of one uncached digest share one fetch.
 */
import { LruCache } from '../cache/lru.ts';
import type { LruOptions } from '../cache/lru.ts';
import { SingleFlight } from '../cache/single-flight.ts';
import type { Registry, RepositoryLocator } from '../oci/types.ts';
import { compactFacts } from './compact.ts';
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

export class IndexTooLargeError extends Error {
  constructor(digest: string, count: number) {
    super(`index ${digest} lists ${count} manifests; modelgate checks at most ${MAX_INDEX_MANIFESTS}`);
    this.name = 'IndexTooLargeError';
  }
}

export class RegistryArtifactSource implements ArtifactSource {
  readonly #registry: Registry;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  async facts(locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): Promise<ArtifactFacts & { bytes: number }> {
    const root = await this.#registry.fetchManifest(locator, digest, { deadline });
    let bytes = root.bytes.length;
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
          configs.set(configDigest, readConfig(blob.bytes));
        }),
      );
    }
    return { root: parsed, manifests, configs, bytes };
  }
}

function readConfig(bytes: Buffer): ConfigFact {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, reason: 'it is not JSON' };
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
}

export const DEFAULT_FACTS_CACHE: LruOptions = { maxEntries: 50_000, maxBytes: 96 * 1024 * 1024 };

export class CachedArtifactSource implements ArtifactSource {
  readonly #inner: RegistryArtifactSource;
  /** By registry/repository@digest; an entry records whether its configs were read. */
  readonly #cache: LruCache<string, CachedFacts>;
  readonly #flights = new SingleFlight<string, ArtifactFacts & { bytes: number }>();
  readonly stats: CacheStats = { hits: 0, misses: 0, shared: 0 };

  constructor(inner: RegistryArtifactSource, options: LruOptions = DEFAULT_FACTS_CACHE) {
    this.#inner = inner;
    this.#cache = new LruCache(options);
  }

  facts(locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): ArtifactFacts | Promise<ArtifactFacts> {
    // The repository is part of the key: a digest readable in one repository says nothing about another.
    const key = `${locator.registry}/${locator.repository}@${digest}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined && (cached.configsRead || !withConfigs)) {
      this.stats.hits++;
      return cached.facts;
    }
    this.stats.misses++;
    return this.#fetch(key, locator, digest, withConfigs, deadline);
  }

  async #fetch(key: string, locator: RepositoryLocator, digest: string, withConfigs: boolean, deadline: number): Promise<ArtifactFacts> {
    const flight = withConfigs ? `${key}+configs` : key;
    const joining = this.#flights.size > 0 && this.#flights.has(flight);
    if (joining) this.stats.shared++;
    const fetched = await this.#flights.run(flight, () => this.#inner.facts(locator, digest, withConfigs, deadline));
    // Never replace facts with configs by facts without (a concurrent manifest-only fetch may end last).
    if (!joining && (withConfigs || this.#cache.get(key)?.configsRead !== true)) {
      // Estimated memory of the compact form: about its manifest's text size (measured: ~1.3 KB of heap for a 1 KB ModelPack manifest).
      this.#cache.set(key, { facts: compactFacts(fetched), configsRead: withConfigs }, fetched.bytes + 256);
    }
    return fetched;
  }

  get entries(): number {
    return this.#cache.size;
  }
}
