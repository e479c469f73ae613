/** Media types of the manifests and indexes that the registry client reads. */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** The OCI empty descriptor's media type (`{}`), used as config of artifacts. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

/** Every manifest media type the client accepts, in order of preference. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST];

/** The Accept header for manifest requests. */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** The Accept header for the referrers API and the referrers tag. */
export const INDEX_ACCEPT = OCI_INDEX;

/** An index: OCI image index or Docker manifest list. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

/** A single-platform manifest: OCI image manifest or Docker v2 schema 2 manifest. */
export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST_V2;
}

/** A media type without parameters, lowercased: `application/json; charset=utf-8` → `application/json`. */
export function baseMediaType(value: string): string {
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}
