/**
 * A Registry that remembers the narrowest audience (credentials.ts) of what
 * was read through it, for results built from many reads (a signature
 * verification reads referrers, manifests and blobs).
 */
import { PUBLIC, narrower } from './credentials.ts';
import type { Audience } from './credentials.ts';
import type { BlobOptions, FetchedBlob, FetchedManifest, ManifestOptions, Referrers, ReferrersOptions, Registry, RepositoryLocator } from './types.ts';

export class AudienceRecorder implements Registry {
  readonly #inner: Registry;
  #audience: Audience = PUBLIC;

  constructor(inner: Registry) {
    this.#inner = inner;
  }

  /** Who may be told about everything read so far. */
  get audience(): Audience {
    return this.#audience;
  }

  #note<T extends { readonly audience?: Audience }>(result: T): T {
    this.#audience = narrower(this.#audience, result.audience ?? PUBLIC);
    return result;
  }

  async fetchManifest(locator: RepositoryLocator, digest: string, options?: ManifestOptions): Promise<FetchedManifest> {
    return this.#note(await this.#inner.fetchManifest(locator, digest, options));
  }

  async fetchManifestByTag(locator: RepositoryLocator, tag: string, options?: ManifestOptions): Promise<FetchedManifest> {
    return this.#note(await this.#inner.fetchManifestByTag(locator, tag, options));
  }

  async fetchBlob(locator: RepositoryLocator, digest: string, options?: BlobOptions): Promise<FetchedBlob> {
    return this.#note(await this.#inner.fetchBlob(locator, digest, options));
  }

  async fetchReferrers(locator: RepositoryLocator, subject: string, options?: ReferrersOptions): Promise<Referrers> {
    return this.#note(await this.#inner.fetchReferrers(locator, subject, options));
  }
}
