/**
 * Typed views of fetched manifests. A registry may send anything; shapes are
 * checked here so that the rules can rely on them, and a malformed manifest
 * becomes a reason rather than a crash.
 */
import { baseMediaType, isImageManifestMediaType, isIndexMediaType } from '../oci/media-types.ts';
import type { Descriptor, FetchedManifest } from '../oci/types.ts';
import { isPlainObject } from '../policy/schema.ts';

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType: string | undefined;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType: string | undefined;
  readonly manifests: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

/** The registry answered, and what it answered cannot be judged: a verdict about the artifact, not a "could not check". */
export class MalformedManifestError extends Error {
  readonly contentProblem = true;
  constructor(digest: string, problem: string) {
    super(`manifest ${digest} is malformed: ${problem}`);
    this.name = 'MalformedManifestError';
  }
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The string values of a map; built with fromEntries so that a key like `__proto__` stays a key. */
function stringMap(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

export function parseDescriptor(value: unknown, where: string, digest: string): Descriptor {
  if (!isPlainObject(value)) throw new MalformedManifestError(digest, `${where} is not an object`);
  const { mediaType, size } = value;
  const descriptorDigest = value['digest'];
  if (typeof mediaType !== 'string' || mediaType === '') throw new MalformedManifestError(digest, `${where} has no mediaType`);
  if (typeof descriptorDigest !== 'string' || !DIGEST.test(descriptorDigest)) throw new MalformedManifestError(digest, `${where} has no valid digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new MalformedManifestError(digest, `${where} has no valid size`);
  const annotations = stringMap(value['annotations']);
  const artifactType = typeof value['artifactType'] === 'string' ? value['artifactType'] : undefined;
  return {
    mediaType,
    digest: descriptorDigest,
    size,
    ...(artifactType === undefined ? {} : { artifactType }),
    ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
    ...(isPlainObject(value['platform']) ? { platform: value['platform'] } : {}),
  };
}

/** Layers (and index entries) judged per manifest at most: a bound on the rules' work, far above any model's file count. */
export const MAX_LAYERS = 4096;

export function parseManifest(fetched: FetchedManifest): ImageManifest | ImageIndex {
  const { json, digest } = fetched;
  // The registry client refused documents whose mediaType disagrees with their content (oci/documents.ts).
  const mediaType = baseMediaType(typeof json['mediaType'] === 'string' && json['mediaType'] !== '' ? json['mediaType'] : fetched.mediaType);
  const artifactType = typeof json['artifactType'] === 'string' ? json['artifactType'] : undefined;
  const annotations = stringMap(json['annotations']);
  if (isIndexMediaType(mediaType)) {
    const list = json['manifests'];
    if (!Array.isArray(list)) throw new MalformedManifestError(digest, 'the index has no manifests list');
    return { kind: 'index', digest, mediaType, artifactType, annotations, manifests: list.map((item, index) => parseDescriptor(item, `manifests[${index}]`, digest)) };
  }
  if (!isImageManifestMediaType(mediaType) && !('config' in json)) {
    throw new MalformedManifestError(digest, `media type ${mediaType} is neither an image manifest nor an index`);
  }
  if (json['schemaVersion'] !== 2) throw new MalformedManifestError(digest, 'schemaVersion is not 2');
  const layers = json['layers'] ?? [];
  if (!Array.isArray(layers)) throw new MalformedManifestError(digest, 'layers is not a list');
  if (layers.length > MAX_LAYERS) throw new MalformedManifestError(digest, `it lists ${layers.length} layers; modelgate judges at most ${MAX_LAYERS}`);
  return {
    kind: 'manifest',
    digest,
    mediaType,
    artifactType,
    annotations,
    config: parseDescriptor(json['config'], 'config', digest),
    layers: layers.map((layer, index) => parseDescriptor(layer, `layers[${index}]`, digest)),
  };
}
