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
const interned = new Map<string, string>();

/** One shared copy of a frequent string (bounded, so hostile input cannot grow it without end). */
function intern(value: string): string {
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size < MAX_INTERNED) interned.set(value, value);
  return value;
}

function keptAnnotations(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
  if (annotations === undefined) return undefined;
  let kept: Record<string, string> | undefined;
  for (const key of KEPT_ANNOTATIONS) {
    const value = annotations[key];
    if (value !== undefined) (kept ??= {})[intern(key)] = value;
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
    annotations: keptAnnotations(manifest.annotations) ?? {},
  };
}

export function compactFacts(facts: ArtifactFacts): ArtifactFacts {
  const manifests = facts.manifests.map(compactManifest);
  const root: ImageManifest | ImageIndex =
    facts.root.kind === 'manifest'
      ? (manifests[0] as ImageManifest)
      : { kind: 'index', digest: facts.root.digest, mediaType: intern(facts.root.mediaType), artifactType: facts.root.artifactType, manifests: [], annotations: {} };
  return { root, manifests, configs: facts.configs };
}
