/**
 * Model artifacts as packaging tools write them: ModelPack (modctl's layout),
 * KitOps ModelKits and a container image, built from a few bytes each.
 */
import { blob, dockerManifest, ociIndex, ociManifest } from './artifacts.ts';
import type { TestBlob, TestManifest } from './artifacts.ts';

export const MODELPACK_ARTIFACT = 'application/vnd.cncf.model.manifest.v1+json';
export const MODELPACK_CONFIG = 'application/vnd.cncf.model.config.v1+json';
const WEIGHT = 'application/vnd.cncf.model.weight.v1.raw';

/** A ModelPack layer as modctl writes it: the file path in both annotations. */
export function modelFile(path: string, content: string, mediaType = WEIGHT, annotate = true): TestBlob {
  return blob(content, mediaType, annotate ? { 'org.cncf.model.filepath': path, 'org.opencontainers.image.title': path } : undefined);
}

export function modelPackConfig(overrides: { format?: string; licenses?: string[]; drop?: 'modelfs' } = {}, layers: readonly TestBlob[] = []): TestBlob {
  const document: Record<string, unknown> = {
    descriptor: { name: 'tiny-llama', version: '1.0', licenses: overrides.licenses ?? ['Apache-2.0'], createdAt: '2026-11-01T10:00:00Z' },
    config: { format: overrides.format ?? 'safetensors', paramSize: '1M', precision: 'bf16' },
    modelfs: { type: 'layers', diffIds: layers.length > 0 ? layers.map((layer) => layer.digest) : [`sha256:${'0'.repeat(64)}`] },
  };
  if (overrides.drop === 'modelfs') delete document['modelfs'];
  return blob(JSON.stringify(document), MODELPACK_CONFIG);
}

export function modelPack(layers: readonly TestBlob[], config?: TestBlob, annotations?: Record<string, string>): TestManifest {
  return ociManifest({
    artifactType: MODELPACK_ARTIFACT,
    config: config ?? modelPackConfig({}, layers),
    layers,
    ...(annotations === undefined ? {} : { annotations }),
  });
}

export const goodLayers = (): TestBlob[] => [
  modelFile('model.safetensors', 'weights: 0.1 0.2 0.3'),
  modelFile('config.json', '{"hidden_size": 8}', 'application/vnd.cncf.model.weight.config.v1.raw'),
  modelFile('README.md', '# tiny llama', 'application/vnd.cncf.model.doc.v1.raw'),
];

export function fixtureModels() {
  const good = modelPack(goodLayers());
  return {
    good,
    unannotated: modelPack([modelFile('model.safetensors', 'a'), modelFile('shard-2.safetensors', 'b', WEIGHT, false)]),
    pickled: modelPack([modelFile('pytorch_model.pkl', 'pickle bytes')], modelPackConfig({ format: 'pytorch' })),
    badConfig: modelPack(goodLayers(), modelPackConfig({ drop: 'modelfs' })),
    gplLicensed: modelPack(goodLayers(), modelPackConfig({ licenses: ['GPL-3.0-only'] })),
    tarred: modelPack([modelFile('weights.tar', 'tar bytes', 'application/vnd.cncf.model.weight.v1.tar')]),
    big: modelPack([modelFile('model.safetensors', 'x'.repeat(4096))]),
    kit: ociManifest({
      config: blob(
        JSON.stringify({ manifestVersion: '1.0.0', package: { name: 'tiny' }, model: { path: 'model.gguf' } }),
        'application/vnd.kitops.modelkit.config.v1+json',
      ),
      layers: [blob('gguf', 'application/vnd.kitops.modelkit.model.v1.tar+gzip'), blob('docs', 'application/vnd.kitops.modelkit.docs.v1.tar+gzip')],
    }),
    image: dockerManifest(),
    index: ociIndex([modelPack(goodLayers()), modelPack([modelFile('a.safetensors', 'c'), modelFile('b', 'd', WEIGHT, false)])]),
  };
}
