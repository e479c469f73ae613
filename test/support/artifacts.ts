/**
 * Builds OCI / Docker content for tests: blobs, image manifests (with artifactType and
 * subject), indexes and Docker v2 manifests, each with its exact bytes and digest.
 */

import { createHash } from 'node:crypto';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const MODEL_ARTIFACT_TYPE = 'application/vnd.modelgate.test.model.v1';
export const MODEL_LAYER = 'application/vnd.modelgate.test.weights.v1';

export interface TestDescriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Readonly<Record<string, string>>;
}

export interface TestBlob {
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly digest: string;
  readonly descriptor: TestDescriptor;
}

export interface TestManifest {
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly digest: string;
  /** Blobs the manifest references (config and layers), to push first. */
  readonly blobs: readonly TestBlob[];
  /** Manifests an index references, to push first. */
  readonly children: readonly TestManifest[];
  readonly artifactType: string | undefined;
  readonly descriptor: TestDescriptor;
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blob(content: string | Buffer, mediaType: string = MODEL_LAYER, annotations?: Record<string, string>): TestBlob {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const digest = sha256(bytes);
  const descriptor: TestDescriptor = { mediaType, digest, size: bytes.length, ...(annotations === undefined ? {} : { annotations }) };
  return { mediaType, bytes, digest, descriptor };
}

export const EMPTY_CONFIG: TestBlob = blob('{}', OCI_EMPTY);

function finish(
  mediaType: string,
  document: Record<string, unknown>,
  blobs: readonly TestBlob[],
  children: readonly TestManifest[],
  artifactType: string | undefined,
): TestManifest {
  const bytes = Buffer.from(JSON.stringify(document), 'utf8');
  const digest = sha256(bytes);
  const descriptor: TestDescriptor = { mediaType, digest, size: bytes.length, ...(artifactType === undefined ? {} : { artifactType }) };
  return { mediaType, bytes, digest, blobs, children, artifactType, descriptor };
}

export interface OciManifestSpec {
  readonly artifactType?: string;
  readonly config?: TestBlob;
  readonly layers?: readonly TestBlob[];
  readonly annotations?: Record<string, string>;
  readonly subject?: TestDescriptor;
}

/** An OCI image manifest; with artifactType and the empty config by default (an OCI 1.1 artifact). */
export function ociManifest(spec: OciManifestSpec = {}): TestManifest {
  const config = spec.config ?? EMPTY_CONFIG;
  const layers = spec.layers ?? [blob('weights')];
  const document: Record<string, unknown> = { schemaVersion: 2, mediaType: OCI_MANIFEST };
  if (spec.artifactType !== undefined) document['artifactType'] = spec.artifactType;
  document['config'] = config.descriptor;
  document['layers'] = layers.map((layer) => layer.descriptor);
  if (spec.subject !== undefined) document['subject'] = { mediaType: spec.subject.mediaType, digest: spec.subject.digest, size: spec.subject.size };
  if (spec.annotations !== undefined) document['annotations'] = spec.annotations;
  // The artifactType a referrers listing reports: the manifest's, else its config's media type.
  return finish(OCI_MANIFEST, document, [config, ...layers], [], spec.artifactType ?? config.mediaType);
}

/** An OCI image index over manifests. */
export function ociIndex(manifests: readonly TestManifest[], annotations?: Record<string, string>): TestManifest {
  const document: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: manifests.map((m) => m.descriptor),
  };
  if (annotations !== undefined) document['annotations'] = annotations;
  return finish(OCI_INDEX, document, [], manifests, undefined);
}

/** A Docker v2 schema 2 manifest. */
export function dockerManifest(layers: readonly TestBlob[] = [blob('layer', DOCKER_LAYER)]): TestManifest {
  const config = blob(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }), DOCKER_CONFIG);
  const document = {
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_V2,
    config: config.descriptor,
    layers: layers.map((layer) => layer.descriptor),
  };
  return finish(DOCKER_MANIFEST_V2, document, [config, ...layers], [], undefined);
}

/**
 * The referrers tag schema's index (`<alg>-<hex>` tag) listing `referrers`, each with its
 * artifactType, as a client pushing to a registry without the referrers API writes it.
 */
export function referrersIndex(referrers: readonly TestManifest[]): TestManifest {
  const document = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: referrers.map((m) => ({ ...m.descriptor, ...(m.artifactType === undefined ? {} : { artifactType: m.artifactType }) })),
  };
  return finish(OCI_INDEX, document, [], referrers, undefined);
}
