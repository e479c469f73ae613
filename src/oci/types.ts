/** OCI distribution types shared by the registry client and the checks that read its facts. */

import type { Audience } from './credentials.ts';

/** An OCI content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Readonly<Record<string, unknown>>;
}

/** Where a repository lives. */
export interface RepositoryLocator {
  /** Registry host with port, as in ImageReference.registry (`docker.io` is served by registry-1.docker.io). */
  readonly registry: string;
  readonly repository: string;
}

/** A manifest whose bytes were verified against the digest that was asked for. */
export interface FetchedManifest {
  /** The verified digest (`sha256:…` / `sha512:…`). */
  readonly digest: string;
  /** From the manifest's own mediaType field, else the Content-Type header. */
  readonly mediaType: string;
  readonly bytes: Buffer;
  /** The parsed JSON. */
  readonly json: Readonly<Record<string, unknown>>;
  /** Who may be told about it (see credentials.ts); absent: public. */
  readonly audience?: Audience;
}

/** Time limits of one call. Without either, the client's default deadline applies. */
export interface CallOptions {
  /** Cancels the call; an AbortSignal.timeout() firing is reported as TIMEOUT, any other abort as ABORTED. */
  readonly signal?: AbortSignal;
  /** Absolute time (Date.now() clock, ms) by which the whole call, retries included, must be over. */
  readonly deadline?: number;
}

export interface ManifestOptions extends CallOptions {
  /** Overrides the client's manifest size limit (4 MiB by default) for this call. */
  readonly maxBytes?: number;
}

export interface BlobOptions extends CallOptions {
  /** Overrides the client's blob size limit for this call. */
  readonly maxBytes?: number;
  /** The size from the descriptor: a larger size fails before any request, a different one after. */
  readonly expectedSize?: number;
}

export interface ReferrersOptions extends CallOptions {
  /**
   * Only referrers of this artifactType, or of these (filtered by the client, whatever the registry
   * says it did); with several, one unfiltered listing serves them all and maxResults caps each.
   */
  readonly artifactType?: string | readonly string[];
  /** Most descriptors returned, per artifact type when several are asked (the client's maxReferrers by default). */
  readonly maxResults?: number;
  /** Size limit of each index read (the referrers API answer or the referrers tag). */
  readonly maxBytes?: number;
}

/** A blob whose bytes were verified against the digest that was asked for. */
export interface FetchedBlob {
  readonly digest: string;
  readonly size: number;
  readonly bytes: Buffer;
  /** Who may be told about it (see credentials.ts); absent: public. */
  readonly audience?: Audience;
}

/** The manifests that refer to a subject (their `subject` field names it). */
export interface Referrers {
  /** The subject's digest. */
  readonly subject: string;
  /** Descriptors of the referring manifests, in the registry's order, filtered and capped. */
  readonly descriptors: readonly Descriptor[];
  /** `api`: the OCI 1.1 referrers API; `tag`: the referrers tag schema (`<alg>-<hex>`), used when the API answered 404. */
  readonly source: 'api' | 'tag';
  /** True when more referrers may exist than were returned (the cap was hit). */
  readonly truncated: boolean;
  /** Who may be told about them (see credentials.ts); absent: public. */
  readonly audience?: Audience;
}

/**
 * What the checks need from a registry. RegistryClient implements it; a cache can wrap it and
 * tests can substitute it. Failures are RegistryError with a code.
 */
export interface Registry {
  /** The manifest or index with this digest, verified against it. */
  fetchManifest(locator: RepositoryLocator, digest: string, options?: ManifestOptions): Promise<FetchedManifest>;
  /** The manifest a tag points at (e.g. cosign's `sha256-<hex>.sig`); its digest is computed (sha256) from the bytes received. */
  fetchManifestByTag(locator: RepositoryLocator, tag: string, options?: ManifestOptions): Promise<FetchedManifest>;
  /** The blob with this digest, size-capped and verified. */
  fetchBlob(locator: RepositoryLocator, digest: string, options?: BlobOptions): Promise<FetchedBlob>;
  /** The referrers of a manifest: referrers API, else the referrers tag schema. */
  fetchReferrers(locator: RepositoryLocator, subject: string, options?: ReferrersOptions): Promise<Referrers>;
}
