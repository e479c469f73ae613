/**
 * The hostile inputs of the abuse benchmark (bench/abuse.ts), shared with the
 * chaos suite's process-limits test: a review of a Pod with thousands of image
 * volumes, ModelPack manifests of several MiB, long references against a
 * backtracking-prone glob, and JSON nested deeper than any parser stack.
 */
import { OCI_MANIFEST, sha256 } from '../../test/support/artifacts.ts';
import type { TestBlob } from '../../test/support/artifacts.ts';
import { MODELPACK_ARTIFACT, modelFile } from '../../test/support/models.ts';
import { DIGEST, admissionReview, kubeObject } from '../../test/support/objects.ts';
import type { ImageVolume, Json } from '../../test/support/objects.ts';

const MiB = 1024 * 1024;
const WEIGHT = modelFile('x', 'x').mediaType;

/** Every reference must be pinned to a digest: the ordinary review (one pinned volume) passes it. */
export const PINNED_POLICY = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: pinned-models}
spec:
  mode: enforce
  match: {namespaces: ["*"], references: ["**"]}
  requireDigest: true
`;
const ARTIFACT_RULES = 'types: [modelpack], mountable: true, denyFiles: ["*.pkl"]';

/** PINNED_POLICY and policy "models": the references matching `pattern` must be mountable ModelPacks without pickles. */
export const artifactPolicies = (pattern: string): string => `${PINNED_POLICY}---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec:
  match: {references: ["${pattern}"]}
  requireDigest: true
  artifact: {${ARTIFACT_RULES}}
`;

/** A dry-run review of a Pod with `volumes` unpinned image volumes, padded to about `targetBytes`. */
export function bigPodReview(volumes: number, targetBytes: number): string {
  const make = (pad: number): string => {
    const list: ImageVolume[] = Array.from({ length: volumes }, (_, i) => ({
      name: `model-${String(i).padStart(5, '0')}`,
      reference: `ghcr.io/acme/models/llama-${String(i).padStart(5, '0')}:v1${pad > 0 ? `-${'x'.repeat(pad - 1)}` : ''}`,
    }));
    return JSON.stringify(admissionReview(kubeObject('Pod', list), { dryRun: true }));
  };
  const base = make(0).length;
  const pad = Math.max(0, Math.min(120, Math.round((targetBytes - base) / volumes)));
  return make(pad);
}

const MANIFEST_TARGET = Math.round(3.8 * MiB);

export interface BigManifest {
  readonly kind: string;
  readonly layers: number;
  readonly digest: string;
  readonly bytes: Buffer;
}

/** A ModelPack manifest grown to about MANIFEST_TARGET bytes by `grow(pad)`, whose size grows by one byte per pad unit and step. */
function sized(kind: string, build: (pad: number) => { document: Json; layers: number }, perUnit: number): BigManifest {
  const text = (pad: number): string => JSON.stringify(build(pad).document);
  const base = text(0).length;
  const pad = Math.max(0, Math.floor((MANIFEST_TARGET - base) / perUnit));
  const bytes = Buffer.from(text(pad), 'utf8');
  return { kind, layers: build(pad).layers, digest: sha256(bytes), bytes };
}

export function bigManifests(layer: TestBlob, configBlob: TestBlob): BigManifest[] {
  const head = (annotations: Record<string, string>, layers: Json[]): Json => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: MODELPACK_ARTIFACT,
    config: configBlob.descriptor,
    layers,
    annotations,
  });
  const descriptor = (filepath: string, title: string): Json => ({
    mediaType: WEIGHT,
    digest: layer.digest,
    size: layer.bytes.length,
    annotations: { 'org.cncf.model.filepath': filepath, 'org.opencontainers.image.title': title },
  });
  const out: BigManifest[] = [];
  for (let i = 0; i < 8; i++) {
    // A: 4,096 layers (the most modelgate judges), each with a long file path and a long, different title: what the cache keeps.
    out.push(
      sized(
        'A: 4,096 layers, long file names',
        (pad) => {
          const fill = 'x'.repeat(pad);
          return {
            document: head(
              { 'org.opencontainers.image.version': `a-${i}` },
              Array.from({ length: 4096 }, (_, j) => descriptor(`weights/${fill}/m${i}-shard-${j}.safetensors`, `m${i}-${fill}-shard-${j}.safetensors`)),
            ),
            layers: 4096,
          };
        },
        2 * 4096,
      ),
    );
    // B: 16 layers and one 3.8 MiB manifest annotation (the licences annotation, which the cache keeps).
    out.push(
      sized(
        'B: 16 layers, one 3.8 MiB annotation',
        (pad) => ({
          document: head(
            { 'org.opencontainers.image.version': `b-${i}`, 'org.opencontainers.image.licenses': `Apache-2.0 ${'x'.repeat(pad)}` },
            Array.from({ length: 16 }, (_, j) => descriptor(`m${i}-shard-${j}.safetensors`, `m${i}-shard-${j}.safetensors`)),
          ),
          layers: 16,
        }),
        1,
      ),
    );
    // C: as many small layers as 3.8 MiB holds (over 16,000), past the 4,096 judged.
    const perLayer = JSON.stringify(descriptor('m0-s00000.safetensors', 'm0-s00000.safetensors')).length + 1;
    out.push(
      sized(
        'C: over 4,096 small layers',
        (pad) => {
          const count = 1 + pad;
          return {
            document: head(
              { 'org.opencontainers.image.version': `c-${i}` },
              Array.from({ length: count }, (_, j) =>
                descriptor(`m${i}-s${String(j).padStart(5, '0')}.safetensors`, `m${i}-s${String(j).padStart(5, '0')}.safetensors`),
              ),
            ),
            layers: count,
          };
        },
        perLayer,
      ),
    );
  }
  return out;
}

export const GLOB = '**a**a**a**a**a**a**b';

/** Policy "tenant-glob": references matching GLOB may come only from never.example. */
export const GLOB_POLICY = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: tenant-glob}
spec:
  match: {references: ["${GLOB}", "**/${GLOB}"]}
  requireDigest: true
  registries: ["never.example"]
`;

const aaa = (n: number): string => 'a'.repeat(n);

export function globReview(): string {
  const volumes: ImageVolume[] = Array.from({ length: 64 }, (_, i) => {
    const reference =
      i === 0
        ? aaa(100_000) // not a reference at all: refused by the parser
        : i % 4 === 1
          ? `ghcr.io/${aaa(255)}@${DIGEST}`
          : i % 4 === 2
            ? `${aaa(63)}.${aaa(63)}/${aaa(120)}/${aaa(120)}@${DIGEST}`
            : i % 4 === 3
              ? `${aaa(200)}@${DIGEST}` // a short name: docker.io/library/aaa…
              : `${aaa(63)}/${Array.from({ length: 15 }, () => aaa(15)).join('/')}@${DIGEST}`;
    return { name: `model-${i}`, reference };
  });
  return JSON.stringify(admissionReview(kubeObject('Pod', volumes)));
}

/** A review whose Pod carries an unknown field nested `depth` arrays deep (a parser that recurses runs out of stack). */
export function deepReview(depth: number): string {
  const review = JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `ghcr.io/acme/models/llama@${DIGEST}` }])));
  return review.replace('"spec":{', `"spec":{"x-deep":${'['.repeat(depth)}${']'.repeat(depth)},`);
}
