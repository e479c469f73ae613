/**
 * Artifact facts as the cache keeps them: only what the rules read. Layer
 * annotations shrink to the file path ones, and media types, which repeat
 * across thousands of manifests, are shared strings. Measured: about half
 * the heap per cached ModelPack manifest.
 */
import { detach } from '../core/detach.ts';
import type { Descriptor } from '../oci/types.ts';
import type { ImageIndex, ImageManifest } from './manifest.ts';
import { NAME_ANNOTATIONS } from './file-names.ts';
import { LICENSES_ANNOTATION } from './media-types.ts';
import type { ArtifactFacts, ConfigFact } from './rules.ts';

const KEPT_ANNOTATIONS: readonly string[] = [...NAME_ANNOTATIONS, LICENSES_ANNOTATION];
const MAX_INTERNED = 4096;

/** One shared, detached copy of each frequent string, bounded so that hostile input cannot grow it without end. */
class Interned {
  readonly #strings = new Map<string, string>();

  get(value: string): string {
    const known = this.#strings.get(value);
    if (known !== undefined) return known;
    const copy = detach(value);
    if (this.#strings.size < MAX_INTERNED) this.#strings.set(copy, copy);
    return copy;
  }
}

/** Media types and annotation names: a few dozen in any cluster. */
const names = new Interned();
/** Layer file paths and licences (`model.safetensors`, `config.json`, `Apache-2.0`): recur across models; kept apart so unique ones cannot crowd out the names. */
const values = new Interned();
const intern = (value: string): string => names.get(value);
const NO_ANNOTATIONS: Readonly<Record<string, string>> = Object.freeze({});
const NO_CONFIGS: ArtifactFacts['configs'] = new Map();

function keptAnnotations(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  let kept: Record<string, string> | undefined;
  for (const key of KEPT_ANNOTATIONS) {
    const value = annotations[key];
    if (value === undefined) continue;
    kept ??= {};
    kept[intern(key)] = values.get(value);
  }
  return kept;
}

function compactDescriptor(descriptor: Descriptor): Descriptor {
  const annotations = keptAnnotations(descriptor.annotations);
  return {
    mediaType: intern(descriptor.mediaType),
    digest: detach(descriptor.digest),
    size: descriptor.size,
    ...(descriptor.artifactType === undefined ? {} : { artifactType: intern(descriptor.artifactType) }),
    ...(annotations === undefined ? {} : { annotations }),
  };
}

function compactManifest(manifest: ImageManifest): ImageManifest {
  return {
    kind: 'manifest',
    digest: detach(manifest.digest),
    mediaType: intern(manifest.mediaType),
    artifactType: manifest.artifactType === undefined ? undefined : intern(manifest.artifactType),
    config: compactDescriptor(manifest.config),
    layers: manifest.layers.map(compactDescriptor),
    annotations: keptAnnotations(manifest.annotations) ?? NO_ANNOTATIONS,
  };
}

export function compactFacts(facts: ArtifactFacts): ArtifactFacts {
  const manifests = facts.manifests.map(compactManifest);
  const root: ImageManifest | ImageIndex =
    facts.root.kind === 'manifest'
      ? (manifests[0] as ImageManifest)
      : {
          kind: 'index',
          digest: detach(facts.root.digest),
          mediaType: intern(facts.root.mediaType),
          artifactType: facts.root.artifactType === undefined ? undefined : intern(facts.root.artifactType),
          manifests: [],
          annotations: NO_ANNOTATIONS,
        };
  return { root, manifests, configs: facts.configs.size === 0 ? NO_CONFIGS : compactConfigs(facts.configs) };
}

function compactConfigs(configs: ArtifactFacts['configs']): ArtifactFacts['configs'] {
  const out = new Map<string, ConfigFact>();
  for (const [digest, config] of configs) {
    out.set(
      detach(digest),
      config.ok
        ? {
            ok: true,
            config: {
              format: config.config.format === undefined ? undefined : values.get(config.config.format),
              licenses: config.config.licenses.map((license) => values.get(license)),
              name: config.config.name === undefined ? undefined : detach(config.config.name),
            },
          }
        : { ok: false, reason: detach(config.reason) },
    );
  }
  return out;
}

/** V8 object sizes on 64-bit Node (no pointer compression): header of map, properties and elements, then a word per field. */
const OBJECT = 24;
const WORD = 8;
// biome-ignore lint/suspicious/noControlCharactersInRegex: V8 stores strings of Latin-1 characters, controls included, one byte each
const stringBytes = (value: string): number => 16 + value.length * (/^[\x00-\xff]*$/.test(value) ? 1 : 2);

function descriptorBytes(descriptor: Descriptor): number {
  let bytes = OBJECT + 5 * WORD + stringBytes(descriptor.digest);
  if (descriptor.annotations !== undefined) {
    for (const value of Object.values(descriptor.annotations)) bytes += WORD * 2 + stringBytes(value);
    bytes += OBJECT;
  }
  return bytes;
}

function manifestBytes(manifest: ImageManifest): number {
  let bytes = OBJECT + 8 * WORD + stringBytes(manifest.digest) + descriptorBytes(manifest.config) + 16 + manifest.layers.length * WORD;
  for (const layer of manifest.layers) bytes += descriptorBytes(layer);
  for (const value of Object.values(manifest.annotations)) bytes += WORD * 2 + stringBytes(value);
  return bytes;
}

/**
 * The heap a cached entry takes, estimated from its compact form (not from the
 * manifest's text, which a hostile manifest can make small while its layers
 * are many): objects, the digests and file names it keeps, and the cache's own
 * entry and key. Interned media types and annotation names are shared and not counted.
 */
export function estimateHeapBytes(facts: ArtifactFacts): number {
  let bytes = 256;
  for (const manifest of facts.manifests) bytes += manifestBytes(manifest);
  if (facts.root.kind === 'index') bytes += OBJECT + 6 * WORD + stringBytes(facts.root.digest);
  for (const [digest, config] of facts.configs)
    bytes +=
      64 +
      stringBytes(digest) +
      (config.ok ? 128 + config.config.licenses.reduce((sum, license) => sum + stringBytes(license), 0) : stringBytes(config.reason));
  return bytes;
}
