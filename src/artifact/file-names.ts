/**
 * The files a model volume holds, named as CRI-O names them (the only runtime
 * that mounts non-image artifacts; containerd mounts images only). CRI-O
 * (internal/ociartifact/store.go, artifactName) takes the layer's
 * `org.opencontainers.image.title` if that annotation is present, even when
 * empty, else `org.cncf.model.filepath`, and skips a layer with neither; the
 * name is then joined under the volume with filepath-securejoin, which cleans
 * it lexically: `..` stops at the volume root, a leading `/` and a trailing
 * `/` or `/.` are dropped. Names are case-sensitive on disk, but a loader
 * need not care about case, so name rules compare without it.
 */
import { posix } from 'node:path';
import type { Descriptor } from '../oci/types.ts';

export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
export const MODEL_FILEPATH_ANNOTATION = 'org.cncf.model.filepath';
/** The ModelPack annotation before v0.0.7 moved from `cnai` to `cncf`: CRI-O does not read it, other tools may. */
export const LEGACY_MODEL_FILEPATH_ANNOTATION = 'org.cnai.model.filepath';

/** Every annotation that names a layer's file, for some tool. */
export const NAME_ANNOTATIONS: readonly string[] = [TITLE_ANNOTATION, MODEL_FILEPATH_ANNOTATION, LEGACY_MODEL_FILEPATH_ANNOTATION];

/** A name as securejoin leaves it under the volume: `''` is the volume root itself. */
export function cleanFileName(name: string): string {
  return posix.resolve('/', name).slice(1);
}

/**
 * Where CRI-O mounts the layer, relative to the volume (`''`: over the volume
 * itself); undefined when CRI-O skips the layer.
 */
export function mountedPath(layer: Descriptor): string | undefined {
  const annotations = layer.annotations;
  if (annotations === undefined) return undefined;
  const name = Object.hasOwn(annotations, TITLE_ANNOTATION) ? annotations[TITLE_ANNOTATION] : annotations[MODEL_FILEPATH_ANNOTATION];
  return name === undefined || name === '' ? undefined : cleanFileName(name);
}

/** Every name the layer carries, cleaned, without repeats: a rule on names judges all of them. */
export function layerNames(layer: Descriptor): string[] {
  const names = new Set<string>();
  for (const key of NAME_ANNOTATIONS) {
    const value = layer.annotations?.[key];
    if (value !== undefined && value !== '') names.add(cleanFileName(value));
  }
  return [...names];
}

/** `a/b/c.pkl` → `c.pkl`. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
