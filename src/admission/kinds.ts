/**
 * The object kinds that carry a pod spec, and where the pod spec sits in each,
 * so a workload is judged when it is applied rather than when its controller
 * later fails to create pods.
 */

export interface PodSpecLocation {
  /** Keys from the object root to the pod spec. */
  readonly keys: readonly string[];
  /** The same as a field path prefix, e.g. `spec.template.spec`. */
  readonly path: string;
}

const location = (...keys: string[]): PodSpecLocation => ({ keys, path: keys.join('.') });

const TEMPLATE = location('spec', 'template', 'spec');

/** Keyed by `group/Kind` (core group is empty). */
const POD_SPEC_LOCATIONS: ReadonlyMap<string, PodSpecLocation> = new Map([
  ['/Pod', location('spec')],
  ['/PodTemplate', location('template', 'spec')],
  ['/ReplicationController', TEMPLATE],
  ['apps/Deployment', TEMPLATE],
  ['apps/ReplicaSet', TEMPLATE],
  ['apps/StatefulSet', TEMPLATE],
  ['apps/DaemonSet', TEMPLATE],
  ['batch/Job', TEMPLATE],
  ['batch/CronJob', location('spec', 'jobTemplate', 'spec', 'template', 'spec')],
]);

export function podSpecLocation(group: string, kind: string): PodSpecLocation | undefined {
  return POD_SPEC_LOCATIONS.get(`${group}/${kind}`);
}

/** `apps/v1` → `apps`, `v1` → `` (core). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash === -1 ? '' : apiVersion.slice(0, slash);
}

export const SUPPORTED_KINDS: readonly string[] = [...POD_SPEC_LOCATIONS.keys()].map((key) => key.replace(/^\//, ''));
