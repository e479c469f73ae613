import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageIndex, ImageManifest } from '../../src/artifact/manifest.ts';
import { MalformedManifestError, parseManifest } from '../../src/artifact/manifest.ts';
import { parseModelPackConfig } from '../../src/artifact/modelpack-config.ts';
import { formatBytes, parseQuantity } from '../../src/artifact/quantity.ts';
import { checkArtifact } from '../../src/artifact/rules.ts';
import type { ArtifactFacts, ConfigFact } from '../../src/artifact/rules.ts';
import { licenseAllowed, parseLicenseExpression } from '../../src/artifact/spdx.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import type { ArtifactRules, ModelPolicy, PolicyMode } from '../../src/policy/types.ts';

const hex = (n: number): string => n.toString(16).padStart(64, '0');
const digest = (n: number): string => `sha256:${hex(n)}`;

const NONE: ArtifactRules = { types: [], layerMediaTypes: [], mountable: false, formats: [], denyFiles: [], maxSize: undefined, licenses: [] };

function policy(rules: Partial<ArtifactRules>, mode: PolicyMode = 'enforce'): [ModelPolicy, ArtifactRules] {
  const artifact = { ...NONE, ...rules };
  return [
    {
      name: 'models',
      source: 't#1',
      mode,
      match: { namespaces: ['*'], excludeNamespaces: [], references: ['**'] },
      requireDigest: true,
      registries: [],
      artifact,
      signatures: undefined,
      onError: 'deny',
    },
    artifact,
  ];
}

const layer = (n: number, mediaType: string, path?: string, size = 1024, key = 'org.cncf.model.filepath'): Descriptor => ({
  mediaType,
  digest: digest(n),
  size,
  ...(path === undefined ? {} : { annotations: { [key]: path } }),
});

function modelpack(layers: Descriptor[], extra: Partial<ImageManifest> = {}): ImageManifest {
  return {
    kind: 'manifest',
    digest: digest(1000),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: digest(999), size: 300 },
    layers,
    annotations: {},
    ...extra,
  };
}

const WEIGHT = 'application/vnd.cncf.model.weight.v1.raw';
const goodLayers = [
  layer(1, WEIGHT, 'model.safetensors'),
  layer(2, 'application/vnd.cncf.model.weight.config.v1.raw', 'config.json'),
  layer(3, 'application/vnd.cncf.model.doc.v1.raw', 'README.md'),
];

function facts(manifest: ImageManifest, config?: ConfigFact): ArtifactFacts {
  return { root: manifest, manifests: [manifest], configs: new Map(config === undefined ? [] : [[manifest.config.digest, config]]) };
}

const configOf = (format: string | undefined, licenses: string[] = []): ConfigFact => ({ ok: true, config: { format, licenses, name: 'llama' } });

function reasons(rules: Partial<ArtifactRules>, subject: ArtifactFacts, mode: PolicyMode = 'enforce'): string[] {
  const [p, r] = policy(rules, mode);
  return checkArtifact(p, r, subject).map((finding) => `${finding.rule} ${finding.mode}: ${finding.reason}`);
}

describe('artifact.types', () => {
  it('accepts a ModelPack artifact by artifactType, and by config media type alone', () => {
    assert.deepEqual(reasons({ types: ['modelpack'] }, facts(modelpack(goodLayers))), []);
    assert.deepEqual(reasons({ types: ['modelpack'] }, facts(modelpack(goodLayers, { artifactType: undefined }))), []);
  });
  it('accepts the pre-v0.0.7 cnai names', () => {
    const legacy = modelpack([layer(1, 'application/vnd.cnai.model.weight.v1.tar', 'w.tar', 10, 'org.cnai.model.filepath')], {
      artifactType: 'application/vnd.cnai.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cnai.model.config.v1+json', digest: digest(5), size: 1 },
    });
    assert.deepEqual(reasons({ types: ['modelpack'] }, facts(legacy)), []);
    // CRI-O names files from the title or org.cncf.model.filepath only: a layer named by the cnai annotation alone is not mounted.
    assert.deepEqual(reasons({ types: ['modelpack'], mountable: true }, facts(legacy)), [
      `artifact.mountable enforce: layer 1 (sha256:000000000000…, application/vnd.cnai.model.weight.v1.tar, w.tar) has no file path annotation that CRI-O reads (a non-empty org.opencontainers.image.title, else org.cncf.model.filepath): CRI-O would not mount it and the model would start incomplete`,
    ]);
  });
  it('accepts a KitOps ModelKit, including older ones with only the config media type', () => {
    const kit = modelpack([layer(1, 'application/vnd.kitops.modelkit.model.v1.tar+gzip'), layer(2, 'application/vnd.kitops.modelkit.docs.v1.tar+gzip')], {
      artifactType: undefined,
      config: { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', digest: digest(7), size: 1 },
    });
    assert.deepEqual(reasons({ types: ['kitops'] }, facts(kit)), []);
    assert.match(
      reasons({ types: ['modelpack'] }, facts(kit))[0] ?? '',
      /not of an allowed type \(modelpack\): artifactType \(none\), config application\/vnd\.kitops\.modelkit\.config\.v1\+json/,
    );
  });
  it('accepts a container image only under oci-image', () => {
    const image = modelpack([layer(1, 'application/vnd.oci.image.layer.v1.tar+gzip')], {
      artifactType: undefined,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(8), size: 1 },
    });
    assert.deepEqual(reasons({ types: ['oci-image'] }, facts(image)), []);
    assert.equal(reasons({ types: ['modelpack', 'kitops'] }, facts(image)).length, 1);
  });
  it('matches literal media types against artifactType or config media type', () => {
    const custom = modelpack(goodLayers, { artifactType: 'application/vnd.acme.model+json' });
    assert.deepEqual(reasons({ types: ['application/vnd.acme.model+json'] }, facts(custom)), []);
    assert.deepEqual(reasons({ types: ['application/vnd.cncf.model.config.v1+json'] }, facts(custom)), []);
  });
  it('rejects a ModelPack artifact carrying a layer that is not a ModelPack layer type', () => {
    const mixed = modelpack([...goodLayers, layer(4, 'application/octet-stream', 'run.sh')]);
    assert.deepEqual(reasons({ types: ['modelpack'] }, facts(mixed)), [
      'artifact.types enforce: layer 4 (sha256:000000000000…, application/octet-stream, run.sh) is not a layer type of a CNCF ModelPack model',
    ]);
  });
});

describe('artifact.mountable', () => {
  it('names each layer CRI-O would skip', () => {
    const missing = modelpack([
      layer(1, WEIGHT, 'model.safetensors'),
      layer(2, WEIGHT),
      layer(3, WEIGHT, 'b.safetensors', 5, 'org.opencontainers.image.title'),
    ]);
    assert.deepEqual(reasons({ mountable: true }, facts(missing)), [
      'artifact.mountable enforce: layer 2 (sha256:000000000000…, application/vnd.cncf.model.weight.v1.raw) has no file path annotation that CRI-O reads (a non-empty org.opencontainers.image.title, else org.cncf.model.filepath): CRI-O would not mount it and the model would start incomplete',
    ]);
  });
  it('an empty artifact is not mountable', () => {
    assert.match(reasons({ mountable: true }, facts(modelpack([])))[0] ?? '', /no layers/);
  });
  it('a tar layer is a warning, never a denial, and stays audit under audit', () => {
    const tarred = modelpack([layer(1, 'application/vnd.cncf.model.weight.v1.tar+zstd', 'weights.tar.zst')]);
    assert.deepEqual(
      reasons({ mountable: true }, facts(tarred)).map((r) => r.split(':')[0]),
      ['artifact.mountable warn'],
    );
    assert.deepEqual(
      reasons({ mountable: true }, facts(tarred), 'audit').map((r) => r.split(':')[0]),
      ['artifact.mountable audit'],
    );
  });
});

const named = (n: number, annotations: Record<string, string>, mediaType = WEIGHT): Descriptor => ({ mediaType, digest: digest(n), size: 10, annotations });
const TITLE = 'org.opencontainers.image.title';
const FILEPATH = 'org.cncf.model.filepath';

describe('file names as CRI-O writes them (issue 9)', () => {
  it('denyFiles judges every name a layer carries: a pickle title behind a safetensors file path is denied', () => {
    const hidden = modelpack([named(1, { [FILEPATH]: 'weights.safetensors', [TITLE]: 'weights.pkl' })]);
    assert.match(reasons({ denyFiles: ['*.pkl'] }, facts(hidden))[0] ?? '', /^artifact\.denyFiles enforce: layer 1 \(.*, weights\.pkl\) is a denied file/);
    const legacyName = modelpack([named(1, { [TITLE]: 'weights.safetensors', 'org.cnai.model.filepath': 'weights.pkl' })]);
    assert.match(reasons({ denyFiles: ['*.pkl'] }, facts(legacyName))[0] ?? '', /weights\.safetensors\) is a denied file \(it is also named weights\.pkl\)/);
  });
  it('denyFiles compares names cleaned as securejoin cleans them, and without case', () => {
    for (const name of ['weights.pkl/.', 'weights.pkl/', 'WEIGHTS.PKL', '../../weights.pkl', '/abs/dir/Weights.Pkl', 'a//b/../weights.pkl']) {
      const found = reasons({ denyFiles: ['*.pkl'] }, facts(modelpack([named(1, { [TITLE]: name })])));
      assert.equal(found.length, 1, name);
      assert.match(found[0] ?? '', /is a denied file/, name);
    }
    assert.deepEqual(reasons({ denyFiles: ['*.pkl'] }, facts(modelpack([named(1, { [TITLE]: 'weights.pkl.safetensors' })]))), []);
  });
  it('with denyFiles, a tar layer is denied: the names inside it are unknown', () => {
    const tarred = modelpack([named(1, { [TITLE]: 'weights.tar' }, 'application/vnd.cncf.model.weight.v1.tar')]);
    assert.match(
      reasons({ denyFiles: ['*.pkl'] }, facts(tarred))[0] ?? '',
      /^artifact\.denyFiles enforce: .*is a tar archive: the files in it cannot be judged by name/,
    );
  });
  it('mountable follows CRI-O: the title wins even when empty, names are cleaned, and clashes fail', () => {
    const emptyTitle = modelpack([named(1, { [TITLE]: '', [FILEPATH]: 'model.safetensors' })]);
    assert.match(reasons({ mountable: true }, facts(emptyTitle))[0] ?? '', /has no file path annotation that CRI-O reads/);
    const overRoot = modelpack([named(1, { [TITLE]: '.' }), named(2, { [TITLE]: '../' })]);
    assert.deepEqual(
      reasons({ mountable: true }, facts(overRoot)).map((r) => /would be mounted over the volume itself/.test(r)),
      [true, true],
    );
    const clash = modelpack([named(1, { [TITLE]: 'model.safetensors' }), named(2, { [FILEPATH]: './model.safetensors/' })]);
    assert.match(
      reasons({ mountable: true }, facts(clash))[0] ?? '',
      /layer 2 .* is mounted at model\.safetensors, like layer 1: the later one hides the earlier/,
    );
    const fileAndDirectory = modelpack([named(1, { [TITLE]: 'shards' }), named(2, { [TITLE]: 'shards/1.safetensors' })]);
    assert.match(
      reasons({ mountable: true }, facts(fileAndDirectory))[0] ?? '',
      /layer 2 is mounted at shards\/1\.safetensors, inside shards, which layer 1 mounts as a file/,
    );
    assert.deepEqual(reasons({ mountable: true }, facts(modelpack([named(1, { [TITLE]: 'a/b.json' }), named(2, { [TITLE]: 'a/c.json' })]))), []);
  });
});

describe('artifact.denyFiles, layerMediaTypes, maxSize', () => {
  it('denies pickle-based weights by file name, in nested paths too', () => {
    const pickled = modelpack([layer(1, WEIGHT, 'model.safetensors'), layer(2, WEIGHT, 'checkpoints/pytorch_model.bin'), layer(3, WEIGHT, 'extra.PKL')]);
    const found = reasons({ denyFiles: ['*.pkl', '*.PKL', '*.bin'] }, facts(pickled));
    assert.equal(found.length, 2);
    assert.match(
      found[0] ?? '',
      /^artifact\.denyFiles enforce: layer 2 \(sha256:0{12}…, application\/vnd\.cncf\.model\.weight\.v1\.raw, checkpoints\/pytorch_model\.bin\) is a denied file: pickle-based weights can run code/,
    );
    assert.match(found[1] ?? '', /^artifact\.denyFiles enforce: layer 3 .*extra\.PKL/);
  });
  it('layer media type allowlist', () => {
    assert.deepEqual(reasons({ layerMediaTypes: ['application/vnd.cncf.model.*'] }, facts(modelpack(goodLayers))), []);
    const outside = reasons({ layerMediaTypes: ['application/vnd.cncf.model.weight.*'] }, facts(modelpack(goodLayers)));
    assert.deepEqual(
      outside.map((r) => /layer (\d)/.exec(r)?.[1]),
      ['3'],
    );
  });
  it('sums layer sizes against maxSize', () => {
    const big = modelpack([layer(1, WEIGHT, 'a', 3 * 2 ** 30), layer(2, WEIGHT, 'b', 2 ** 30)]);
    assert.deepEqual(reasons({ maxSize: 4 * 2 ** 30 }, facts(big)), []);
    assert.deepEqual(reasons({ maxSize: 4 * 2 ** 30 - 1 }, facts(big)), ['artifact.maxSize enforce: the layers add up to 4.0 GiB, over the limit of 4.0 GiB']);
    assert.match(reasons({ maxSize: 2 ** 30 }, facts(big))[0] ?? '', /4\.0 GiB, over the limit of 1\.0 GiB/);
  });
});

describe('artifact.formats and artifact.licenses', () => {
  const manifest = modelpack(goodLayers);
  it('reads the format from the ModelPack config, case-insensitively', () => {
    assert.deepEqual(reasons({ formats: ['safetensors', 'gguf'] }, facts(manifest, configOf('SafeTensors'))), []);
    assert.deepEqual(reasons({ formats: ['safetensors'] }, facts(manifest, configOf('pickle'))), [
      'artifact.formats enforce: the model format is pickle, not one of safetensors',
    ]);
    assert.deepEqual(reasons({ formats: ['safetensors'] }, facts(manifest, configOf(undefined))), [
      'artifact.formats enforce: the ModelPack config declares no config.format',
    ]);
  });
  it('an invalid config or a config that is not ModelPack is a reason, not a crash', () => {
    assert.match(
      reasons({ formats: ['gguf'] }, facts(manifest, { ok: false, reason: 'modelfs: is required' }))[0] ?? '',
      /ModelPack config sha256:000000000000… is not valid: modelfs: is required/,
    );
    const kit = modelpack(goodLayers, { config: { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', digest: digest(3), size: 1 } });
    assert.match(reasons({ formats: ['gguf'] }, facts(kit))[0] ?? '', /not a ModelPack config, so the model format cannot be read/);
  });
  it('licences from descriptor.licenses, SPDX expressions included', () => {
    assert.deepEqual(reasons({ licenses: ['Apache-2.0', 'MIT'] }, facts(manifest, configOf('gguf', ['apache-2.0']))), []);
    assert.deepEqual(reasons({ licenses: ['Apache-2.0', 'MIT'] }, facts(manifest, configOf('gguf', ['GPL-3.0-only OR MIT']))), []);
    assert.deepEqual(reasons({ licenses: ['Apache-2.0'] }, facts(manifest, configOf('gguf', ['llama3']))), [
      'artifact.licenses enforce: the licence llama3 is not allowed (allowed: Apache-2.0)',
    ]);
    assert.deepEqual(reasons({ licenses: ['Apache-2.0'] }, facts(manifest, configOf('gguf', ['Apache-2.0 AND CC-BY-NC-4.0']))).length, 1);
    assert.match(reasons({ licenses: ['MIT'] }, facts(manifest, configOf('gguf', [])))[0] ?? '', /declares no licence/);
  });
  it('licences from the OCI annotation when the config has none or is not ModelPack', () => {
    const annotated = modelpack(goodLayers, { annotations: { 'org.opencontainers.image.licenses': 'MIT' } });
    assert.deepEqual(reasons({ licenses: ['MIT'] }, facts(annotated, configOf('gguf', []))), []);
    const image = modelpack(goodLayers, {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(9), size: 1 },
      annotations: { 'org.opencontainers.image.licenses': 'Apache-2.0 (' },
    });
    assert.match(reasons({ licenses: ['MIT'] }, facts(image))[0] ?? '', /licence expression "Apache-2\.0 \(" has trailing/);
  });
});

describe('an index: every manifest is judged', () => {
  it('prefixes findings with the manifest', () => {
    const good = modelpack(goodLayers, { digest: digest(2000) });
    const bad = modelpack([layer(9, WEIGHT)], { digest: digest(2001) });
    const index: ImageIndex = {
      kind: 'index',
      digest: digest(3000),
      mediaType: 'application/vnd.oci.image.index.v1+json',
      artifactType: undefined,
      manifests: [],
      annotations: {},
    };
    const subject: ArtifactFacts = { root: index, manifests: [good, bad], configs: new Map() };
    const found = reasons({ mountable: true }, subject);
    assert.equal(found.length, 1);
    assert.match(found[0] ?? '', /^artifact\.mountable enforce: manifest 2 of the index \(sha256:0{12}…\): layer 1 /);
  });
});

describe('manifest parsing', () => {
  const fetched = (json: Record<string, unknown>) => ({
    digest: digest(1),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    bytes: Buffer.from(JSON.stringify(json)),
    json,
  });
  it('reads an OCI manifest and an index', () => {
    const manifest = parseManifest(
      fetched({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'x/y',
        config: { mediaType: 'a/b', digest: digest(2), size: 2 },
        layers: [{ mediaType: 'c/d', digest: digest(3), size: 5, annotations: { k: 'v', n: 1 } }],
      }),
    );
    assert.equal(manifest.kind, 'manifest');
    assert.deepEqual(manifest.kind === 'manifest' ? manifest.layers[0]?.annotations : undefined, { k: 'v' });
    const index = parseManifest(
      fetched({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest(4), size: 10, platform: { os: 'linux' } }],
      }),
    );
    assert.equal(index.kind, 'index');
  });
  it('rejects malformed manifests with the problem', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }, /config is not an object/],
      [
        { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'a/b', digest: 'nope', size: 1 } },
        /config has no valid digest/,
      ],
      [
        { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'a/b', digest: digest(1), size: -1 } },
        /config has no valid size/,
      ],
      [
        { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'a/b', digest: digest(1), size: 1 }, layers: {} },
        /layers is not a list/,
      ],
      [
        { schemaVersion: 1, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'a/b', digest: digest(1), size: 1 } },
        /schemaVersion/,
      ],
      [{ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: 'x' }, /no manifests list/],
      [{ schemaVersion: 2, mediaType: 'text/plain' }, /neither an image manifest nor an index/],
      // Issue 9: the rules' work per manifest is bounded.
      [
        {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'a/b', digest: digest(1), size: 1 },
          layers: Array.from({ length: 4097 }, (_, i) => ({ mediaType: 'c/d', digest: digest(i + 2), size: 1 })),
        },
        /lists 4097 layers; modelgate judges at most 4096/,
      ],
    ];
    for (const [json, message] of cases)
      assert.throws(
        () => parseManifest(fetched(json)),
        (error: unknown) => error instanceof MalformedManifestError && message.test(error.message),
      );
  });
});

describe('ModelPack config schema', () => {
  const valid = {
    descriptor: { name: 'llama', licenses: ['Apache-2.0'], createdAt: '2025-01-01T00:00:00Z' },
    config: { format: 'safetensors', capabilities: { languages: ['en'] } },
    modelfs: { type: 'layers', diffIds: [digest(1)] },
  };
  it('accepts a valid config', () => {
    assert.deepEqual(parseModelPackConfig(valid), { ok: true, config: { format: 'safetensors', licenses: ['Apache-2.0'], name: 'llama' } });
  });
  it('names each violation', () => {
    const result = parseModelPackConfig({
      descriptor: { name: '', createdAt: 'yesterday', extra: 1 },
      config: { capabilities: { languages: ['eng'] } },
      modelfs: { type: 'tar', diffIds: [] },
      more: true,
    });
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.errors.map((e) => e.path), [
      'descriptor.name',
      'descriptor.createdAt',
      'descriptor.extra',
      'config.capabilities.languages[0]',
      'modelfs.type',
      'modelfs.diffIds',
      'more',
    ]);
    assert.equal(parseModelPackConfig([]).ok, false);
    assert.equal(parseModelPackConfig({ descriptor: {}, config: {} }).ok, false);
  });
});

describe('quantities and licence expressions', () => {
  it('parses byte quantities', () => {
    assert.equal(parseQuantity('200Gi'), 200 * 2 ** 30);
    assert.equal(parseQuantity('1.5G'), 1.5e9);
    assert.equal(parseQuantity('1048576'), 1048576);
    assert.equal(parseQuantity('10 gigs'), undefined);
    assert.equal(parseQuantity('-1'), undefined);
    assert.equal(formatBytes(1536), '1.5 KiB');
  });
  it('evaluates SPDX expressions', () => {
    const allowed = new Set(['mit', 'apache-2.0', 'gpl-2.0-only']);
    const ok = (text: string): boolean => licenseAllowed(parseLicenseExpression(text), allowed);
    assert.equal(ok('MIT'), true);
    assert.equal(ok('(MIT OR BSD-3-Clause) AND Apache-2.0'), true);
    assert.equal(ok('MIT AND BSD-3-Clause'), false);
    assert.equal(ok('GPL-2.0-only WITH Classpath-exception-2.0'), true);
    assert.equal(ok('BSD-2-Clause OR CC-BY-4.0'), false);
    assert.throws(() => parseLicenseExpression('MIT AND'), /ends early/);
    assert.throws(() => parseLicenseExpression('MIT)'), /trailing/);
    assert.throws(() => parseLicenseExpression('OR MIT'), /unexpected "OR"/);
  });
});

describe('the compact form the cache keeps', () => {
  it('gives every rule the same findings as the full facts', async () => {
    const { compactFacts } = await import('../../src/artifact/compact.ts');
    const everything: Partial<ArtifactRules> = {
      types: ['modelpack'],
      layerMediaTypes: ['application/vnd.cncf.model.*'],
      mountable: true,
      formats: ['gguf'],
      denyFiles: ['*.pkl'],
      maxSize: 100,
      licenses: ['MIT'],
    };
    const subjects: ArtifactFacts[] = [
      facts(modelpack(goodLayers), configOf('safetensors', ['Apache-2.0'])),
      facts(
        modelpack([layer(1, WEIGHT), layer(2, 'application/vnd.cncf.model.weight.v1.tar', 'x.pkl', 5000, 'org.opencontainers.image.title')], {
          annotations: { 'org.opencontainers.image.licenses': 'MIT', other: 'dropped' },
        }),
      ),
    ];
    for (const subject of subjects) {
      const compact = compactFacts(subject);
      assert.deepEqual(reasons(everything, compact), reasons(everything, subject));
      assert.ok(reasons(everything, subject).length > 0);
      assert.equal(compact.manifests[0]?.annotations['other'], undefined, 'annotations no rule reads are dropped');
    }
  });
});
