/**
 * `modelgate explain` against a real registry (docker-registry), through main(): tag
 * resolution, the manifest summary, artifact rules and signature authorities.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDistribution } from '../support/distribution.ts';
import type { RunningDistribution } from '../support/distribution.ts';
import { closePushAgents, pushManifest } from '../support/push.ts';
import { fixtureModels } from '../support/models.ts';
import { explainReport, explainedRule, runCli } from '../support/cli.ts';
import type { Run } from '../support/cli.ts';

const DIGEST = `sha256:${'b'.repeat(64)}`;

const run = (args: string[]): Promise<Run> => runCli(args);

const report = explainReport;
const rule = explainedRule;

describe('modelgate explain against a registry', { timeout: 120_000 }, () => {
  const models = fixtureModels();
  let registry: RunningDistribution;
  let dir: string;
  let policy: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-explain-registry-'));
    registry = await startDistribution({ dir });
    await pushManifest({ url: registry.url }, 'models/good', models.good, 'v1');
    await pushManifest({ url: registry.url }, 'models/pickled', models.pickled, 'v1');
    await pushManifest({ url: registry.url }, 'models/index', models.index, 'v1');
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    policy = join(dir, 'policy.yaml');
    await writeFile(
      policy,
      `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec:
  match: {references: ["${registry.host}/**"]}
  artifact:
    types: [modelpack]
    mountable: true
    denyFiles: ["*.pkl"]
    formats: [safetensors]
    licenses: [Apache-2.0]
    maxSize: 1Mi
  signatures:
    authorities:
      - name: release-key
        key: |
${key
  .trim()
  .split('\n')
  .map((line) => `          ${line}`)
  .join('\n')}
        tlog: optional
      - name: break-glass
        static: pass
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${registry.host}", insecure: true}]
`,
    );
  });

  after(async () => {
    await closePushAgents();
    await registry?.stop();
  });

  it('resolves a tag through the registry, shows the manifest, and judges the pinned digest under "if pinned"', async () => {
    const result = await run(['explain', `${registry.host}/models/good:v1`, '--policy', policy, '-o', 'json']);
    assert.equal(result.code, 1, 'the reference as written has no digest: requireDigest denies');
    const r = report(result);
    assert.equal(r.resolution.source, 'tag');
    assert.equal(r.resolution.digest, models.good.digest);
    assert.equal(r.resolution.request, `GET /v2/models/good/manifests/v1 on ${registry.host}`);
    assert.equal(
      r.resolution.note,
      `resolved from tag "v1" (GET /v2/models/good/manifests/v1 on ${registry.host}); admission judges the reference as written, without this digest`,
    );
    assert.ok(r.artifact !== undefined && !('error' in r.artifact));
    const artifact = r.artifact;
    assert.equal(artifact.kind, 'manifest');
    assert.equal(artifact.artifactType, 'application/vnd.cncf.model.manifest.v1+json');
    const manifest = artifact.manifests[0];
    assert.ok(manifest !== undefined);
    assert.equal(manifest.config.mediaType, 'application/vnd.cncf.model.config.v1+json');
    assert.equal(manifest.format, 'safetensors');
    assert.deepEqual(manifest.licenses, ['Apache-2.0']);
    assert.deepEqual(
      manifest.layers.map((layer) => [layer.mediaType, layer.file]),
      [
        ['application/vnd.cncf.model.weight.v1.raw', 'model.safetensors'],
        ['application/vnd.cncf.model.weight.config.v1.raw', 'config.json'],
        ['application/vnd.cncf.model.doc.v1.raw', 'README.md'],
      ],
    );
    assert.equal(
      manifest.totalSize,
      manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
    );
    // As written: requireDigest fails, artifact and signature rules are not checked.
    assert.equal(rule(r.evaluation, 'models', 'requireDigest')?.result, 'fail');
    assert.equal(rule(r.evaluation, 'models', 'artifact.types')?.result, 'not checked');
    assert.equal(rule(r.evaluation, 'models', 'signatures')?.result, 'not checked');
    assert.equal(r.evaluation.verdict, 'deny');
    // If pinned: every artifact rule passes; signatures pass only by the static exception (an audit finding).
    assert.ok(r.ifPinned !== undefined);
    assert.equal(r.ifPinned.reference, `${registry.host}/models/good:v1@${models.good.digest}`);
    assert.deepEqual(
      r.ifPinned.policies[0]?.rules.map((entry) => [entry.rule, entry.result]),
      [
        ['requireDigest', 'pass'],
        ['registries', 'off'],
        ['artifact.types', 'pass'],
        ['artifact.mountable', 'pass'],
        ['artifact.denyFiles', 'pass'],
        ['artifact.maxSize', 'pass'],
        ['artifact.formats', 'pass'],
        ['artifact.licenses', 'pass'],
        ['signatures', 'fail'],
      ],
    );
    assert.equal(rule(r.ifPinned, 'models', 'signatures')?.mode, 'audit');
    assert.equal(r.ifPinned.verdict, 'audit');
    const signatures = r.ifPinned.policies[0]?.signatures;
    assert.ok(signatures !== undefined && !('error' in signatures));
    assert.deepEqual(
      signatures.authorities.map((authority) => [authority.name, authority.kind, authority.passed]),
      [
        ['release-key', 'key', false],
        ['break-glass', 'static', true],
      ],
    );
    const steps = r.timings.map((timing) => timing.step);
    assert.deepEqual(steps, [
      'parse reference',
      'match policies',
      'resolve tag v1',
      'read manifest',
      'verify signatures (models)',
      'evaluate',
      'evaluate if pinned',
      'total',
    ]);
  });

  it('prints the trace as text', async () => {
    const result = await run(['explain', `${registry.host}/models/good@${models.good.digest}`, '--policy', policy]);
    assert.equal(result.code, 0, 'allowed by the static exception (audit)');
    assert.match(result.stdout, new RegExp(`^Digest {6}${models.good.digest}\\n {2}pinned by digest in the reference$`, 'm'));
    assert.match(result.stdout, new RegExp(`^Manifest {4}${models.good.digest}$`, 'm'));
    assert.match(
      result.stdout,
      /^ {2}manifest application\/vnd\.oci\.image\.manifest\.v1\+json, artifactType application\/vnd\.cncf\.model\.manifest\.v1\+json$/m,
    );
    assert.match(result.stdout, /^ {2}config application\/vnd\.cncf\.model\.config\.v1\+json \(\d+ B\): format safetensors; licenses Apache-2\.0$/m);
    assert.match(result.stdout, /^ {4}MEDIA TYPE\s+SIZE\s+FILE$/m);
    assert.match(result.stdout, /^ {4}application\/vnd\.cncf\.model\.weight\.v1\.raw\s+\d+ B\s+model\.safetensors$/m);
    assert.match(result.stdout, /^ {4}artifact\.denyFiles\s+PASS\s+no layer file matches \*\.pkl$/m);
    assert.match(result.stdout, /^ {4}signatures\s+FAIL \(audit\)\s+admitted by the static exception break-glass/m);
    assert.match(
      result.stdout,
      /^ {4}signatures\s+FAIL \(audit\)\s+admitted by the static exception break-glass: only 0 of the 1 required authority verified a signature\n {4}signature authorities/m,
    );
    assert.match(result.stdout, /^ {4}signature authorities: 1 of 1 required passed \(0 signature\(s\) read\)$/m);
    assert.match(result.stdout, /^ {4}AUTHORITY\s+KIND\s+RESULT\s+REASON$/m);
    assert.match(result.stdout, /^ {4}release-key\s+key\s+FAIL\s+no signature found/m);
    assert.match(result.stdout, /^ {4}break-glass\s+static\s+PASS\s+static pass/m);
    assert.match(result.stdout, /^Verdict {5}AUDIT$/m);
    assert.doesNotMatch(result.stdout, /If pinned/);
    assert.match(result.stdout, /^ {2}read manifest\s+\d+\.\d\d ms$/m);
  });

  it('names the layer that fails an artifact rule, and exits 1', async () => {
    const result = await run(['explain', `${registry.host}/models/pickled@${models.pickled.digest}`, '--policy', policy, '-o', 'json']);
    assert.equal(result.code, 1);
    const r = report(result);
    const denyFiles = rule(r.evaluation, 'models', 'artifact.denyFiles');
    assert.equal(denyFiles?.result, 'fail');
    assert.equal(denyFiles?.mode, 'enforce');
    assert.match(denyFiles?.details[0] ?? '', /pytorch_model\.pkl/);
    assert.equal(rule(r.evaluation, 'models', 'artifact.formats')?.result, 'fail');
    assert.equal(rule(r.evaluation, 'models', 'artifact.types')?.result, 'pass');
  });

  it('summarises each manifest of an index', async () => {
    const r = report(await run(['explain', `${registry.host}/models/index@${models.index.digest}`, '--policy', policy, '-o', 'json']));
    assert.ok(r.artifact !== undefined && !('error' in r.artifact));
    assert.equal(r.artifact.kind, 'index');
    assert.equal(r.artifact.manifests.length, 2);
    assert.equal(rule(r.evaluation, 'models', 'artifact.mountable')?.result, 'fail');
  });

  it('says when the tag cannot be resolved or the manifest cannot be read', async () => {
    const missing = report(await run(['explain', `${registry.host}/models/none:v9`, '--policy', policy, '-o', 'json']));
    assert.equal(missing.resolution.source, 'none');
    assert.match(missing.resolution.error ?? '', /not found|404|unknown/i);
    assert.equal(missing.ifPinned, undefined);
    const unknown = report(await run(['explain', `${registry.host}/models/good@${DIGEST}`, '--policy', policy, '-o', 'json']));
    assert.ok(unknown.artifact !== undefined && 'error' in unknown.artifact);
    assert.equal(rule(unknown.evaluation, 'models', 'artifact')?.result, 'fail', 'onError: deny');
    assert.equal(rule(unknown.evaluation, 'models', 'artifact.types')?.result, 'not checked');
    assert.equal(unknown.evaluation.verdict, 'deny');
  });
});
