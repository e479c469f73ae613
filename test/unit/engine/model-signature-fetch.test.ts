/**
 * The modelSignature kind's reads (engine/checks/model-signature.ts, fetch): each policy's
 * verification starts beside the manifest read, so the referrers listing does not wait a round
 * trip for the manifest; the layer at layerPath reaches discovery once the manifest is in; a
 * manifest that cannot be read fails the fetch as before, without an unhandled rejection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageManifest } from '../../../src/artifact/manifest.ts';
import type { ArtifactFacts } from '../../../src/artifact/rules.ts';
import type { ArtifactSource } from '../../../src/artifact/source.ts';
import { modelSignatureCheck } from '../../../src/engine/checks/model-signature.ts';
import type { OmsDiscoveryInput } from '../../../src/signature/oms-discover.ts';
import type { ModelSignaturePolicy } from '../../../src/signature/oms-policy.ts';
import type { ModelSignatureSource } from '../../../src/signature/oms-source.ts';
import type { OmsVerification } from '../../../src/signature/oms-verify.ts';

const DIGEST = `sha256:${'1'.repeat(64)}`;
const target = { locator: { registry: 'registry.test', repository: 'acme/model' }, digest: DIGEST, deadline: Date.now() + 10_000 };
const layer = (name: string, fill: string): ImageManifest['layers'][number] => ({
  mediaType: 'application/vnd.cncf.model.weight.v1.raw',
  digest: `sha256:${fill.repeat(64)}`,
  size: 1,
  annotations: { 'org.opencontainers.image.title': name },
});
const root: ImageManifest = {
  kind: 'manifest',
  digest: DIGEST,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: undefined,
  config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: `sha256:${'2'.repeat(64)}`, size: 2 },
  layers: [layer('model.safetensors', 'a'), layer('model.sig', 'b')],
  annotations: {},
};
const facts: ArtifactFacts = { root, manifests: [root], configs: new Map() };
const policy = (location: ModelSignaturePolicy['location']): ModelSignaturePolicy => ({ threshold: 1, authorities: [], location, layerPath: 'model.sig' });
const verification: OmsVerification = { signatures: [], authorities: [], complete: true, truncated: false, problems: [], otherBundles: 0 };

/** An artifact source whose manifest read the test settles, and a verifier that records what it was handed and when. */
function harness() {
  let settle: { resolve: (value: ArtifactFacts) => void; reject: (error: Error) => void } | undefined;
  const manifestRead = new Promise<ArtifactFacts>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const calls: { location: string; layer: OmsDiscoveryInput['signatureLayer'] }[] = [];
  const artifacts = { facts: () => manifestRead } as unknown as ArtifactSource;
  const modelSignatures: ModelSignatureSource = {
    async verify(config, _locator, _digest, signatureLayer) {
      // As the cached source on a miss: the layer is asked for (a function) and awaited by discovery.
      const layer = typeof signatureLayer === 'function' ? signatureLayer() : signatureLayer;
      calls.push({ location: config.location, layer });
      await layer;
      return verification;
    },
  };
  return { settle: settle as NonNullable<typeof settle>, calls, sources: { artifacts, modelSignatures } };
}

describe('modelSignature fetch', () => {
  it('starts each verification before the manifest is in, then hands it the layer at layerPath', async () => {
    const { settle, calls, sources } = harness();
    const fetched = modelSignatureCheck.fetch(target, [policy('any'), policy('referrer')], sources);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      calls.map((call) => call.location),
      ['any', 'referrer'],
      'both verifications started while the manifest read was pending',
    );
    assert.equal(calls[1]?.layer, undefined, 'location: referrer reads no layer');
    settle.resolve(facts);
    const result = await fetched;
    assert.equal(result.artifact, facts);
    assert.deepEqual(await calls[0]?.layer, { index: 1, path: 'model.sig', descriptor: root.layers[1] });
    assert.deepEqual([...result.verifications.values()], [verification, verification]);
  });

  it('is synchronous when the manifest and the verdicts are cached, and never asks for the layer then', () => {
    let asked = 0;
    const sources = {
      artifacts: { facts: () => facts } as unknown as ArtifactSource,
      modelSignatures: {
        verify: (_config, _locator, _digest, signatureLayer) => {
          if (typeof signatureLayer === 'function') asked++;
          return verification;
        },
      } satisfies ModelSignatureSource,
    };
    const fetched = modelSignatureCheck.fetch(target, [policy('any'), policy('layer')], sources);
    assert.ok(!(fetched instanceof Promise), 'a warm review does not wait on a promise');
    assert.equal(fetched.artifact, facts);
    assert.deepEqual([...fetched.verifications.values()], [verification, verification]);
    assert.equal(asked, 2, 'each policy is offered the layer as a function it need not call');
  });

  it('fails as before when the manifest cannot be read, with no unhandled rejection', async () => {
    const { settle, sources } = harness();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const fetched = modelSignatureCheck.fetch(target, [policy('any'), policy('layer')], sources);
      settle.reject(new Error('manifest unreachable'));
      await assert.rejects(Promise.resolve(fetched), /manifest unreachable/);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
