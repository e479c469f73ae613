// Tiny fixture models (a few KiB), built at run time, pushed with oras and
// signed with cosign, for the e2e suite:
//
//  - modelpack: a CNCF ModelPack artifact (model-spec v0.0.7 media types and
//    config schema), raw layers annotated with org.cncf.model.filepath;
//  - modelkit: a KitOps-style ModelKit (tar+gzip layers, Kitfile as config);
//  - image: a plain OCI container image (no artifactType), the "not a
//    model" case.
//
// modctl and kit cannot be installed here (see test/e2e/README.md), so the
// manifests are assembled by lib/oci-layout.ts from the published specs and
// pushed by the real oras CLI from an OCI layout.

import { rmSync } from 'node:fs';
import { orasRemoteFlags, registryClientEnv } from './clients.ts';
import { cosignSign, generateSigningKeys, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from './cosign.ts';
import type { CosignMajor, SigningKeys } from './cosign.ts';
import { writeOciLayout } from '../../support/oci-layout.ts';
import { buildArtifact, gzip, layoutManifest, tarFiles } from './artifacts.ts';
import type { BlobInput, BuiltArtifact } from './artifacts.ts';
import { cosignSignatureTag, fetchManifest, listReferrers, manifestExists, referrersFallbackTag, sha256Digest } from './oci.ts';
import type { OciIndex, OciManifest } from './oci.ts';
import { runCommand } from './processes.ts';
import type { Registry } from './registries.ts';
import { loadTools } from './tools.ts';
import { scratchDir } from './workdir.ts';

// ---- media types and annotations -------------------------------------------

/** CNCF ModelPack (github.com/modelpack/model-spec, specs-go/v1). */
export const MODELPACK = {
  artifactType: 'application/vnd.cncf.model.manifest.v1+json',
  config: 'application/vnd.cncf.model.config.v1+json',
  weightRaw: 'application/vnd.cncf.model.weight.v1.raw',
  weightTar: 'application/vnd.cncf.model.weight.v1.tar',
  weightConfigRaw: 'application/vnd.cncf.model.weight.config.v1.raw',
  docRaw: 'application/vnd.cncf.model.doc.v1.raw',
  codeRaw: 'application/vnd.cncf.model.code.v1.raw',
  datasetRaw: 'application/vnd.cncf.model.dataset.v1.raw',
} as const;

/** KitOps ModelKit (kitops pkg/lib/constants/mediatype). */
export const KITOPS = {
  artifactType: 'application/vnd.kitops.modelkit.manifest.v1+json',
  config: 'application/vnd.kitops.modelkit.config.v1+json',
  model: 'application/vnd.kitops.modelkit.model.v1.tar+gzip',
  docs: 'application/vnd.kitops.modelkit.docs.v1.tar+gzip',
  code: 'application/vnd.kitops.modelkit.code.v1.tar+gzip',
  dataset: 'application/vnd.kitops.modelkit.dataset.v1.tar+gzip',
} as const;

export const OCI_IMAGE = {
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const ANNOTATION = {
  filepath: 'org.cncf.model.filepath',
  fileMetadata: 'org.cncf.model.file.metadata+json',
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
} as const;

/** Fixed so that fixture digests are the same on every run. */
const CREATED = '2026-01-01T00:00:00Z';

// ---- content -------------------------------------------------------------------

/**
 * A valid safetensors file: u64-LE header length, JSON header, then a 4x4
 * float32 tensor "weight" (64 bytes). 256 bytes all told.
 */
export function tinySafetensors(): Buffer {
  const data = Buffer.alloc(16 * 4);
  for (let i = 0; i < 16; i++) data.writeFloatLE(i / 16, i * 4);
  let header = JSON.stringify({
    __metadata__: { format: 'pt' },
    weight: { dtype: 'F32', shape: [4, 4], data_offsets: [0, data.length] },
  });
  // The header is padded with spaces so the data starts 8-byte aligned.
  header = header.padEnd(Math.ceil((header.length + 8) / 8) * 8 - 8, ' ');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  return Buffer.concat([len, Buffer.from(header), data]);
}

const MODEL_FILES = {
  'model.safetensors': tinySafetensors(),
  'config.json': Buffer.from(
    `${JSON.stringify({ architectures: ['TinyForTests'], model_type: 'tiny', hidden_size: 4, num_hidden_layers: 1, torch_dtype: 'float32' }, null, 2)}\n`,
  ),
  'README.md': Buffer.from('# tiny-modelgate-e2e\n\nA 16-parameter model that exists only to test modelgate.\n'),
  LICENSE: Buffer.from('Apache License, Version 2.0 - https://www.apache.org/licenses/LICENSE-2.0\n'),
} as const;

type ModelFile = keyof typeof MODEL_FILES;

function rawModelPackLayer(path: ModelFile, mediaType: string): BlobInput {
  const data = MODEL_FILES[path];
  const metadata = { name: path, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: '1970-01-01T00:00:00Z', typeflag: 48 };
  return {
    mediaType,
    data,
    annotations: {
      [ANNOTATION.filepath]: path,
      [ANNOTATION.fileMetadata]: JSON.stringify(metadata),
      [ANNOTATION.title]: path,
    },
  };
}

/** The ModelPack artifact: config per the v0.0.7 schema, 4 raw layers. */
export function buildModelPack(): BuiltArtifact {
  const layers = [
    rawModelPackLayer('model.safetensors', MODELPACK.weightRaw),
    rawModelPackLayer('config.json', MODELPACK.weightConfigRaw),
    rawModelPackLayer('README.md', MODELPACK.docRaw),
    rawModelPackLayer('LICENSE', MODELPACK.docRaw),
  ];
  const config = {
    descriptor: {
      createdAt: CREATED,
      authors: ['modelgate e2e <e2e@modelgate.invalid>'],
      vendor: 'modelgate',
      family: 'tiny',
      name: 'tiny-modelgate-e2e',
      version: '1.0.0',
      title: 'Tiny modelgate e2e model',
      description: "Fixture for modelgate's e2e tests",
      licenses: ['Apache-2.0'],
    },
    config: {
      architecture: 'transformer',
      format: 'safetensors',
      paramSize: '16',
      precision: 'fp32',
      capabilities: { inputTypes: ['text'], outputTypes: ['text'] },
    },
    // Raw (unarchived) layers: the DiffID is the digest of the content itself.
    modelfs: { type: 'layers', diffIds: layers.map((l) => sha256Digest(l.data)) },
  };
  return buildArtifact({
    artifactType: MODELPACK.artifactType,
    config: { mediaType: MODELPACK.config, data: Buffer.from(JSON.stringify(config)) },
    layers,
    annotations: { [ANNOTATION.created]: CREATED },
  });
}

function tarGzLayer(mediaType: string, path: ModelFile): BlobInput {
  return { mediaType, data: gzip(tarFiles([{ path, data: MODEL_FILES[path] }])), annotations: { [ANNOTATION.title]: path } };
}

/** A KitOps-style ModelKit: the Kitfile (as JSON) is the config. */
export function buildModelKit(): BuiltArtifact {
  const kitfile = {
    manifestVersion: '1.0.0',
    package: {
      name: 'tiny-modelgate-e2e',
      version: '1.0.0',
      description: "Fixture for modelgate's e2e tests",
      license: 'Apache-2.0',
      authors: ['modelgate e2e'],
    },
    model: { name: 'tiny', path: 'model.safetensors', framework: 'safetensors', license: 'Apache-2.0', version: '1.0.0' },
    docs: [{ path: 'README.md', description: 'model card' }],
  };
  return buildArtifact({
    artifactType: KITOPS.artifactType,
    config: { mediaType: KITOPS.config, data: Buffer.from(JSON.stringify(kitfile)) },
    layers: [tarGzLayer(KITOPS.model, 'model.safetensors'), tarGzLayer(KITOPS.docs, 'README.md')],
    annotations: { [ANNOTATION.created]: CREATED },
  });
}

/** A plain OCI image: one layer with /hello.txt, no artifactType. */
export function buildPlainImage(): BuiltArtifact {
  const tar = tarFiles([{ path: 'hello.txt', data: Buffer.from('hello from modelgate e2e\n') }]);
  const config = {
    created: CREATED,
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] },
  };
  return buildArtifact({
    config: { mediaType: OCI_IMAGE.config, data: Buffer.from(JSON.stringify(config)) },
    layers: [{ mediaType: OCI_IMAGE.layerGzip, data: gzip(tar) }],
  });
}

// ---- pushing ---------------------------------------------------------------------

export interface PushedArtifact {
  /** "127.0.0.1:PORT" */
  host: string;
  /** Repository path without host, e.g. "e2e/modelpack". */
  repository: string;
  tag: string;
  digest: string;
  /** host/repository@digest — what pods should reference. */
  ref: string;
  /** host/repository:tag */
  tagRef: string;
  /** Exact manifest bytes as stored in the registry. */
  manifest: Buffer;
  manifestJson: OciManifest;
}

/**
 * Pushes an artifact from an OCI layout with `oras cp --from-oci-layout`
 * (default) or `skopeo copy oci:...` and checks that the registry stored
 * the exact bytes (same digest). Both tools copy manifests verbatim.
 */
export async function pushArtifact(
  registry: Registry,
  artifact: BuiltArtifact,
  repository: string,
  tag: string,
  tool: 'oras' | 'skopeo' = 'oras',
): Promise<PushedArtifact> {
  const layout = scratchDir('layout');
  writeOciLayout(layout, { [tag]: layoutManifest(artifact) });
  const tagRef = `${registry.host}/${repository}:${tag}`;
  const tools = loadTools();
  try {
    const [command, args] =
      tool === 'oras'
        ? [tools.paths.ORAS, ['cp', '--from-oci-layout', `${layout}:${tag}`, tagRef, ...orasRemoteFlags(registry, 'to-')]]
        : [tools.paths.SKOPEO, ['copy', ...(registry.tls ? [] : ['--dest-tls-verify=false']), `oci:${layout}:${tag}`, `docker://${tagRef}`]];
    // TLS trust (SSL_CERT_FILE) and credentials (REGISTRY_AUTH_FILE) for skopeo come from the environment.
    await runCommand(command, args, { env: registryClientEnv(registry) });
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
  const stored = await fetchManifest(registry, repository, tag);
  if (stored.digest !== artifact.digest) {
    throw new Error(`${tagRef}: registry holds ${stored.digest}, pushed ${artifact.digest}`);
  }
  return {
    host: registry.host,
    repository,
    tag,
    digest: artifact.digest,
    ref: `${registry.host}/${repository}@${artifact.digest}`,
    tagRef,
    manifest: stored.bytes,
    manifestJson: artifact.manifestJson,
  };
}

// ---- signatures ------------------------------------------------------------------

export interface Cosign2Signature {
  /** sha256-<hex>.sig in the artifact's repository. */
  tag: string;
  manifestDigest: string;
}

export interface Cosign3Signature {
  /** Digest of the referrer manifest holding the sigstore bundle. */
  bundleManifestDigest: string;
  /** "referrers-api" on the OCI 1.1 registry, "tag-schema" (index tagged sha256-<hex>) on distribution 2.8. */
  discoveredVia: 'referrers-api' | 'tag-schema';
  /** The fallback index tag, when discovered through the tag schema. */
  fallbackTag?: string;
}

export interface SignedArtifact extends PushedArtifact {
  cosign2?: Cosign2Signature;
  cosign3?: Cosign3Signature;
}

/** Signs with cosign v2 and returns where the .sig went. */
export async function signCosign2(registry: Registry, artifact: PushedArtifact, keys: SigningKeys): Promise<Cosign2Signature> {
  await cosignSign(2, registry, artifact.ref, keys);
  const tag = cosignSignatureTag(artifact.digest);
  const sig = await fetchManifest(registry, artifact.repository, tag);
  return { tag, manifestDigest: sig.digest };
}

/** Signs with cosign v3 and finds the bundle the way a verifier would. */
export async function signCosign3(registry: Registry, artifact: PushedArtifact, keys: SigningKeys): Promise<Cosign3Signature> {
  await cosignSign(3, registry, artifact.ref, keys);
  const viaApi = await listReferrers(registry, artifact.repository, artifact.digest, SIGSTORE_BUNDLE_ARTIFACT_TYPE);
  if (viaApi.status === 200 && viaApi.index !== undefined) {
    const found = viaApi.index.manifests.find((d) => d.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE);
    if (found === undefined) throw new Error(`cosign v3 signed ${artifact.ref} but the referrers API lists no bundle`);
    return { bundleManifestDigest: found.digest, discoveredVia: 'referrers-api' };
  }
  const fallbackTag = referrersFallbackTag(artifact.digest);
  if (!(await manifestExists(registry, artifact.repository, fallbackTag))) {
    throw new Error(`cosign v3 signed ${artifact.ref}: no referrers API (HTTP ${viaApi.status}) and no ${fallbackTag} tag`);
  }
  const index = (await fetchManifest(registry, artifact.repository, fallbackTag)).json as OciIndex;
  const found = index.manifests.find((d) => d.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE);
  if (found === undefined) throw new Error(`${fallbackTag} lists no sigstore bundle`);
  return { bundleManifestDigest: found.digest, discoveredVia: 'tag-schema', fallbackTag };
}

// ---- the whole set -----------------------------------------------------------------

export type FixtureName = 'modelpack' | 'modelkit' | 'image';

export interface FixtureOptions {
  registry: Registry;
  /** Repositories are <prefix>/modelpack, <prefix>/modelkit, <prefix>/plain-image. Default "e2e". */
  repositoryPrefix?: string;
  tag?: string;
  /** Reuse keys (e.g. the same key on two registries); generated otherwise. */
  keys?: SigningKeys;
  /**
   * Which cosign versions sign which fixture. Default: modelpack by v2 and
   * v3, modelkit by v3, image unsigned.
   */
  signing?: Partial<Record<FixtureName, readonly CosignMajor[]>>;
}

export interface Fixtures {
  registry: Registry;
  keys: SigningKeys;
  /** PEM of the public key that verifies every signature made here. */
  publicKeyPem: string;
  modelpack: SignedArtifact;
  modelkit: SignedArtifact;
  image: SignedArtifact;
}

const DEFAULT_SIGNING: Record<FixtureName, readonly CosignMajor[]> = { modelpack: [2, 3], modelkit: [3], image: [] };

/** Builds, pushes and signs the three fixtures on one registry. */
export async function buildFixtures(options: FixtureOptions): Promise<Fixtures> {
  const { registry } = options;
  const prefix = options.repositoryPrefix ?? 'e2e';
  const tag = options.tag ?? 'v1';
  const keys = options.keys ?? (await generateSigningKeys());
  const signing = { ...DEFAULT_SIGNING, ...options.signing };

  const build: Record<FixtureName, { artifact: BuiltArtifact; repository: string }> = {
    modelpack: { artifact: buildModelPack(), repository: `${prefix}/modelpack` },
    modelkit: { artifact: buildModelKit(), repository: `${prefix}/modelkit` },
    image: { artifact: buildPlainImage(), repository: `${prefix}/plain-image` },
  };
  const out: Partial<Record<FixtureName, SignedArtifact>> = {};
  for (const name of ['modelpack', 'modelkit', 'image'] as const) {
    const pushed: SignedArtifact = await pushArtifact(registry, build[name].artifact, build[name].repository, tag);
    // v2 before v3: cosign v2 cannot verify a .sig once a bundle exists.
    const majors = [...signing[name]].sort();
    for (const major of majors) {
      if (major === 2) pushed.cosign2 = await signCosign2(registry, pushed, keys);
      else pushed.cosign3 = await signCosign3(registry, pushed, keys);
    }
    out[name] = pushed;
  }
  const { modelpack, modelkit, image } = out;
  if (modelpack === undefined || modelkit === undefined || image === undefined) throw new Error('unreachable: fixture missing');
  return { registry, keys, publicKeyPem: keys.publicKeyPem, modelpack, modelkit, image };
}
