// Attestation policies (spec.attestations, issue 14) judged by the real `modelgate check`
// (src/cli/main.ts: the engine with its registry client) over attestations that the real
// cosign v2 (`sha256-<hex>.att` tag, DSSE envelope layers) and cosign v3 (sigstore bundle with
// a DSSE in-toto statement, as an OCI 1.1 referrer or in the fallback tag) wrote with
// `cosign attest --key … --type slsaprovenance1|cyclonedx|custom --predicate …`, on both
// registries of the test bed: the referrers-registry (referrers API) and the docker-registry
// (distribution 2.8, no referrers API).
//
// Every case is its own repository (the artifacts are the same bytes, so the same digest, but
// attestations are kept per repository); the policy is chosen by the pod's namespace.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { kubeObject } from '../support/objects.ts';
import { orasRemoteFlags, registryClientEnv } from './lib/clients.ts';
import { cosignAttest, generateSigningKeys } from './lib/cosign.ts';
import type { CosignMajor, SigningKeys } from './lib/cosign.ts';
import { buildModelKit, buildPlainImage, pushArtifact } from './lib/fixtures.ts';
import type { PushedArtifact } from './lib/fixtures.ts';
import { checkManifests, explainReference } from './lib/check-cli.ts';
import type { CheckRow } from './lib/check-cli.ts';
import { writeConfigFile, writePolicyDirectory } from './lib/modelgate.ts';
import { listTags } from './lib/oci.ts';
import { runCommand, stopAll } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : `test bed not installed (${join(testbedCacheDir(), 'tools.json')} is missing): run bash test/e2e/tools/install.sh`;
const SLSA = 'https://slsa.dev/provenance/v1';
const CYCLONEDX = 'https://cyclonedx.org/bom';
const CUSTOM = 'https://cosign.sigstore.dev/attestation/v1';
const BUILDER = 'https://github.com/acme/ml-pipelines/.github/workflows/train.yml@refs/heads/main';

/** Pods by name: namespace (the policy) and reference. */
type Pods = Record<string, { readonly namespace: string; readonly reference: string }>;

describe('attestations from real cosign v2 and v3 on both registries, judged by modelgate check', { skip: SKIP, timeout: 600_000 }, () => {
  let referrers: Registry;
  let docker: Registry;
  let keys: SigningKeys;
  let otherKeys: SigningKeys;
  let policyDir = '';
  let configFile = '';
  const pods: Pods = {};
  let rows = new Map<string, CheckRow>();
  const dir = () => scratchDir('attestations');

  function predicateFile(name: string, content: string): string {
    const file = join(dir(), name);
    writeFileSync(file, content);
    return file;
  }

  /** A SLSA v1 provenance predicate; many dependencies, so that two nested comprehensions over them breach the cost limit. */
  const provenance = JSON.stringify({
    buildDefinition: {
      buildType: 'https://acme.example/train/v1',
      externalParameters: { dataset: 'acme/corpus@v3' },
      resolvedDependencies: Array.from({ length: 300 }, (_, index) => ({
        uri: `git+https://github.com/acme/data@${index}`,
        digest: { sha1: index.toString(16).padStart(40, '0') },
      })),
    },
    runDetails: { builder: { id: BUILDER } },
  });
  const bom = JSON.stringify({
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    components: [{ type: 'machine-learning-model', name: 'llama', licenses: [{ license: { id: 'Apache-2.0' } }] }],
  });

  async function push(registry: Registry, repository: string, plain = false): Promise<PushedArtifact> {
    return pushArtifact(registry, plain ? buildPlainImage() : buildModelKit(), repository, 'v1');
  }

  async function attested(registry: Registry, repository: string, major: CosignMajor, type: string, predicate: string, signer = keys): Promise<PushedArtifact> {
    const artifact = await push(registry, repository);
    await cosignAttest(major, registry, artifact.ref, signer, type, predicate);
    return artifact;
  }

  function requirement(conditions: readonly { expression: string; message?: string }[], predicateType = SLSA): unknown {
    return { name: 'built-by-our-pipeline', predicateType, authorities: [{ name: 'release', key: keys.publicKeyPem, tlog: 'optional' }], conditions };
  }

  function policy(namespace: string, attestations: readonly unknown[]): unknown {
    return {
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'ModelPolicy',
      metadata: { name: `attested-${namespace}` },
      spec: { mode: 'enforce', match: { namespaces: [namespace] }, requireDigest: true, attestations },
    };
  }

  function check(): Promise<Map<string, CheckRow>> {
    const manifests = join(dir(), 'pods.yaml');
    writeFileSync(
      manifests,
      Object.entries(pods)
        .map(([name, pod]) => stringify(kubeObject('Pod', [{ name: 'model', reference: pod.reference }], { name, namespace: pod.namespace })))
        .join('---\n'),
    );
    return checkManifests(manifests, policyDir, configFile);
  }

  const row = (name: string): CheckRow => {
    const found = rows.get(name);
    assert.ok(found !== undefined, `no row for ${name}: ${[...rows.keys()].join(', ')}`);
    return found;
  };

  before(async () => {
    [referrers, docker, keys, otherKeys] = await Promise.all([startReferrersRegistry(), startDockerRegistry(), generateSigningKeys(), generateSigningKeys()]);
    const slsa = predicateFile('provenance.json', provenance);
    const cyclonedx = predicateFile('bom.json', bom);
    const malformed = predicateFile('malformed.json', '{"score": 0.9,, not json');
    for (const [label, registry] of [
      ['oci11', referrers],
      ['docker', docker],
    ] as const) {
      for (const major of [2, 3] as const) {
        const repository = (what: string) => `${label}/v${major}/${what}`;
        const good = await attested(registry, repository('good'), major, 'slsaprovenance1', slsa);
        for (const namespace of ['good', 'strict', 'broken', 'costly', 'bom']) pods[`${namespace}-${label}-v${major}`] = { namespace, reference: good.ref };
        const bomOnly = await attested(registry, repository('bom'), major, 'cyclonedx', cyclonedx);
        pods[`bom-only-${label}-v${major}`] = { namespace: 'bom', reference: bomOnly.ref };
        pods[`slsa-wanted-${label}-v${major}`] = { namespace: 'good', reference: bomOnly.ref };
        const wrongKey = await attested(registry, repository('wrong-key'), major, 'slsaprovenance1', slsa, otherKeys);
        pods[`wrong-key-${label}-v${major}`] = { namespace: 'good', reference: wrongKey.ref };
        const custom = await attested(registry, repository('custom'), major, 'custom', malformed);
        pods[`malformed-${label}-v${major}`] = { namespace: 'custom', reference: custom.ref };
      }
      // An attestation of another digest, copied to the admitted digest's .att tag (cosign v2 layout).
      const admitted = await push(registry, `${label}/v2/another`);
      const other = await push(registry, `${label}/v2/another`, true);
      await cosignAttest(2, registry, other.ref, keys, 'slsaprovenance1', slsa);
      await runCommand(
        loadTools().paths.ORAS,
        [
          'cp',
          ...orasRemoteFlags(registry, 'from-'),
          ...orasRemoteFlags(registry, 'to-'),
          `${registry.host}/${label}/v2/another:${other.digest.replace(':', '-')}.att`,
          `${registry.host}/${label}/v2/another:${admitted.digest.replace(':', '-')}.att`,
        ],
        { env: registryClientEnv(registry) },
      );
      pods[`another-digest-${label}`] = { namespace: 'good', reference: admitted.ref };
    }
    const builder = { expression: `predicate.runDetails.builder.id == "${BUILDER}"`, message: 'the model was not built by the release pipeline' };
    policyDir = writePolicyDirectory({
      'attestations.yaml': [
        policy('good', [
          requirement([builder, { expression: 'object.namespace == "good" && object.kind == "Pod" && reference.digest.startsWith("sha256:")' }]),
        ]),
        policy('strict', [
          requirement([
            { expression: 'predicate.runDetails.builder.id == "https://ci.acme.example/release"', message: 'the model was not built by the release pipeline' },
          ]),
        ]),
        policy('broken', [requirement([{ expression: 'predicate.runDetails.trainer.id == "x"' }])]),
        policy('costly', [
          requirement([
            {
              expression:
                'predicate.buildDefinition.resolvedDependencies.all(a, predicate.buildDefinition.resolvedDependencies.all(b, a.uri != b.uri || a == b))',
            },
          ]),
        ]),
        policy('bom', [
          requirement(
            [{ expression: 'predicate.components.exists(c, c.type == "machine-learning-model" && c.licenses.exists(l, l.license.id == "Apache-2.0"))' }],
            CYCLONEDX,
          ),
        ]),
        policy('custom', [requirement([{ expression: 'predicate.score > 0.5', message: 'the evaluation score is too low' }], CUSTOM)]),
      ],
    });
    configFile = writeConfigFile({
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'Config',
      spec: { registries: [referrers, docker].map((registry) => ({ host: registry.host, insecure: true })) },
    });
    rows = await check();
  });

  after(async () => {
    await Promise.allSettled([referrers?.stop(), docker?.stop()]);
    await stopAll();
  });

  it('cosign wrote both layouts: the .att tag (v2), the bundle referrer or fallback tag (v3)', async () => {
    assert.ok(
      (await listTags(docker, 'docker/v2/good')).some((tag) => tag.endsWith('.att')),
      'cosign v2 attest writes sha256-<hex>.att',
    );
    assert.ok(
      (await listTags(docker, 'docker/v3/good')).some((tag) => /^sha256-[0-9a-f]{64}$/.test(tag)),
      'cosign v3 on a registry without the referrers API writes the fallback tag',
    );
    assert.ok(!(await listTags(referrers, 'oci11/v3/good')).some((tag) => tag.startsWith('sha256-')), 'cosign v3 uses the referrers API where it exists');
  });

  it("modelgate explain lists each attestation found, which verified, and each condition's value", async () => {
    const good = pods['strict-docker-v2']?.reference ?? '';
    const text = await explainReference(good, 'strict', policyDir, configFile);
    assert.match(text, /attestation built-by-our-pipeline \(https:\/\/slsa\.dev\/provenance\/v1\): verified, but its conditions do not hold/);
    // Under the rules table, each requirement titled, then each attestation found and its conditions' values.
    assert.match(
      text,
      /\n {4}attestation built-by-our-pipeline \(https:\/\/slsa\.dev\/provenance\/v1\)\n {4}- sha256-[0-9a-f]{12}….att layer 1 \(https:\/\/slsa\.dev\/provenance\/v1\): verified by release\n/,
    );
    assert.match(text, /- predicate\.runDetails\.builder\.id == "https:\/\/ci\.acme\.example\/release" → false/);
    const wrong = await explainReference(pods['wrong-key-oci11-v3']?.reference ?? '', 'good', policyDir, configFile);
    assert.match(wrong, /- bundle sha256:[0-9a-f]{12}… \(https:\/\/slsa\.dev\/provenance\/v1\): not verified: no authority verified it/);
  });

  for (const label of ['oci11', 'docker']) {
    for (const major of [2, 3]) {
      const at = `${label}-v${major}`;
      it(`${at}: a verified provenance whose conditions hold (predicate, object, reference) is allowed`, () => {
        const result = row(`good-${at}`);
        assert.equal(result.verdict, 'allow', result.denial);
      });

      it(`${at}: a false condition denies with its message`, () => {
        const result = row(`strict-${at}`);
        assert.equal(result.verdict, 'deny');
        assert.match(result.denial, /the model was not built by the release pipeline/);
        assert.match(result.denial, /predicate\.runDetails\.builder\.id == "https:\/\/ci\.acme\.example\/release" → false/);
      });

      it(`${at}: an expression that errors denies, naming the expression and the error`, () => {
        const result = row(`broken-${at}`);
        assert.equal(result.verdict, 'deny');
        assert.match(result.denial, /the condition predicate\.runDetails\.trainer\.id == "x" could not be evaluated: .*trainer/);
      });

      it(`${at}: nested comprehensions over 300 dependencies breach the cost limit`, () => {
        const result = row(`costly-${at}`);
        assert.equal(result.verdict, 'deny');
        assert.match(result.denial, /could not be evaluated: its (cost limit of 10000 steps|time limit)/);
      });

      it(`${at}: a CycloneDX attestation passes a cyclonedx requirement`, () => {
        assert.equal(row(`bom-only-${at}`).verdict, 'allow', row(`bom-only-${at}`).denial);
      });

      // cosign annotates each attestation with its predicate type: one of another type is not even read.
      it(`${at}: a predicate type other than the requirement's is never evaluated`, () => {
        const slsaOnly = row(`bom-${at}`);
        assert.equal(slsaOnly.verdict, 'deny');
        assert.match(slsaOnly.denial, /attestation built-by-our-pipeline \(https:\/\/cyclonedx\.org\/bom\): the artifact has none that verifies/);
        assert.doesNotMatch(slsaOnly.denial, /→/, 'no condition was evaluated');
        const bomOnly = row(`slsa-wanted-${at}`);
        assert.equal(bomOnly.verdict, 'deny');
        assert.match(bomOnly.denial, /attestation built-by-our-pipeline \(https:\/\/slsa\.dev\/provenance\/v1\): the artifact has none that verifies/);
      });

      it(`${at}: an attestation signed with another key does not verify and is not evaluated`, () => {
        const result = row(`wrong-key-${at}`);
        assert.equal(result.verdict, 'deny');
        assert.match(result.denial, /no authority verified it \(release: the signature does not verify with release's key/);
        assert.doesNotMatch(result.denial, /→/);
      });

      it(`${at}: a predicate that is not JSON (cosign wraps it as text) fails the condition that reads it`, () => {
        const result = row(`malformed-${at}`);
        assert.equal(result.verdict, 'deny');
        assert.match(result.denial, /the condition predicate\.score > 0\.5 could not be evaluated/);
      });
    }

    it(`${label}: an attestation of another digest copied to the admitted digest's .att tag is refused`, () => {
      const result = row(`another-digest-${label}`);
      assert.equal(result.verdict, 'deny');
      assert.match(result.denial, /it is about sha256:[0-9a-f]{12}…, not the admitted sha256:/);
    });
  }
});
