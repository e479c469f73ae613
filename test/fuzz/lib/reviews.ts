/**
 * AdmissionReviews for the fuzz suite: envelopes as kube-apiserver sends
 * them around objects of every kind that carries a pod spec (and some that
 * do not), with image volumes whose references come from a grammar that
 * includes hostile strings, in counts up to thousands, then mutated: wrong
 * types at any level, fields removed or nulled, deep junk.
 */
import fc from 'fast-check';
import { grammarReference } from './references.ts';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Where each kind keeps its pod spec, written here from the README's list rather than taken from src. */
export const POD_SPEC_KEYS: ReadonlyMap<string, readonly string[]> = new Map([
  ['/Pod', ['spec']],
  ['/PodTemplate', ['template', 'spec']],
  ['/ReplicationController', ['spec', 'template', 'spec']],
  ['apps/Deployment', ['spec', 'template', 'spec']],
  ['apps/ReplicaSet', ['spec', 'template', 'spec']],
  ['apps/StatefulSet', ['spec', 'template', 'spec']],
  ['apps/DaemonSet', ['spec', 'template', 'spec']],
  ['batch/Job', ['spec', 'template', 'spec']],
  ['batch/CronJob', ['spec', 'jobTemplate', 'spec', 'template', 'spec']],
]);

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** References that are valid and pinned: any policy that only requires digests allows them. */
export const VALID_PINNED: readonly string[] = [
  `ghcr.io/acme/models/llama@${DIGEST}`,
  `ghcr.io/acme/models/llama:v1@${DIGEST}`,
  `registry.example:5000/team/model_a@${DIGEST}`,
  `localhost/m@sha512:${'ab'.repeat(64)}`,
  `docker.io/library/llama@${DIGEST}`,
  `llama@${DIGEST}`,
  `[::1]:5000/a/b@${DIGEST}`,
];

/** Pinned means: a string ending in a sha256 or sha512 digest. Anything else must be denied under the bundled policy. */
export function isPinned(reference: unknown): boolean {
  return typeof reference === 'string' && /@(?:sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(reference);
}

const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  'ghcr.io/acme/llama',
  'ghcr.io/acme/llama:latest',
  `ghcr.io/acme/llama@${DIGEST} `,
  `ghcr.io/acme/llama@${DIGEST}\n`,
  `ghcr.io/acme/llama@${DIGEST.toUpperCase()}`,
  `ghcr.io/acme/llama@sha384:${'a'.repeat(96)}`,
  `GHCR.IO/Acme/llama@${DIGEST}`,
  `ghcr.io/acme/llama@${DIGEST}@${DIGEST}`,
  `@${DIGEST}`,
  '0123456789abcdef'.repeat(4),
  '\u0000',
  'ghcr.io/acme/llama\u202e@sha256:0',
  '"; DROP TABLE models; --',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j lookup string, meant literally
  '${jndi:ldap://x}',
  `ghcr.io/acme/llama@sha256:${'a'.repeat(10_000)}`,
];

/** Values an `image.reference` may hold in a hostile object. */
export const referenceValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...VALID_PINNED) },
  { weight: 3, arbitrary: grammarReference },
  { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.nat({ max: 200_000 }).map((length) => `ghcr.io/acme/${'a'.repeat(length)}:v1`) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom<Json>(null, [], { reference: DIGEST }), fc.integer(), fc.boolean()) },
);

const volumeName = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('model', 'weights', 'tokenizer', 'm-1') },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
);

export const volume: fc.Arbitrary<Json> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      name: volumeName,
      image: fc.record({ reference: referenceValue, pullPolicy: fc.constantFrom('IfNotPresent', 'Always') }, { requiredKeys: ['reference'] }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ name: volumeName, emptyDir: fc.constant({}) }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Json>(
      { name: 'x', image: null },
      { name: 'x', image: 'ghcr.io/acme/llama' },
      { name: 'x', image: {} },
      { name: 'x', image: [] },
      { name: 5, image: { reference: VALID_PINNED[0] as string } },
      { image: { reference: 'ghcr.io/acme/llama:v1' } },
      null,
      'volume',
      7,
      [],
    ),
  },
);

/** How many volumes: mostly a few, sometimes around the reference cap, sometimes thousands. */
const volumeCount = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 6, max: 70 }) },
  { weight: 1, arbitrary: fc.integer({ min: 500, max: 3000 }) },
);

/** What kube-apiserver sends at most: its request body limit is 3 MiB (and etcd keeps 1.5 MiB objects). */
const MAX_VOLUMES_BYTES = 3 * 1024 * 1024;
const SMALL_VOLUME: Json = { name: 'model', image: { reference: 'ghcr.io/acme/llama:v1' } };

/**
 * A few distinct volumes repeated up to the count: thousands of volumes
 * without thousands of generated values. Volumes too large to repeat that
 * often within what the API server can send are left out.
 */
export const volumes: fc.Arbitrary<Json[]> = fc.tuple(fc.array(volume, { minLength: 1, maxLength: 6 }), volumeCount).map(([distinct, count]) => {
  const fitting = distinct.filter((item) => JSON.stringify(item).length * count <= MAX_VOLUMES_BYTES);
  const pool = fitting.length > 0 ? fitting : [SMALL_VOLUME];
  return Array.from({ length: count }, (_, index) => pool[index % pool.length] as Json);
});

const KIND_CHOICES: readonly [string, string, string][] = [
  ['', 'v1', 'Pod'],
  ['apps', 'v1', 'Deployment'],
  ['batch', 'v1', 'CronJob'],
  ['', 'v1', 'Pod'],
  ['', 'v1', 'PodTemplate'],
  ['', 'v1', 'ReplicationController'],
  ['apps', 'v1', 'Deployment'],
  ['apps', 'v1', 'ReplicaSet'],
  ['apps', 'v1', 'StatefulSet'],
  ['apps', 'v1', 'DaemonSet'],
  ['batch', 'v1', 'Job'],
  ['batch', 'v1', 'CronJob'],
  ['', 'v1', 'ConfigMap'],
  ['apps', 'v1', 'Pod'],
  ['', 'v1', 'pod'],
];

/** An object of the kind with the pod spec (holding `vols`) where that kind keeps it, or under `spec` for other kinds. */
function objectWith(group: string, version: string, kind: string, vols: Json[], namespace: string, name: string): { [key: string]: Json } {
  const keys = POD_SPEC_KEYS.get(`${group}/${kind}`) ?? ['spec'];
  let spec: Json = { containers: [{ name: 'server', image: 'registry.k8s.io/pause:3.10' }], volumes: vols };
  for (let index = keys.length - 1; index >= 0; index--) spec = { [keys[index] as string]: spec };
  return { apiVersion: group === '' ? version : `${group}/${version}`, kind, metadata: { name, namespace }, ...(spec as { [key: string]: Json }) };
}

export interface GeneratedReview {
  readonly review: { [key: string]: Json };
  /** Text that replaces the string "DEEP" once serialised: nesting JSON.stringify cannot write. */
  readonly deep: string | undefined;
}

const namespace = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('team-a', 'default', 'kube-system') },
  { weight: 1, arbitrary: fc.constantFrom('', 'a/b', '*', 'n'.repeat(5000)) },
);

export const review: fc.Arbitrary<GeneratedReview> = fc
  .record({
    kind: fc.constantFrom(...KIND_CHOICES),
    vols: volumes,
    oldVols: fc.option(volumes, { nil: undefined, freq: 2 }),
    operation: fc.oneof(
      { weight: 8, arbitrary: fc.constant('CREATE') },
      { weight: 4, arbitrary: fc.constant('UPDATE') },
      { weight: 1, arbitrary: fc.constantFrom('DELETE', 'CONNECT', 'create', 'PATCH') },
    ),
    subResource: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('status', 'ephemeralcontainers', '') }),
    namespace,
    name: fc.oneof({ weight: 6, arbitrary: fc.constant('llm') }, { weight: 1, arbitrary: fc.string({ maxLength: 2000 }) }),
    uid: fc.oneof({ weight: 6, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.string({ maxLength: 300 }) }),
    dryRun: fc.boolean(),
    deep: fc.option(fc.integer({ min: 100, max: 5000 }), { nil: undefined, freq: 8 }),
  })
  .map(({ kind: [group, version, kind], vols, oldVols, operation, subResource, namespace: ns, name, uid, dryRun, deep }) => {
    const object = objectWith(group, version, kind, vols, ns, name);
    if (deep !== undefined) object['junk'] = 'DEEP';
    const request: { [key: string]: Json } = {
      uid,
      kind: { group, version, kind },
      resource: { group, version, resource: `${kind.toLowerCase()}s` },
      operation,
      namespace: ns,
      name,
      userInfo: { username: 'system:serviceaccount:team-a:deployer', groups: ['system:serviceaccounts'] },
      object,
      oldObject: operation === 'UPDATE' && oldVols !== undefined ? objectWith(group, version, kind, oldVols, ns, name) : null,
      dryRun,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    };
    if (subResource !== undefined) request['subResource'] = subResource;
    return {
      review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request },
      deep: deep === undefined ? undefined : `${'{"a":['.repeat(deep)}1${']}'.repeat(deep)}`,
    };
  });

// ---- mutations of the parsed tree ------------------------------------------------------------

export type TreeMutation = { readonly op: 'replace'; readonly at: number; readonly value: Json } | { readonly op: 'delete'; readonly at: number };

const junk: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<Json>(null, 0, -1, 1e308, '', 'x', true, [], {}, [null], { reference: 5 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
);

export const treeMutation: fc.Arbitrary<TreeMutation> = fc.oneof(
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: junk }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
);

/** The containers of the first nodes of a tree, in document order (a bounded number: thousands of volumes must not make mutations rare elsewhere). */
function slots(root: Json, limit: number): { parent: Json[] | { [key: string]: Json }; key: string | number }[] {
  const out: { parent: Json[] | { [key: string]: Json }; key: string | number }[] = [];
  const walk = (node: Json): void => {
    if (out.length >= limit || node === null || typeof node !== 'object') return;
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, index) => index).slice(0, 8) : Object.keys(node);
    for (const key of keys) {
      if (out.length >= limit) return;
      out.push({ parent: node, key });
      walk((node as Record<string | number, Json>)[key] as Json);
    }
  };
  walk(root);
  return out;
}

/** Applies the mutations to `tree` in place (it is a fresh JSON.parse copy). */
export function mutateTree(tree: Json, mutations: readonly TreeMutation[]): void {
  for (const mutation of mutations) {
    const candidates = slots(tree, 400);
    const slot = candidates[mutation.at % Math.max(candidates.length, 1)];
    if (slot === undefined) continue;
    if (Array.isArray(slot.parent)) {
      if (mutation.op === 'replace') slot.parent[slot.key as number] = mutation.value;
      else slot.parent.splice(slot.key as number, 1);
    } else if (mutation.op === 'replace') {
      slot.parent[slot.key as string] = mutation.value;
    } else {
      delete slot.parent[slot.key as string];
    }
  }
}
