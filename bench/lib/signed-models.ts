/**
 * Fresh ModelPacks on a test-bed registry, each signed with the real cosign v2 binary (legacy
 * `sha256-<hex>.sig` tag, which modelgate and Kyverno both verify), or left unsigned. Pushed
 * in-process (one manifest and its blobs, the bytes as modctl writes them); signed two at a time.
 */
import { cosignSign } from '../../test/e2e/lib/cosign.ts';
import type { SigningKeys } from '../../test/e2e/lib/cosign.ts';
import type { Registry } from '../../test/e2e/lib/registries.ts';
import { modelFile, modelPack } from '../../test/support/models.ts';
import { pushManifest } from '../../test/support/push.ts';

export const MODEL_REPOSITORY = 'models/llama';

let counter = 0;

/** Pushes one ModelPack no registry or cache has seen; returns its by-digest reference. */
export async function pushFreshModel(registry: Registry): Promise<string> {
  const unique = `${process.pid}-${Date.now()}-${++counter}`;
  const model = modelPack([modelFile('model.safetensors', `weights ${unique}`), modelFile('config.json', `{"seed": "${unique}"}`)]);
  await pushManifest({ url: registry.url }, MODEL_REPOSITORY, model);
  return `${registry.host}/${MODEL_REPOSITORY}@${model.digest}`;
}

/** `count` fresh ModelPacks, each signed by `keys` with cosign v2. */
export async function signedModels(registry: Registry, keys: SigningKeys, count: number): Promise<string[]> {
  const references: string[] = [];
  for (let i = 0; i < count; i++) references.push(await pushFreshModel(registry));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < references.length) {
      const reference = references[next++] as string;
      await cosignSign(2, registry, reference, keys);
    }
  };
  await Promise.all([worker(), worker()]);
  return references;
}
