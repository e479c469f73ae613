/**
 * Manifests and indexes read as the container runtime reads them: strictly
 * (core/strict-json.ts) against the fields of the image-spec and Docker
 * schema 2 structs, and refused when ambiguous the way containers/image
 * (ValidateUnambiguousManifestFormat) and containerd (validateMediaType)
 * refuse them: a manifest that also lists `manifests`, an index that also has
 * `config` or `layers`, schema 1 fields, or a `mediaType` that disagrees with
 * the content or with the registry's Content-Type.
 */
import { ModelgateError } from '../core/errors.ts';
import { ANY, BYTES, INTEGER, STRING, STRING_MAP, arrayOf, describeRefusal, objectOf, parseStrictJson } from '../core/strict-json.ts';
import type { JsonShape } from '../core/strict-json.ts';
import { DOCKER_MANIFEST_V2, MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST, baseMediaType, isIndexMediaType } from './media-types.ts';

const PLATFORM: JsonShape = objectOf({
  architecture: STRING,
  os: STRING,
  'os.version': STRING,
  'os.features': arrayOf(STRING),
  variant: STRING,
  features: arrayOf(STRING),
});

/** The union of the OCI descriptor's and Docker schema 2 descriptor's fields. */
export const DESCRIPTOR_SHAPE: JsonShape = objectOf({
  mediaType: STRING,
  digest: STRING,
  size: INTEGER,
  urls: arrayOf(STRING),
  annotations: STRING_MAP,
  data: BYTES,
  platform: PLATFORM,
  artifactType: STRING,
});

/** Layers read per manifest at most: a bound on the work of every rule, far above any model's file count. */
export const MAX_LAYERS = 4096;

/**
 * Every field of an OCI manifest, OCI index, Docker manifest and manifest
 * list, and the schema 1 fields: a case variant of any of them is refused,
 * whatever the document turns out to be.
 */
export const MANIFEST_SHAPE: JsonShape = objectOf({
  schemaVersion: INTEGER,
  mediaType: STRING,
  artifactType: STRING,
  config: DESCRIPTOR_SHAPE,
  layers: arrayOf(DESCRIPTOR_SHAPE, MAX_LAYERS),
  manifests: arrayOf(DESCRIPTOR_SHAPE),
  subject: DESCRIPTOR_SHAPE,
  annotations: STRING_MAP,
  fsLayers: ANY,
  history: ANY,
  blobs: ANY,
  signatures: ANY,
});

/** A document refused because the runtime could read it differently, or not at all. */
export class ManifestDocumentError extends ModelgateError<'INVALID_MANIFEST_DOCUMENT'> {
  static readonly codes = { INVALID_MANIFEST_DOCUMENT: {} } as const;
  override readonly name = 'ManifestDocumentError';
  readonly reason: string;
  constructor(reason: string, cause?: unknown) {
    super(ManifestDocumentError.codes, 'INVALID_MANIFEST_DOCUMENT', reason, cause);
    this.reason = reason;
  }
}

export interface ManifestDocument {
  /** The media type the document is read as: its own mediaType field, else the Content-Type, else its content. */
  readonly mediaType: string;
  readonly json: Readonly<Record<string, unknown>>;
}

const INDEX_ONLY = ['manifests'] as const;
const MANIFEST_ONLY = ['config', 'layers'] as const;
const SCHEMA1 = ['fsLayers', 'history', 'signatures', 'blobs'] as const;

const isKnownManifestType = (value: string): boolean => MANIFEST_MEDIA_TYPES.includes(value);
const has = (json: Readonly<Record<string, unknown>>, field: string): boolean => json[field] !== undefined;

/**
 * Reads a manifest or index strictly and decides what it is. Throws
 * ManifestDocumentError with a reason a user can act on.
 */
export function readManifestDocument(bytes: Uint8Array, contentType: string | undefined): ManifestDocument {
  const json = parseObject(bytes, 'manifest');
  if (json['schemaVersion'] !== 2) {
    throw new ManifestDocumentError(
      `the manifest has schemaVersion ${JSON.stringify(json['schemaVersion'] ?? null)}, not 2 (Docker schema 1 manifests are not supported)`,
    );
  }
  const schema1 = SCHEMA1.filter((field) => has(json, field));
  if (schema1.length > 0) throw new ManifestDocumentError(`the manifest has Docker schema 1 fields (${schema1.join(', ')}), which make it ambiguous`);

  const declared = typeof json['mediaType'] === 'string' && json['mediaType'] !== '' ? json['mediaType'] : undefined;
  const header = contentType === undefined ? '' : baseMediaType(contentType);
  let mediaType: string;
  if (declared !== undefined) {
    mediaType = declared;
    if (isKnownManifestType(header) && isKnownManifestType(declared) && header !== declared) {
      throw new ManifestDocumentError(`the registry served it as ${header}, but its mediaType is ${declared}`);
    }
  } else if (isKnownManifestType(header)) {
    mediaType = header;
  } else if (has(json, 'manifests') && !MANIFEST_ONLY.some((field) => has(json, field))) {
    mediaType = OCI_INDEX;
  } else if (MANIFEST_ONLY.some((field) => has(json, field)) && !has(json, 'manifests')) {
    mediaType = OCI_MANIFEST;
  } else {
    throw new ManifestDocumentError('the manifest has no mediaType, and its content is neither clearly a manifest nor an index');
  }

  if (isIndexMediaType(mediaType)) {
    const extra = MANIFEST_ONLY.filter((field) => has(json, field));
    if (extra.length > 0) throw new ManifestDocumentError(`the ${mediaType} also has ${extra.join(' and ')}, fields of an image manifest: it is ambiguous`);
    if (!Array.isArray(json['manifests'])) throw new ManifestDocumentError(`the ${mediaType} has no manifests list`);
  } else if (mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST_V2 || has(json, 'config')) {
    const extra = INDEX_ONLY.filter((field) => has(json, field));
    if (extra.length > 0) throw new ManifestDocumentError(`the ${mediaType} also has manifests, the field of an index: it is ambiguous`);
    if (!Array.isArray(json['layers']) && (mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST_V2)) {
      throw new ManifestDocumentError(`the ${mediaType} has no layers list`);
    }
  } else if (has(json, 'manifests') && MANIFEST_ONLY.some((field) => has(json, field))) {
    throw new ManifestDocumentError(`the ${mediaType} has both manifests and layers: it is ambiguous`);
  }
  return { mediaType, json };
}

/**
 * An OCI index read strictly: a referrers API answer or a referrers tag. As
 * before the referrers API existed, schemaVersion is not insisted on, and a
 * missing manifests list means no referrers.
 */
export function readIndexDocument(bytes: Uint8Array): Readonly<Record<string, unknown>> {
  const json = parseObject(bytes, 'index');
  const mediaType = json['mediaType'];
  if (mediaType !== undefined && mediaType !== OCI_INDEX) throw new ManifestDocumentError(`it is a ${JSON.stringify(mediaType)}, not an OCI image index`);
  const extra = [...MANIFEST_ONLY, ...SCHEMA1].filter((field) => has(json, field));
  if (extra.length > 0) throw new ManifestDocumentError(`the index also has ${extra.join(', ')}: it is ambiguous`);
  if (json['manifests'] !== undefined && !Array.isArray(json['manifests'])) throw new ManifestDocumentError('its manifests field is not a list');
  return json;
}

function parseObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseStrictJson(bytes, MANIFEST_SHAPE);
  } catch (error) {
    throw new ManifestDocumentError(describeRefusal(what, error), error);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ManifestDocumentError(`the ${what} is not a JSON object`);
  return parsed as Record<string, unknown>;
}
