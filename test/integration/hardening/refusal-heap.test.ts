/**
 * A refused manifest is remembered by digest (issue 9: a hostile artifact is
 * fetched and parsed once), but what is remembered must be the refusal, not
 * the manifest: an Error keeps its stack frames' receivers and its cause until
 * its stack is read, and those held the whole manifest text. bench:abuse's
 * attack 2 found it: 24 refused 3.8 MiB manifests kept ~90 MiB alive. Here,
 * through the real registry (Debian's docker-registry) and the real client,
 * the memory still held once the refusals are cached is measured.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { handleAdmission } from '../../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../../src/admission/review.ts';
import { createEngine } from '../../../src/engine/engine.ts';
import type { RegistryBackedEngine } from '../../../src/engine/engine.ts';
import { policySetFromTexts } from '../../../src/policy/load.ts';
import { OCI_MANIFEST, blob, sha256 } from '../../support/artifacts.ts';
import { startDistribution } from '../../support/distribution.ts';
import type { RunningDistribution } from '../../support/distribution.ts';
import { closePushAgents, pushBlob, putManifest } from '../../support/push.ts';
import { modelPackConfig } from '../../support/models.ts';
import { admissionReview, kubeObject } from '../../support/objects.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WEIGHT = 'application/vnd.cncf.model.weight.v1.raw';
const MANIFESTS = 6;
const MiB = 1024 * 1024;

/** What is alive outside young garbage: the heap and external memory (large strings, buffers). */
function retained(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

describe('refused manifests are remembered without their bytes (issue 9, bench:abuse attack 2)', { timeout: 120_000 }, () => {
  let registry: RunningDistribution;
  let engine: RegistryBackedEngine;
  const references: string[] = [];
  const sizes: number[] = [];

  before(async () => {
    registry = await startDistribution({ dir: await mkdtemp(join(tmpdir(), 'modelgate-refusal-heap-')) });
    const target = { url: registry.url };
    const layer = blob('weights', WEIGHT);
    const config = modelPackConfig({}, [layer]);
    for (const item of [layer, config]) await pushBlob(target, 'models/big', item);
    for (let i = 0; i < MANIFESTS; i++) {
      // Over 4,096 layers (refused by the strict reader, with a cause) or one over-long name (refused after parsing).
      const count = i % 2 === 0 ? 5000 : 2000;
      const name = (j: number): string => (i % 2 === 0 ? `m${i}-s${j}.safetensors` : `${'n'.repeat(j === 0 ? 300 : 200)}-${i}-${j}.safetensors`);
      const layers = Array.from({ length: count }, (_, j) => ({ ...layer.descriptor, annotations: { 'org.opencontainers.image.title': name(j) } }));
      const bytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: 'application/vnd.cncf.model.manifest.v1+json',
          config: config.descriptor,
          layers,
        }),
      );
      sizes.push(bytes.length);
      await putManifest(target, 'models/big', sha256(bytes), OCI_MANIFEST, bytes);
      references.push(`${registry.host}/models/big@${sha256(bytes)}`);
    }
    const text = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec:
  artifact: {mountable: true, denyFiles: ["*.pkl"]}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${registry.host}", insecure: true}]
`;
    engine = createEngine(policySetFromTexts([{ source: 'policy.yaml', text }]));
  });

  after(async () => {
    await closePushAgents();
    await engine?.client?.close();
    await registry?.stop();
  });

  it(`${MANIFESTS} refused manifests keep less than a tenth of their bytes alive once their refusals are cached`, async (t) => {
    const judge = async (reference: string): Promise<string> => {
      const outcome = await handleAdmission(parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference }]))), engine);
      assert.equal(outcome.decision.allowed, false);
      return outcome.decision.message ?? '';
    };
    // Warm everything that is not a refusal (the client, its connections, the code paths) on the first manifest.
    await judge(references[0] as string);
    const before = retained();
    for (const reference of references.slice(1)) assert.match(await judge(reference), /what the registry served was refused: /);
    const kept = retained() - before;
    const fetched = sizes.slice(1).reduce((sum, size) => sum + size, 0);
    t.diagnostic(`${(fetched / MiB).toFixed(2)} MiB of manifests refused; ${(kept / MiB).toFixed(2)} MiB still held afterwards`);
    assert.ok(kept < fetched / 10, `${(kept / MiB).toFixed(2)} MiB held after refusing ${(fetched / MiB).toFixed(2)} MiB of manifests`);
    // Remembered: the same refusal again, without the registry.
    const requests = engine.client?.requestCount ?? 0;
    for (const reference of references.slice(1)) assert.match(await judge(reference), /what the registry served was refused: /);
    assert.equal(engine.client?.requestCount ?? 0, requests);
  });
});
