/**
 * Issue 9 §1, §2 and §6 through a real registry (Debian's docker-registry,
 * distribution 2.8): manifests that Go's encoding/json (CRI-O's decoder) reads
 * differently from JSON.parse are refused, names are judged as CRI-O writes
 * them, and content that was fetched and is wrong fails the rule whatever
 * spec.onError says. The Go decoder itself checks the same bytes in
 * test/fuzz (differential against containers/image).
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { handleAdmission } from '../../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../../src/admission/review.ts';
import { createEngine } from '../../../src/engine/engine.ts';
import type { RegistryBackedEngine } from '../../../src/engine/engine.ts';
import { policySetFromTexts } from '../../../src/policy/load.ts';
import { OCI_INDEX, OCI_MANIFEST, blob, sha256 } from '../../support/artifacts.ts';
import type { TestBlob } from '../../support/artifacts.ts';
import { startDistribution } from '../../support/distribution.ts';
import type { RunningDistribution } from '../../support/distribution.ts';
import { startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { closePushAgents, pushBlob, putManifest } from '../../support/push.ts';
import { modelFile, modelPackConfig } from '../../support/models.ts';
import { admissionReview, kubeObject } from '../../support/objects.ts';

const WEIGHT = 'application/vnd.cncf.model.weight.v1.raw';
const safetensors = modelFile('model.safetensors', 'safe weights');
const pickle = blob('pickle bytes', WEIGHT, { 'org.opencontainers.image.title': 'model.pkl' });
const config = modelPackConfig({}, [safetensors]);
const layerJson = (layer: TestBlob, annotationsKey = 'annotations'): string =>
  `{"mediaType":"${layer.mediaType}","digest":"${layer.digest}","size":${layer.bytes.length}${layer.descriptor.annotations === undefined ? '' : `,"${annotationsKey}":${JSON.stringify(layer.descriptor.annotations)}`}}`;
const head = `"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","artifactType":"application/vnd.cncf.model.manifest.v1+json","config":${layerJson(config)}`;

/** Manifests as a hostile packager writes them: each one digest, read two ways. */
const attacks: Record<string, { bytes: string; refusal: RegExp }> = {
  'layers then Layers': {
    bytes: `{${head},"layers":[${layerJson(safetensors)}],"Layers":[${layerJson(pickle)}]}`,
    refusal: /"Layers" differs from the field "layers" only in case/,
  },
  'a duplicate layers key': {
    bytes: `{${head},"layers":[${layerJson(safetensors)}],"layers":[${layerJson(pickle)}]}`,
    refusal: /the key "layers" appears more than once/,
  },
  'a case-variant Annotations': {
    bytes: `{${head},"layers":[{"mediaType":"${WEIGHT}","digest":"${pickle.digest}","size":${pickle.bytes.length},"annotations":{"org.opencontainers.image.title":"model.safetensors"},"Annotations":{"org.opencontainers.image.title":"model.pkl"}}]}`,
    refusal: /layers\[0\]: the key "Annotations" differs from the field "annotations"/,
  },
  'a long-s layerſ key': {
    bytes: `{${head},"layers":[${layerJson(safetensors)}],"layer\u017f":[${layerJson(pickle)}]}`,
    refusal: /"layerſ" differs from the field "layers"/,
  },
};

/**
 * What docker-registry itself refuses to store (it rejects layers beside manifests), served
 * as a hostile registry would: by a scripted server, the one imitation here.
 */
const unstorable: Record<string, { bytes: string; mediaType: string; refusal: RegExp }> = {
  'both layers and manifests': {
    bytes: `{${head},"layers":[${layerJson(safetensors)}],"manifests":[]}`,
    mediaType: OCI_MANIFEST,
    refusal: /also has manifests, the field of an index: it is ambiguous/,
  },
  'an index with layers': {
    bytes: `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[],"layers":[${layerJson(pickle)}]}`,
    mediaType: OCI_INDEX,
    refusal: /the application\/vnd\.oci\.image\.index\.v1\+json also has layers, fields of an image manifest: it is ambiguous/,
  },
  // §6: content that was fetched and is wrong is a verdict, never a "could not check".
  garbage: { bytes: 'this is not a manifest', mediaType: OCI_MANIFEST, refusal: /the manifest is not valid JSON/ },
  'a 17-entry index': {
    bytes: `{"schemaVersion":2,"mediaType":"${OCI_INDEX}","manifests":[${Array.from({ length: 17 }, (_, i) => `{"mediaType":"${OCI_MANIFEST}","digest":"sha256:${String(i).padStart(64, '0')}","size":10}`).join(',')}]}`,
    mediaType: OCI_INDEX,
    refusal: /lists 17 manifests; modelgate checks at most 16/,
  },
  'a manifest served as an index': {
    bytes: `{${head},"layers":[${layerJson(safetensors)}]}`,
    mediaType: OCI_INDEX,
    refusal: /the registry served it as application\/vnd\.oci\.image\.index\.v1\+json, but its mediaType is application\/vnd\.oci\.image\.manifest\.v1\+json/,
  },
};

const NAMED: Record<string, Record<string, string>> = {
  'a pickle title behind a safetensors file path': { 'org.cncf.model.filepath': 'weights.safetensors', 'org.opencontainers.image.title': 'weights.pkl' },
  'weights.pkl/.': { 'org.opencontainers.image.title': 'weights.pkl/.' },
  'weights.pkl/': { 'org.cncf.model.filepath': 'weights.pkl/' },
  'WEIGHTS.PKL': { 'org.opencontainers.image.title': 'WEIGHTS.PKL' },
};

function policy(host: string, onError: string): string {
  return `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec:
  match: {references: ["${host}/**"]}
  onError: ${onError}
  artifact: {types: [modelpack], mountable: true, denyFiles: ["*.pkl"], formats: [safetensors]}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${host}", insecure: true}]
`;
}

describe('documents read as the runtime reads them (issue 9)', { timeout: 180_000 }, () => {
  let registry: RunningDistribution;
  let hostile: RunningServer;
  const engines: RegistryBackedEngine[] = [];
  const refs = new Map<string, string>();

  before(async () => {
    registry = await startDistribution({ dir: await mkdtemp(join(tmpdir(), 'modelgate-hardening-')) });
    const target = { url: registry.url };
    for (const item of [config, safetensors, pickle]) await pushBlob(target, 'models/attack', item);
    for (const [name, attack] of Object.entries(attacks)) {
      const bytes = Buffer.from(attack.bytes, 'utf8');
      await putManifest(target, 'models/attack', sha256(bytes), OCI_MANIFEST, bytes);
      refs.set(name, `${registry.host}/models/attack@${sha256(bytes)}`);
    }
    hostile = await startServer((req, res) => {
      const found = Object.values(unstorable).find((attack) => req.url === `/v2/models/attack/manifests/${sha256(Buffer.from(attack.bytes))}`);
      if (found === undefined) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': found.mediaType });
      res.end(found.bytes);
    });
    // File names as CRI-O writes them: the title wins over the file path, and names are cleaned.
    for (const [name, annotations] of Object.entries(NAMED)) {
      const layer = blob(`weights of ${name}`, WEIGHT, annotations);
      await pushBlob(target, 'models/names', layer);
      await pushBlob(target, 'models/names', config);
      const bytes = Buffer.from(`{${head},"layers":[${layerJson(layer)}]}`);
      await putManifest(target, 'models/names', sha256(bytes), OCI_MANIFEST, bytes);
      refs.set(name, `${registry.host}/models/names@${sha256(bytes)}`);
    }
    // A ModelPack config with the format given twice: the runtime's decoder keeps the last.
    const twice = blob(
      `{"descriptor":{"name":"x"},"config":{"format":"safetensors","format":"pytorch"},"modelfs":{"type":"layers","diffIds":["${safetensors.digest}"]}}`,
      config.mediaType,
    );
    await pushBlob(target, 'models/attack', twice);
    const withTwice = Buffer.from(
      `{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","artifactType":"application/vnd.cncf.model.manifest.v1+json","config":${layerJson(twice)},"layers":[${layerJson(safetensors)}]}`,
    );
    await putManifest(target, 'models/attack', sha256(withTwice), OCI_MANIFEST, withTwice);
    refs.set('config with a duplicate key', `${registry.host}/models/attack@${sha256(withTwice)}`);
  });

  after(async () => {
    await closePushAgents();
    for (const engine of engines) await engine.client?.close();
    await registry?.stop();
    await hostile?.stop();
  });

  const admit = async (onError: string, reference: string, host = registry.host) => {
    const engine = createEngine(policySetFromTexts([{ source: 'test.yaml', text: policy(host, onError) }]));
    engines.push(engine);
    return handleAdmission(parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference }]))), engine);
  };

  for (const [name, attack] of Object.entries(attacks)) {
    it(`refuses a manifest with ${name}, whatever onError says`, async () => {
      for (const onError of ['deny', 'warn', 'allow']) {
        const outcome = await admit(onError, refs.get(name) ?? '');
        assert.equal(outcome.decision.allowed, false, `${name}, onError ${onError}: ${outcome.decision.message}`);
        assert.match(outcome.decision.message ?? '', attack.refusal);
        assert.match(outcome.decision.message ?? '', /rule artifact: what the registry served was refused/);
      }
    });
  }

  for (const [name, attack] of Object.entries(unstorable)) {
    it(`refuses ${name} (served by a hostile registry), whatever onError says`, async () => {
      const outcome = await admit('allow', `${hostile.host}/models/attack@${sha256(Buffer.from(attack.bytes))}`, hostile.host);
      assert.equal(outcome.decision.allowed, false, outcome.decision.message);
      assert.match(outcome.decision.message ?? '', attack.refusal);
    });
  }

  for (const name of Object.keys(NAMED)) {
    it(`denyFiles denies ${name}`, async () => {
      const outcome = await admit('deny', refs.get(name) ?? '');
      assert.equal(outcome.decision.allowed, false, name);
      assert.match(outcome.decision.message ?? '', /rule artifact\.denyFiles: layer 1 .* is a denied file/);
    });
  }

  it('refuses a ModelPack config with a duplicate key as a failed rule', async () => {
    const outcome = await admit('allow', refs.get('config with a duplicate key') ?? '');
    assert.equal(outcome.decision.allowed, false);
    assert.match(
      outcome.decision.message ?? '',
      /rule artifact\.formats: the ModelPack config sha256:[0-9a-f]{12}… is not valid: the config was refused: config: the key "format" appears more than once/,
    );
  });
});
