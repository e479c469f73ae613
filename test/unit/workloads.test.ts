/**
 * AI workloads are judged when they are applied (issue 10): each kind's model references
 * are found where its CRD puts pod specs, named by field path, through the same engine as
 * `modelgate check`. The manifests are in test/fixtures/workloads, shaped by each
 * project's CRD; the real kube-apiserver with those CRDs is in test/e2e.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { handleAdmission } from '../../src/admission/handle.ts';
import { extractModelReferences } from '../../src/admission/extract.ts';
import { groupOf, workloadKind } from '../../src/admission/kinds.ts';
import { creationRequest, objectsFromText } from '../../src/admission/objects.ts';
import { findingsOf } from '../../src/engine/decision.ts';
import { createEngine } from '../../src/engine/engine.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';

const FIXTURES = join(PACKAGE_ROOT, 'test', 'fixtures', 'workloads');
const bundled = policySetFromTexts([{ source: 'manifests/policy.yaml', text: readFileSync(join(PACKAGE_ROOT, 'manifests', 'policy.yaml'), 'utf8') }]);
const engine = createEngine(bundled, { offline: true });

const EXPECTED: Record<string, readonly string[]> = {
  'leaderworkerset.yaml': [
    'spec.leaderWorkerTemplate.leaderTemplate.spec.volumes[0].image.reference',
    'spec.leaderWorkerTemplate.workerTemplate.spec.volumes[0].image.reference',
  ],
  'jobset.yaml': ['spec.replicatedJobs[0].template.spec.template.spec.volumes[0].image.reference'],
  'inferenceservice.yaml': ['spec.predictor.model.storageUri', 'spec.transformer.volumes[0].image.reference'],
  'raycluster.yaml': ['spec.headGroupSpec.template.spec.volumes[0].image.reference', 'spec.workerGroupSpecs[0].template.spec.volumes[0].image.reference'],
  'rayjob.yaml': ['spec.rayClusterSpec.headGroupSpec.template.spec.volumes[0].image.reference', 'spec.submitterPodTemplate.spec.volumes[0].image.reference'],
  'rayservice.yaml': ['spec.rayClusterConfig.headGroupSpec.template.spec.volumes[0].image.reference'],
  'trainjob.yaml': ['spec.runtimePatches[0].trainingRuntimeSpec.template.spec.replicatedJobs[0].template.spec.template.spec.volumes[0].image.reference'],
  'pytorchjob.yaml': [
    'spec.pytorchReplicaSpecs.Master.template.spec.volumes[0].image.reference',
    'spec.pytorchReplicaSpecs.Worker.template.spec.volumes[0].image.reference',
  ],
  'workflow.yaml': [
    'spec.volumes[0].image.reference',
    'spec.templates[0].volumes[0].image.reference',
    'spec.templates[0].podSpecPatch: volumes[0].image.reference',
  ],
};

describe('AI workloads (issue 10)', () => {
  for (const [file, paths] of Object.entries(EXPECTED)) {
    it(`${file}: every model reference is found and judged, named by its field path`, async () => {
      const [object] = objectsFromText(readFileSync(join(FIXTURES, file), 'utf8'), file);
      assert.ok(object !== undefined);
      const kind = workloadKind(groupOf(String(object['apiVersion'])), String(object['kind']));
      assert.ok(kind !== undefined, `${file}: no kind`);
      assert.deepEqual(
        extractModelReferences(object, kind).map((site) => site.path),
        paths,
      );
      const outcome = await handleAdmission(creationRequest(object), engine);
      assert.equal(outcome.decision.allowed, false, `${file} was allowed`);
      for (const path of paths)
        assert.ok((outcome.decision.message ?? '').includes(`at ${path}, reference`), `${file}: ${path} not in\n${outcome.decision.message}`);
    });
  }

  it('a KServe oci:// storage URI is judged like an image volume; other schemes are not OCI models', async () => {
    const object = {
      apiVersion: 'serving.kserve.io/v1beta1',
      kind: 'InferenceService',
      metadata: { name: 'm', namespace: 'team-a' },
      spec: {
        predictor: {
          model: { storageUri: `oci://ghcr.io/acme/models/llama@sha256:${'a'.repeat(64)}` },
          sklearn: { storageUri: 'oci+native://ghcr.io/acme/sk:v1' },
        },
        explainer: { art: { storageUri: 's3://bucket/explainer' } },
        canary: [{ predictor: { storageUris: [{ uri: 'hf://acme/llama' }, { uri: 'oci://ghcr.io/acme/models/canary:v2' }] } }],
      },
    };
    const outcome = await handleAdmission(creationRequest(object), engine);
    assert.deepEqual(
      outcome.decision.verdicts.map((verdict) => [verdict.site.path, verdict.site.reference, findingsOf(verdict.results).map((finding) => finding.rule)]),
      [
        ['spec.predictor.model.storageUri', `ghcr.io/acme/models/llama@sha256:${'a'.repeat(64)}`, []],
        ['spec.predictor.sklearn.storageUri', 'ghcr.io/acme/sk:v1', ['requireDigest']],
        ['spec.canary[0].predictor.storageUris[1].uri', 'ghcr.io/acme/models/canary:v2', ['requireDigest']],
      ],
    );
    assert.match(outcome.decision.message ?? '', /\n- storage URI at spec\.predictor\.sklearn\.storageUri, reference "ghcr\.io\/acme\/sk:v1":\n/);
  });

  it('an unreadable Argo podSpecPatch is denied: the volumes it may add cannot be judged', async () => {
    const object = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Workflow',
      metadata: { name: 'w', namespace: 'team-a' },
      spec: { podSpecPatch: '{image: [unclosed' },
    };
    const outcome = await handleAdmission(creationRequest(object), engine);
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /at spec\.podSpecPatch, .*the podSpecPatch cannot be read as YAML or JSON/s);
  });

  it('a cluster-scoped kind is named without a namespace; a namespaced object without one is in `default`, as kubectl puts it', async () => {
    const volume = { volumes: [{ name: 'm', image: { reference: 'ghcr.io/acme/m:v1' } }] };
    const runtime = {
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'ClusterServingRuntime',
      metadata: { name: 'vllm', namespace: 'ignored' },
      spec: { containers: [], ...volume },
    };
    const clustered = await handleAdmission(creationRequest(runtime), engine);
    assert.deepEqual(clustered.object, { kind: 'ClusterServingRuntime', namespace: '', name: 'vllm' });
    assert.match(clustered.decision.message ?? '', /^modelgate denied ClusterServingRuntime vllm: /);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [], ...volume } };
    const defaulted = await handleAdmission(creationRequest(pod), engine);
    assert.deepEqual(defaulted.object, { kind: 'Pod', namespace: 'default', name: 'p' });
    assert.match(defaulted.decision.message ?? '', /^modelgate denied Pod default\/p: /);
  });

  it('a Config adds kinds with podSpecPaths, validated at load', async () => {
    const config = (paths: string): string =>
      `apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec:\n  workloads: [{group: example.com, kind: ModelServer, podSpecPaths: ${paths}}]\n`;
    const policy = 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: pinned}\nspec: {}\n---\n';
    const custom = createEngine(policySetFromTexts([{ source: 'c.yaml', text: policy + config('["spec.shards[].pod", "spec.routers.*.template.spec"]') }]), {
      offline: true,
    });
    const object = {
      apiVersion: 'example.com/v1',
      kind: 'ModelServer',
      metadata: { name: 's', namespace: 'team-a' },
      spec: {
        shards: [{ pod: { volumes: [{ name: 'm', image: { reference: 'ghcr.io/acme/m:v1' } }] } }],
        routers: { east: { template: { spec: { volumes: [{ name: 'r', image: { reference: `ghcr.io/acme/r@sha256:${'b'.repeat(64)}` } }] } } } },
      },
    };
    const outcome = await handleAdmission(creationRequest(object), custom);
    assert.deepEqual(
      outcome.decision.verdicts.map((verdict) => verdict.site.path),
      ['spec.shards[0].pod.volumes[0].image.reference', 'spec.routers.east.template.spec.volumes[0].image.reference'],
    );
    assert.equal(outcome.decision.allowed, false);
    assert.throws(
      () => policySetFromTexts([{ source: 'c.yaml', text: config('["spec..pod"]') }]),
      /spec\.workloads\[0\]\.podSpecPaths\[0\]: has an empty part/,
    );
    assert.throws(
      () => policySetFromTexts([{ source: 'c.yaml', text: config('["spec.pods[x]"]') }]),
      /spec\.workloads\[0\]\.podSpecPaths\[0\]: has a malformed part/,
    );
  });
});
