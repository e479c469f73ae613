/**
 * Kubernetes objects from YAML or JSON manifests (multi-document files,
 * `kind: List`, `kubectl get -o yaml` output), turned into the same
 * AdmissionRequest the API server would send on CREATE, so offline checks
 * run through the very same engine as the webhook.
 */
import { EXIT_USAGE, ModelgateError } from '../core/errors.ts';
import { parseAllDocuments } from 'yaml';
import { isPlainObject } from '../core/guards.ts';
import { groupOf } from './kinds.ts';
import type { AdmissionRequest } from './review.ts';

export class ManifestError extends ModelgateError<'INVALID_MANIFESTS'> {
  static readonly codes = { INVALID_MANIFESTS: { exitCode: EXIT_USAGE } } as const;
  override readonly name = 'ManifestError';
  constructor(message: string) {
    super(ManifestError.codes, 'INVALID_MANIFESTS', message);
  }
}

export type KubeObject = Record<string, unknown>;

/** Every object in the text, with List items flattened. Throws ManifestError on YAML errors. */
export function objectsFromText(text: string, source: string): KubeObject[] {
  const objects: KubeObject[] = [];
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      throw new ManifestError(`${source} (document ${index + 1}): ${doc.errors[0]?.message.split('\n')[0] ?? 'invalid YAML'}`);
    }
    const data: unknown = doc.toJS({ maxAliasCount: 100 });
    if (data === null || data === undefined) return;
    if (!isPlainObject(data)) throw new ManifestError(`${source} (document ${index + 1}): not a Kubernetes object`);
    flatten(data, objects);
  });
  return objects;
}

function flatten(object: KubeObject, into: KubeObject[]): void {
  if (typeof object['kind'] === 'string' && object['kind'].endsWith('List') && Array.isArray(object['items'])) {
    for (const item of object['items']) if (isPlainObject(item)) flatten(item, into);
    return;
  }
  into.push(object);
}

let counter = 0;

/** The AdmissionRequest for creating the object. */
export function creationRequest(object: KubeObject): AdmissionRequest {
  const apiVersion = typeof object['apiVersion'] === 'string' ? object['apiVersion'] : '';
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  const slash = apiVersion.indexOf('/');
  const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
  counter += 1;
  return {
    uid: `offline-${counter}`,
    kind: { group: groupOf(apiVersion), version: slash === -1 ? apiVersion : apiVersion.slice(slash + 1), kind: str(object['kind']) ?? '' },
    subResource: undefined,
    name: str(metadata['name']),
    // Absent for cluster-scoped kinds; handleAdmission puts namespaced objects without one into `default`, as kubectl would.
    namespace: str(metadata['namespace']),
    operation: 'CREATE',
    object,
    oldObject: null,
    dryRun: true,
    username: undefined,
  };
}
