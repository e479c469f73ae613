/**
 * Artifact facts as the cache keeps them: only what the rules read. Layer
 * annotations shrink to the file path ones, and media types, which repeat
 * across thousands of manifests, are shared strings. Measured: about half
 * the heap per cached ModelPack manifest.
 */
import type { Descriptor } from '../oci/types.ts';
import type { ImageIndex, ImageManifest } from './manifest.ts';
import { FILE_PATH_ANNOTATIONS, LICENSES_ANNOTATION } from './media-types.ts';
import type { ArtifactFacts } from './rules.ts';

const KEPT_ANNOTATIONS: readonly string[] = [...FILE_PATH_ANNOTATIONS, LICENSES_ANNOTATION];
const MAX_INTERNED = 4096;

/** One shared copy of each frequent string, bounded so that hostile input cannot grow it without end. */
class Interned {
  readonly #strings = new Map<string, string>();

  get(value: string): string {
    const known = this.#strings.get(value);
    if (known !== undefined) return known;
    if (this.#strings.size < MAX_INTERNED) this.#strings.set(value, value);
    return value;
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
    if (value !== undefined) (kept ??= {})[intern(key)] = values.get(value);
  }
  return kept;
}

function compactDescriptor(descriptor: Descriptor): Descriptor {
  const annotations = keptAnnotations(descriptor.annotations);
  return {
    mediaType: intern(descriptor.mediaType),
    digest: descriptor.digest,
    size: descriptor.size,
    ...(descriptor.artifactType === undefined ? {} : { artifactType: intern(descriptor.artifactType) }),
    ...(annotations === undefined ? {} : { annotations }),
  };
}

function compactManifest(manifest: ImageManifest): ImageManifest {
  return {
    kind: 'manifest',
    digest: manifest.digest,
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
      : { kind: 'index', digest: facts.root.digest, mediaType: intern(facts.root.mediaType), artifactType: facts.root.artifactType, manifests: [], annotations: NO_ANNOTATIONS };
  return { root, manifests, configs: facts.configs.size === 0 ? NO_CONFIGS : facts.configs };
}
