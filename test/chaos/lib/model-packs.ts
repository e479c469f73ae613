// Distinct small ModelPacks pushed by digest: enough of them that each review
// of a fresh one is a registry read (cold), the first ones reviewed again warm.

import { modelFile, modelPack } from '../../support/models.ts';
import { closePushAgents, pushManifest } from '../../support/push.ts';

/** Pushes `count` distinct ModelPacks to `repository` and returns their digests, in order. */
export async function pushModelPacks(registryUrl: string, repository: string, count: number): Promise<string[]> {
  const digests: string[] = [];
  for (let i = 0; i < count; i++) {
    const manifest = modelPack([
      modelFile('model.safetensors', `weights ${i}`),
      modelFile('config.json', `{"n": ${i}}`, 'application/vnd.cncf.model.weight.config.v1.raw'),
    ]);
    await pushManifest({ url: registryUrl }, repository, manifest);
    digests.push(manifest.digest);
  }
  await closePushAgents();
  return digests;
}
