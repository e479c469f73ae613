/**
 * Finds the model references in an object: the image volumes of each of its
 * pod specs, the `oci://` storage URIs of KServe components, and image volumes
 * that an Argo podSpecPatch adds. It walks only the paths its kind declares
 * (kinds.ts), never the whole object, so odd or deeply nested input costs
 * nothing extra.
 */
import { parseDocument } from 'yaml';
import { duplicateKeyProblem } from '../core/yaml-keys.ts';
import { isPlainObject } from '../core/guards.ts';
import type { PodSource, WorkloadKind } from './kinds.ts';
import { walkPath } from '../core/paths.ts';
import type { ModelReferenceSite } from '../engine/site.ts';

/** KServe pulls `oci://` (and `oci+native://`) storage URIs as images; other schemes (s3, gs, hf, pvc) are not OCI models. */
const OCI_URI = /^oci(?:\+native)?:\/\//i;
/** A podSpecPatch is a small document; a larger one is refused rather than parsed. */
const MAX_PATCH_BYTES = 64 * 1024;

function volumeSites(volumes: unknown, listPath: string, podSpec: Record<string, unknown>, into: ModelReferenceSite[]): void {
  if (!Array.isArray(volumes)) return;
  volumes.forEach((volume: unknown, index) => {
    if (!isPlainObject(volume) || !('image' in volume)) return;
    const image = volume['image'];
    into.push({
      kind: 'volume',
      volume: typeof volume['name'] === 'string' && volume['name'] !== '' ? volume['name'] : `#${index}`,
      path: `${listPath}[${index}].image.reference`,
      reference: isPlainObject(image) ? image['reference'] : undefined,
      podSpec,
    });
  });
}

/** The image volumes a strategic-merge patch of a PodSpec adds (Argo's podSpecPatch, JSON or YAML text). */
function patchSites(patch: unknown, path: string, podSpec: Record<string, unknown>, into: ModelReferenceSite[]): void {
  if (typeof patch !== 'string' || !patch.includes('image')) return;
  let parsed: unknown;
  try {
    if (Buffer.byteLength(patch) > MAX_PATCH_BYTES) throw new Error('too large');
    const document = parseDocument(patch, { uniqueKeys: false });
    if (document.errors.length > 0 || duplicateKeyProblem(document) !== undefined) throw new Error('unreadable');
    parsed = document.toJS({ maxAliasCount: 10 });
  } catch {
    into.push({
      kind: 'volume',
      volume: '(podSpecPatch)',
      path,
      reference: undefined,
      problem: 'the podSpecPatch cannot be read as YAML or JSON (or is over 64 KiB), so the image volumes it may add cannot be judged',
      podSpec,
    });
    return;
  }
  if (isPlainObject(parsed)) volumeSites(parsed['volumes'], `${path}: volumes`, podSpec, into);
}

function sourceSites(object: unknown, source: PodSource, into: ModelReferenceSite[]): void {
  for (const holder of walkPath(object, source.at)) {
    if (!isPlainObject(holder.value)) continue;
    const podSpec = holder.value;
    for (const pattern of source.volumes) for (const list of walkPath(podSpec, pattern, holder.path)) volumeSites(list.value, list.path, podSpec, into);
    for (const pattern of source.storageUris) {
      for (const uri of walkPath(podSpec, pattern, holder.path)) {
        if (typeof uri.value !== 'string') continue;
        const scheme = OCI_URI.exec(uri.value);
        if (scheme === null) continue;
        into.push({ kind: 'storageUri', volume: pattern.source, path: uri.path, reference: uri.value.slice(scheme[0].length), podSpec });
      }
    }
    for (const pattern of source.podSpecPatches)
      for (const patch of walkPath(podSpec, pattern, holder.path)) patchSites(patch.value, patch.path, podSpec, into);
  }
}

export function extractModelReferences(object: unknown, kind: WorkloadKind): ModelReferenceSite[] {
  const sites: ModelReferenceSite[] = [];
  for (const source of kind.sources) sourceSites(object, source, sites);
  return sites;
}

/**
 * On UPDATE, only references that the old object did not already have are
 * judged again, so that label changes or finalizer removal on running
 * workloads are never blocked by a policy that changed since they were admitted.
 */
export function newReferences(sites: readonly ModelReferenceSite[], oldObject: unknown, kind: WorkloadKind): ModelReferenceSite[] {
  if (sites.length === 0) return [];
  const previous = new Set<unknown>(extractModelReferences(oldObject, kind).map((site) => site.reference));
  if (previous.size === 0) return [...sites];
  return sites.filter((site) => site.problem !== undefined || typeof site.reference !== 'string' || !previous.has(site.reference));
}
