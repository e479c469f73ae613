/** OCI distribution types shared by the registry client and the checks that read its facts. */

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
}
