/**
 * The registry-backed artifact rules end to end through the engine, against a
 * real registry (Debian's docker-registry, distribution 2.8) holding artifacts
 * pushed by skopeo from OCI layouts and through the distribution API.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { handleAdmission } from '../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../src/admission/review.ts';
import { findingsOf } from '../../src/engine/decision.ts';
import { createEngine } from '../../src/engine/engine.ts';
import type { RegistryBackedEngine } from '../../src/engine/engine.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import type { TestManifest } from '../support/artifacts.ts';
import { startDistribution } from '../support/distribution.ts';
import type { RunningDistribution } from '../support/distribution.ts';
import { closedPort, startProxy } from '../support/fake-servers.ts';
import type { RunningServer } from '../support/fake-servers.ts';
import { writeOciLayout, skopeoCopy } from '../support/oci-layout.ts';
import { closePushAgents, pushManifest } from '../support/push.ts';
import { fixtureModels } from '../support/models.ts';
import { admissionReview, kubeObject } from '../support/objects.ts';

const models = fixtureModels();
type ModelName = keyof typeof models;

function policyText(host: string, artifact: string, extra = '', config = ''): string {
  return `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec:
  match: {references: ["${host}/**"]}
${extra}
  artifact:
${artifact
  .split('\n')
  .map((line) => `    ${line}`)
  .join('\n')}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${host}", insecure: true}]
${config}
`;
}

describe('artifact rules against a real registry', { timeout: 300_000 }, () => {
  let registry: RunningDistribution;
  const refs = new Map<ModelName, string>();
  const engines: RegistryBackedEngine[] = [];

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-artifacts-'));
    registry = await startDistribution({ dir });
    // skopeo copies an OCI layout as a user would; the rest go through the distribution API.
    const layout = join(dir, 'layout');
    writeOciLayout(layout, { good: models.good, kit: models.kit });
    await skopeoCopy(layout, 'good', registry.host, 'models/good');
    await skopeoCopy(layout, 'kit', registry.host, 'models/kit');
    for (const [name, manifest] of Object.entries(models) as [ModelName, TestManifest][]) {
      const repository = `models/${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
      if (name !== 'good' && name !== 'kit') await pushManifest({ url: registry.url }, repository, manifest, 'v1');
      refs.set(name, `${registry.host}/${repository}@${manifest.digest}`);
    }
  });

  after(async () => {
    await closePushAgents();
    for (const engine of engines) await engine.client?.close();
    await registry?.stop();
  });

  function engineFor(text: string): RegistryBackedEngine {
    const engine = createEngine(policySetFromTexts([{ source: 'test.yaml', text }]));
    engines.push(engine);
    return engine;
  }

  async function admit(engine: RegistryBackedEngine, ...references: string[]) {
    const object = kubeObject(
      'Deployment',
      references.map((reference, index) => ({ name: `model-${index}`, reference })),
    );
    return handleAdmission(parseAdmissionReview(admissionReview(object)), engine);
  }

  const ref = (name: ModelName): string => refs.get(name) ?? assert.fail(`no ${name}`);

  it('skopeo kept the ModelPack manifest byte for byte (the pinned digest resolves)', async () => {
    const engine = engineFor(policyText(registry.host, 'types: [modelpack]'));
    const outcome = await admit(engine, ref('good'));
    assert.equal(outcome.decision.allowed, true, outcome.decision.message);
  });

  it('each preset is accepted and rejected', async () => {
    const modelpack = engineFor(policyText(registry.host, 'types: [modelpack]'));
    const kitops = engineFor(policyText(registry.host, 'types: [kitops]'));
    const image = engineFor(policyText(registry.host, 'types: [oci-image]'));
    const allowed = async (engine: RegistryBackedEngine, name: ModelName) => (await admit(engine, ref(name))).decision.allowed;
    assert.deepEqual([await allowed(modelpack, 'good'), await allowed(modelpack, 'kit'), await allowed(modelpack, 'image')], [true, false, false]);
    assert.deepEqual([await allowed(kitops, 'kit'), await allowed(kitops, 'good')], [true, false]);
    assert.deepEqual([await allowed(image, 'image'), await allowed(image, 'good')], [true, false]);
    const denied = await admit(modelpack, ref('kit'));
    assert.match(
      denied.decision.message ?? '',
      /rule artifact\.types: the artifact is not of an allowed type \(modelpack\): artifactType \(none\), config application\/vnd\.kitops\.modelkit\.config\.v1\+json/,
    );
  });

  it('mountable: names the layer CRI-O would skip, and warns about tar layers', async () => {
    const engine = engineFor(policyText(registry.host, 'mountable: true'));
    const denied = await admit(engine, ref('unannotated'));
    assert.equal(denied.decision.allowed, false);
    assert.match(
      denied.decision.message ?? '',
      /layer 2 \(sha256:[0-9a-f]{12}…, application\/vnd\.cncf\.model\.weight\.v1\.raw\) has no file path annotation that CRI-O reads .*: CRI-O would not mount it/,
    );
    const tarred = await admit(engine, ref('tarred'));
    assert.equal(tarred.decision.allowed, true);
    assert.match(tarred.decision.warnings[0] ?? '', /artifact\.mountable/);
    const kit = await admit(engine, ref('kit'));
    assert.equal(kit.decision.allowed, false, 'ModelKit tar layers carry no file path annotation');
  });

  it('formats, denyFiles, maxSize and licences read the real config and layers', async () => {
    const engine = engineFor(
      policyText(registry.host, 'formats: [safetensors, gguf]\ndenyFiles: ["*.pkl", "*.bin"]\nmaxSize: 2Ki\nlicenses: [Apache-2.0, MIT]'),
    );
    assert.equal((await admit(engine, ref('good'))).decision.allowed, true);
    const pickled = (await admit(engine, ref('pickled'))).decision.message ?? '';
    assert.match(pickled, /rule artifact\.formats: the model format is pytorch, not one of safetensors, gguf/);
    assert.match(pickled, /rule artifact\.denyFiles: layer 1 .*pytorch_model\.pkl\) is a denied file/);
    assert.match((await admit(engine, ref('big'))).decision.message ?? '', /rule artifact\.maxSize: the layers add up to 4\.0 KiB, over the limit of 2\.0 KiB/);
    assert.match((await admit(engine, ref('gplLicensed'))).decision.message ?? '', /rule artifact\.licenses: the licence GPL-3\.0-only is not allowed/);
    assert.match((await admit(engine, ref('badConfig'))).decision.message ?? '', /the ModelPack config sha256:[0-9a-f]{12}… is not valid: modelfs is required/);
  });

  it('an index: every manifest in it is checked', async () => {
    const engine = engineFor(policyText(registry.host, 'types: [modelpack]\nmountable: true'));
    const outcome = await admit(engine, ref('index'));
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /manifest 2 of the index \(sha256:[0-9a-f]{12}…\): layer 2 .* has no file path annotation/);
    assert.doesNotMatch(outcome.decision.message ?? '', /manifest 1 of the index/);
  });

  it('a pod with several models: each volume is judged, in one review', async () => {
    const engine = engineFor(policyText(registry.host, 'types: [modelpack]'));
    const outcome = await admit(engine, ref('good'), ref('kit'), ref('image'));
    assert.equal(outcome.decision.allowed, false);
    assert.deepEqual(
      outcome.decision.verdicts.map((verdict) => findingsOf(verdict.results).length),
      [0, 1, 1],
    );
    assert.match(outcome.decision.message ?? '', /^modelgate denied Deployment team-a\/llm: 2 model references failed policy/);
  });

  it('a cached verdict makes no registry request; concurrent admissions of one digest share one fetch', async () => {
    const engine = engineFor(policyText(registry.host, 'types: [modelpack]\nformats: [safetensors]'));
    const client = engine.client ?? assert.fail('no client');
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => admit(engine, ref('good'))));
    assert.ok(outcomes.every((outcome) => outcome.decision.allowed));
    const afterCold = client.requestCount;
    // One manifest and one config blob, whatever the concurrency (a plain-HTTP registry without auth: no token).
    assert.equal(afterCold, 2);
    assert.equal(engine.cache?.stats.misses, 50);
    const warm = handleAdmission(parseAdmissionReview(admissionReview(kubeObject('Deployment', [{ name: 'model-0', reference: ref('good') }]))), engine);
    assert.ok(!(warm instanceof Promise), 'a warm admission is decided synchronously');
    assert.equal(warm.decision.allowed, true);
    assert.equal(client.requestCount, afterCold, 'a warm admission made a registry request');
    assert.equal(engine.cache?.stats.hits, 1);
  });

  it('facts read without configs are read again when a rule needs the config, and the fuller facts then serve both', async () => {
    const engine = engineFor(policyText(registry.host, 'types: [modelpack]'));
    const cache = engine.cache ?? assert.fail('no cache');
    const client = engine.client ?? assert.fail('no client');
    const [host, path] = [registry.host, ref('good').slice(registry.host.length + 1)];
    const [repository, digest] = path.split('@') as [string, string];
    const locator = { registry: host, repository };
    const deadline = Date.now() + 10_000;
    const manifestOnly = await cache.facts(locator, digest, false, deadline);
    assert.equal(manifestOnly.configs.size, 0);
    assert.equal(client.requestCount, 1);
    assert.ok(!(cache.facts(locator, digest, false, deadline) instanceof Promise), 'manifest-only facts are cached');
    const withConfigs = await cache.facts(locator, digest, true, deadline);
    assert.equal(withConfigs.configs.size, 1, 'the config was read');
    assert.equal(client.requestCount, 3, 'manifest and config blob');
    for (const needConfigs of [false, true]) {
      const cached = cache.facts(locator, digest, needConfigs, deadline);
      assert.ok(!(cached instanceof Promise), `served from the cache (configs needed: ${needConfigs})`);
      assert.equal(cached.configs.size, 1);
    }
    assert.equal(client.requestCount, 3);
    assert.deepEqual(cache.stats, { hits: 3, misses: 2, shared: 0 });
  });

  describe('failures follow onError', () => {
    it('an unknown digest is denied with the registry hint (onError: deny)', async () => {
      const engine = engineFor(policyText(registry.host, 'types: [modelpack]'));
      const missing = `${registry.host}/models/good@sha256:${'e'.repeat(64)}`;
      const outcome = await admit(engine, missing);
      assert.equal(outcome.decision.allowed, false);
      assert.match(
        outcome.decision.message ?? '',
        /rule artifact: the artifact could not be checked: .*(not found|NOT_FOUND|404).*check the digest and the repository name/is,
      );
    });

    it('onError: warn allows with a warning; onError: allow records an audit annotation', async () => {
      const port = await closedPort();
      const host = `127.0.0.1:${port}`;
      const warn = engineFor(policyText(host, 'types: [modelpack]', '  onError: warn'));
      const warned = await admit(warn, `${host}/models/x@sha256:${'a'.repeat(64)}`);
      assert.equal(warned.decision.allowed, true);
      assert.match(warned.decision.warnings[0] ?? '', /^modelgate: models\/artifact: volume "model-0": the artifact could not be checked/);
      const allow = engineFor(policyText(host, 'types: [modelpack]', '  onError: allow'));
      const allowed = await admit(allow, `${host}/models/x@sha256:${'a'.repeat(64)}`);
      assert.equal(allowed.decision.allowed, true);
      assert.match(allowed.decision.auditAnnotations['policy-violations'] ?? '', /could not be checked/);
    });

    it('an unreachable registry is denied within the deadline', async () => {
      const port = await closedPort();
      const host = `127.0.0.1:${port}`;
      const engine = engineFor(policyText(host, 'types: [modelpack]', '', '  timeouts: {requestSeconds: 1, totalSeconds: 2}'));
      const started = Date.now();
      const outcome = await admit(engine, `${host}/models/x@sha256:${'a'.repeat(64)}`);
      assert.ok(Date.now() - started < 10_000);
      assert.equal(outcome.decision.allowed, false);
      assert.match(
        outcome.decision.message ?? '',
        /could not be checked: .*could not connect to 127\.0\.0\.1:\d+ or get a complete answer in time; check the registry host name/i,
      );
    });

    it('a manifest altered in flight is denied as tampered, and never cached', async () => {
      let proxy: RunningServer | undefined;
      try {
        proxy = await startProxy(registry.url, {
          // One extra space in the JSON: same meaning, other bytes, other digest.
          rewrite: (req, upstream) =>
            (req.url ?? '').includes('/manifests/')
              ? { ...upstream, body: Buffer.from(upstream.body.toString('utf8').replace('"layers":', '"layers": ')) }
              : upstream,
        });
        const host = proxy.url.replace(/^http:\/\//, '');
        const reference = `${host}/models/good@${models.good.digest}`;
        // Tampered content is a verdict, not a "could not check": onError never admits it (issue 9).
        for (const onError of ['deny', 'warn', 'allow']) {
          const engine = engineFor(policyText(host, 'types: [modelpack]', `  onError: ${onError}`));
          const outcome = await admit(engine, reference);
          assert.equal(outcome.decision.allowed, false, `onError: ${onError}`);
          assert.match(
            outcome.decision.message ?? '',
            /rule artifact: what the registry served was refused: .*the registry returned content whose digest is sha256:[0-9a-f]{64}, not the pinned sha256:/,
          );
          assert.equal(engine.cache?.entries, 0);
        }
      } finally {
        await proxy?.stop();
      }
    });

    it('an unpinned reference under artifact rules without requireDigest is reported, not silently allowed', async () => {
      const engine = engineFor(policyText(registry.host, 'types: [modelpack]', '  requireDigest: false'));
      const outcome = await admit(engine, `${registry.host}/models/good:good`);
      assert.equal(outcome.decision.allowed, false);
      assert.match(outcome.decision.message ?? '', /artifact rules can only be checked on a digest-pinned reference/);
    });
  });
});
