/**
 * Finds the image-volume references in an object's pod spec. It walks only the
 * known path to `volumes[].image.reference`, never the whole object, so odd or
 * deeply nested input costs nothing extra.
 */
import { isPlainObject } from '../policy/schema.ts';
import type { PodSpecLocation } from './kinds.ts';

export interface ModelReferenceSite {
  /** The volume's name, or `#<index>` when it has none. */
  readonly volume: string;
  /** Field path, e.g. `spec.template.spec.volumes[2].image.reference`. */
  readonly path: string;
  /** The value of `image.reference`; not necessarily a string in a malformed object. */
  readonly reference: unknown;
}

export function podSpecAt(object: unknown, location: PodSpecLocation): Record<string, unknown> | undefined {
  let node: unknown = object;
  for (const key of location.keys) {
    if (!isPlainObject(node)) return undefined;
    node = node[key];
  }
  return isPlainObject(node) ? node : undefined;
}

export function extractModelReferences(object: unknown, location: PodSpecLocation): ModelReferenceSite[] {
  const spec = podSpecAt(object, location);
  const volumes = spec?.['volumes'];
  if (!Array.isArray(volumes)) return [];
  const sites: ModelReferenceSite[] = [];
  for (let index = 0; index < volumes.length; index++) {
    const volume: unknown = volumes[index];
    if (!isPlainObject(volume) || !('image' in volume)) continue;
    const image = volume['image'];
    const name = typeof volume['name'] === 'string' && volume['name'] !== '' ? volume['name'] : `#${index}`;
    sites.push({
      volume: name,
      path: `${location.path}.volumes[${index}].image.reference`,
      reference: isPlainObject(image) ? image['reference'] : undefined,
    });
  }
  return sites;
}

/**
 * On UPDATE, only references that the old object did not already have are
 * judged again, so that label changes or finalizer removal on running
 * workloads are never blocked by a policy that changed since they were admitted.
 */
export function newReferences(sites: readonly ModelReferenceSite[], oldObject: unknown, location: PodSpecLocation): ModelReferenceSite[] {
  if (sites.length === 0) return [];
  const previous = new Set<unknown>(extractModelReferences(oldObject, location).map((site) => site.reference));
  if (previous.size === 0) return [...sites];
  return sites.filter((site) => typeof site.reference !== 'string' || !previous.has(site.reference));
}
