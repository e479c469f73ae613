/**
 * Typed views of fetched manifests. A registry may send anything; shapes are
 * checked here so that the rules can rely on them, and a malformed manifest
 * becomes a reason rather than a crash.
 */
import { ModelgateError } from '../core/errors.ts';
import { baseMediaType, isImageManifestMediaType, isIndexMediaType } from '../oci/media-types.ts';
import type { Descriptor, FetchedManifest } from '../oci/types.ts';
import { MAX_LAYERS } from '../oci/documents.ts';
import { isPlainObject } from '../core/guards.ts';
import { NAME_ANNOTATIONS } from './file-names.ts';
import { LICENSES_ANNOTATION } from './media-types.ts';

export { MAX_LAYERS };

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
export class MalformedManifestError extends ModelgateError<'MALFORMED_MANIFEST'> {
  static readonly codes = { MALFORMED_MANIFEST: { contentProblem: true } } as const;
  override readonly name = 'MalformedManifestError';
  constructor(digest: string, problem: string) {
    super(MalformedManifestError.codes, 'MALFORMED_MANIFEST', `manifest ${digest} is malformed: ${problem}`);
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
  const problem = nameProblem(annotations);
  if (problem !== undefined) throw new MalformedManifestError(digest, `${where}: ${problem}`);
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

/** A file name longer than Linux allows (4,096 bytes a path, 255 a name) cannot be mounted; judging it costs for nothing. */
const MAX_PATH_LENGTH = 4096;
const MAX_NAME_LENGTH = 255;
/** Other kept annotation values (licences) are short expressions. */
const MAX_ANNOTATION_LENGTH = 4096;

/** Why a layer's name annotations cannot name a file, or undefined. */
function nameProblem(annotations: Readonly<Record<string, string>>): string | undefined {
  for (const key of NAME_ANNOTATIONS) {
    const name = annotations[key];
    if (name === undefined) continue;
    if (Buffer.byteLength(name) > MAX_PATH_LENGTH) return `its ${key} is longer than ${MAX_PATH_LENGTH} bytes, more than a path can be`;
    if (name.split('/').some((part) => Buffer.byteLength(part) > MAX_NAME_LENGTH))
      return `its ${key} has a part longer than ${MAX_NAME_LENGTH} bytes, more than a file name can be`;
  }
  return undefined;
}

export function parseManifest(fetched: FetchedManifest): ImageManifest | ImageIndex {
  const { json, digest } = fetched;
  // The registry client refused documents whose mediaType disagrees with their content (oci/documents.ts).
  const mediaType = baseMediaType(typeof json['mediaType'] === 'string' && json['mediaType'] !== '' ? json['mediaType'] : fetched.mediaType);
  const artifactType = typeof json['artifactType'] === 'string' ? json['artifactType'] : undefined;
  const annotations = stringMap(json['annotations']);
  const licenses = annotations[LICENSES_ANNOTATION];
  if (licenses !== undefined && licenses.length > MAX_ANNOTATION_LENGTH)
    throw new MalformedManifestError(digest, `its ${LICENSES_ANNOTATION} annotation is longer than ${MAX_ANNOTATION_LENGTH} characters`);
  if (isIndexMediaType(mediaType)) {
    const list = json['manifests'];
    if (!Array.isArray(list)) throw new MalformedManifestError(digest, 'the index has no manifests list');
    return {
      kind: 'index',
      digest,
      mediaType,
      artifactType,
      annotations,
      manifests: list.map((item, index) => parseDescriptor(item, `manifests[${index}]`, digest)),
    };
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
