/**
 * Manifests for the differential suite: generated ones (fast-check) and the
 * hand-made attacks of issue 9, with the comparison of what modelgate judges
 * against what Go's decoder (CRI-O's) reads from the same bytes.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mountedPath } from '../../../src/artifact/file-names.ts';
import { MalformedManifestError, parseManifest } from '../../../src/artifact/manifest.ts';
import type { ImageManifest } from '../../../src/artifact/manifest.ts';
import { ManifestDocumentError, readManifestDocument } from '../../../src/oci/documents.ts';
import { nodeOf } from './json-text.ts';
import type { JsonNode, Mutation } from './json-text.ts';
import type { OracleManifest } from './oracle.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const TITLE = 'org.opencontainers.image.title';
export const FILEPATH = 'org.cncf.model.filepath';
export const LEGACY_FILEPATH = 'org.cnai.model.filepath';
export const LICENSES = 'org.opencontainers.image.licenses';

export const digestOf = (char: string, algorithm: 'sha256' | 'sha512' = 'sha256'): string => `${algorithm}:${char.repeat(algorithm === 'sha256' ? 64 : 128)}`;

/** What modelgate made of some bytes: the manifest it judges, or why it refused them. */
export type ModelgateReading =
  | { readonly accepted: true; readonly manifest: ImageManifest }
  | { readonly accepted: false; readonly reason: string; readonly asIndex: boolean };

/** The registry client's reading (documents.ts) followed by the rules' view (manifest.ts), as a fetched manifest goes. */
export function readAsModelgate(bytes: Uint8Array, contentType: string | undefined): ModelgateReading {
  const digest = digestOf('0');
  try {
    const document = readManifestDocument(bytes, contentType);
    const manifest = parseManifest({ digest, mediaType: document.mediaType, bytes: Buffer.from(bytes), json: document.json });
    if (manifest.kind === 'index') return { accepted: false, reason: 'read as an index', asIndex: true };
    return { accepted: true, manifest };
  } catch (error) {
    // Refusals only: anything else thrown is a crash, and fails the test.
    if (!(error instanceof ManifestDocumentError || error instanceof MalformedManifestError)) throw error;
    return { accepted: false, reason: error.message, asIndex: false };
  }
}

const annotationsOrEmpty = (annotations: Readonly<Record<string, string>> | null | undefined): Record<string, string> => ({ ...annotations });

/**
 * The differential property for one input: modelgate accepted it, so Go must
 * too, and every layer modelgate judges (media type, digest, size, each
 * annotation, the file CRI-O writes) must be the one Go decoded; the manifest's
 * own annotations, artifactType and config media type as well.
 */
export function assertSameReading(label: string, manifest: ImageManifest, go: OracleManifest): void {
  assert.ok(go.ok, `${label}: modelgate accepted what Go refuses (${go.error})`);
  assert.equal(manifest.layers.length, go.layers.length, `${label}: layer count`);
  manifest.layers.forEach((layer, index) => {
    const goLayer = go.layers[index] as OracleManifest['layers'][number];
    const where = `${label}: layers[${index}]`;
    assert.equal(layer.mediaType, goLayer.mediaType, `${where}.mediaType`);
    assert.equal(layer.digest, goLayer.digest, `${where}.digest`);
    // Numerically equal: Go's int64 has no -0.
    assert.ok(layer.size === goLayer.size, `${where}.size: modelgate ${layer.size}, Go ${goLayer.size}`);
    assert.deepEqual(annotationsOrEmpty(layer.annotations), annotationsOrEmpty(goLayer.annotations), `${where}.annotations`);
    const file = mountedPath(layer);
    // A name with a NUL makes securejoin's lstat fail: CRI-O fails the mount, the oracle answers null.
    if (!(goLayer.file === null && file?.includes('\u0000') === true)) assert.equal(file ?? null, goLayer.file, `${where}: the file CRI-O mounts`);
  });
  assert.deepEqual(annotationsOrEmpty(manifest.annotations), annotationsOrEmpty(go.annotations), `${label}: manifest annotations`);
  assert.equal(manifest.artifactType ?? '', go.artifactType ?? '', `${label}: artifactType`);
  assert.equal(manifest.config.mediaType, go.configType ?? '', `${label}: config mediaType`);
}

// ---- generated manifests ------------------------------------------------------------------

const FILE_NAMES = [
  'model.safetensors',
  'weights.pkl',
  'weights.pkl/.',
  'weights.pkl/',
  'WEIGHTS.PKL',
  'config.json',
  '../../etc/passwd',
  '/abs/model.gguf',
  'a/b/../c.bin',
  'dir//x.bin',
  './x.bin',
  '.',
  '..',
  '/',
  '',
  ' ',
  'x\\y.pkl',
  'modèle.bin',
  'a/./b/.././c.pt',
  '...',
];

const fileName = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FILE_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: 'binary' }) });

const annotationKey = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(TITLE, FILEPATH, LEGACY_FILEPATH, LICENSES) },
  { weight: 1, arbitrary: fc.constantFrom('Org.opencontainers.image.title', 'org.opencontainers.image.titlе', '__proto__', 'constructor', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

const annotations = fc.dictionary(annotationKey, fileName, { maxKeys: 4 });

const digest = fc.oneof(
  { weight: 100, arbitrary: fc.constantFrom('a', 'b', 'c', '1').map((char) => digestOf(char)) },
  { weight: 5, arbitrary: fc.constant(digestOf('d', 'sha512')) },
  { weight: 1, arbitrary: fc.constantFrom('sha256:', 'md5:abc', `SHA256:${'a'.repeat(64)}`, 'not a digest', '') },
);

const size = fc.oneof(
  { weight: 100, arbitrary: fc.nat({ max: 1 << 30 }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 62, -1) },
);

const LAYER_TYPES = [
  'application/vnd.cncf.model.weight.v1.raw',
  'application/vnd.cncf.model.weight.v1.tar',
  'application/octet-stream',
  'application/vnd.oci.image.layer.v1.tar+gzip',
];
const layerType = fc.oneof({ weight: 50, arbitrary: fc.constantFrom(...LAYER_TYPES) }, { weight: 1, arbitrary: fc.constant('') });

const descriptor = fc.record(
  { mediaType: layerType, digest, size, annotations, artifactType: fc.constantFrom('application/vnd.cncf.model.manifest.v1+json', '') },
  { requiredKeys: ['mediaType', 'digest', 'size'] },
);

export const manifestValue = fc.record(
  {
    schemaVersion: fc.oneof({ weight: 12, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.constantFrom(1, 3) }),
    mediaType: fc.oneof(
      { weight: 6, arbitrary: fc.constant(OCI_MANIFEST) },
      { weight: 1, arbitrary: fc.constantFrom(DOCKER_MANIFEST, OCI_INDEX, 'application/json', '') },
    ),
    artifactType: fc.constantFrom('application/vnd.cncf.model.manifest.v1+json', 'application/vnd.example+type'),
    config: descriptor,
    layers: fc.array(descriptor, { maxLength: 5 }),
    annotations,
  },
  { requiredKeys: ['schemaVersion', 'config', 'layers'] },
);

/** A value another key might carry: the likely ones (a second layer list, a name) and plain junk. */
export const otherValue: fc.Arbitrary<JsonNode> = fc
  .oneof(
    { weight: 3, arbitrary: fc.array(descriptor, { minLength: 1, maxLength: 2 }) },
    { weight: 2, arbitrary: fc.constantFrom('weights.pkl', 'model.safetensors', OCI_INDEX, DOCKER_MANIFEST) },
    { weight: 1, arbitrary: annotations },
    { weight: 1, arbitrary: descriptor },
    { weight: 1, arbitrary: fc.oneof(fc.nat({ max: 99 }), fc.constant(null), fc.boolean(), fc.constant([])) },
  )
  .map(nodeOf);

/** Fields to add anywhere: known ones of some object (in the wrong place too), case variants, unknown ones. */
const FIELD_NAMES = [
  ...['layers', 'manifests', 'config', 'mediaType', 'annotations', 'schemaVersion', 'fsLayers', 'history', 'signatures', 'blobs', 'subject'],
  ...['size', 'digest', 'urls', 'data', 'platform'],
  ...['x-extra', 'Layers', 'layerſ', 'annotationſ', 'Kind'],
];

/** Mutations that keep the document's meaning (escapes, order, unknown fields) weigh as much as those that make it ambiguous, so that many mutated documents are still accepted and compared. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('escape-key' as const), at: fc.nat(), unit: fc.nat(), upperHex: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('escape-value' as const), at: fc.nat(), unit: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('reorder' as const), object: fc.nat(), by: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('lone-surrogate' as const), at: fc.nat(), code: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('add-field' as const), object: fc.nat(), key: fc.constantFrom(...FIELD_NAMES), value: otherValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate-key' as const), at: fc.nat(), last: fc.boolean(), value: otherValue }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('case-key' as const), at: fc.nat(), unit: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fold-key' as const), at: fc.nat(), unit: fc.nat(), escaped: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('null-value' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('number-form' as const), at: fc.nat(), form: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replace-value' as const), at: fc.nat(), value: otherValue }) },
);

/** Changes to the bytes after serialising: what a JSON tree cannot hold. */
export type ByteChange = 'none' | 'bom' | 'invalid-utf8' | 'truncate' | 'trailing-text' | 'whitespace';

export function changeBytes(text: string, change: ByteChange, at: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const cut = at % Math.max(bytes.length, 1);
  switch (change) {
    case 'none':
      return bytes;
    case 'bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
    case 'invalid-utf8': {
      // Inside a string where there is one, so that only the encoding is wrong.
      const quote = text.indexOf('"', cut);
      const where = quote === -1 ? cut : Buffer.byteLength(text.slice(0, quote + 1));
      return Buffer.concat([bytes.subarray(0, where), Buffer.from([0xff, 0xc3]), bytes.subarray(where)]);
    }
    case 'truncate':
      return bytes.subarray(0, cut);
    case 'trailing-text':
      return Buffer.concat([bytes, Buffer.from(' {}')]);
    case 'whitespace':
      return Buffer.from(text.replaceAll(',', ' ,\n\t'), 'utf8');
  }
}

export const byteChange = fc.oneof(
  { weight: 12, arbitrary: fc.constant('none' as ByteChange) },
  { weight: 1, arbitrary: fc.constantFrom<ByteChange>('bom', 'invalid-utf8', 'truncate', 'trailing-text', 'whitespace') },
);

export const contentType = fc.oneof(
  { weight: 3, arbitrary: fc.constant(OCI_MANIFEST) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom(DOCKER_MANIFEST, OCI_INDEX, 'application/octet-stream') },
);
