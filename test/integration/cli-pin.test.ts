/**
 * `modelgate pin` against real registries: docker-registry (distribution 2.8) and the
 * referrers registry (go-containerregistry), through main(). Multi-document files with
 * comments, flow maps and a JSON file; references already pinned; KServe oci:// URIs; an
 * unknown tag and an unreachable registry (nothing written); a denial after pinning.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startDistribution } from '../support/distribution.ts';
import type { RunningDistribution } from '../support/distribution.ts';
import { hasGo, startReferrersRegistry } from '../support/referrers-registry.ts';
import type { RunningReferrersRegistry } from '../support/referrers-registry.ts';
import { closePushAgents, pushManifest } from '../support/push.ts';
import { fixtureModels } from '../support/models.ts';
import { runCli } from '../support/cli.ts';

/** A loopback port with nothing listening: taken from the kernel, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

describe('modelgate pin against real registries', { timeout: 180_000, skip: !hasGo() && 'needs Go for the referrers registry' }, () => {
  const models = fixtureModels();
  let distribution: RunningDistribution;
  let referrers: RunningReferrersRegistry;
  let dir: string;
  let policy: string;
  let denyPickles: string;
  let manifestText: string;
  let expectedText: string;
  let jsonText: string;
  let unreachable: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-pin-'));
    distribution = await startDistribution({ dir });
    referrers = await startReferrersRegistry();
    await pushManifest({ url: distribution.url }, 'models/good', models.good, 'v1');
    await pushManifest({ url: distribution.url }, 'models/pickled', models.pickled, 'v1');
    await pushManifest({ url: distribution.url }, 'models/index', models.index, 'latest');
    await pushManifest({ url: referrers.url }, 'kserve/llm', models.kit, '2025-01');
    unreachable = `127.0.0.1:${await closedPort()}`;
    const config = `apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries:
    - {host: "${distribution.host}", insecure: true}
    - {host: "${referrers.host}", insecure: true}
    - {host: "${unreachable}", insecure: true}
  timeouts: {requestSeconds: 2, totalSeconds: 3}
`;
    policy = join(dir, 'policy.yaml');
    await writeFile(
      policy,
      `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: pinned}
spec:
  match: {references: ["**"]}
  requireDigest: true
---
${config}`,
    );
    denyPickles = join(dir, 'deny-pickles.yaml');
    await writeFile(
      denyPickles,
      `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: no-pickles}
spec:
  match: {references: ["${distribution.host}/**"]}
  requireDigest: true
  artifact: {denyFiles: ["*.pkl"]}
---
${config}`,
    );
    const d = distribution.host;
    const r = referrers.host;
    const goodDigest = models.good.digest;
    manifestText = `# Models for the inference tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: llm   # the server
spec:
  template:
    spec:
      volumes:
      - name: weights
        image:
          reference: "${d}/models/good:v1"    # bumped by CI
          pullPolicy: IfNotPresent
      - name: tokenizer
        image: {reference: '${d}/models/index', pullPolicy: IfNotPresent}
      containers: [{name: c, image: busybox}]
---
# Already pinned: left alone.
apiVersion: v1
kind: Pod
metadata: {name: pinned}
spec:
  volumes:
    - name: m
      image:
        reference: ${d}/models/good:v1@${goodDigest}
  containers: [{name: c, image: busybox}]
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: kserve-llm
spec:
  predictor:
    model:
      storageUri: oci://${r}/kserve/llm:2025-01 # modelcar
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
data: {reference: "${d}/models/good:v1"}
`;
    expectedText = manifestText
      .replace(`"${d}/models/good:v1"`, `"${d}/models/good:v1@${goodDigest}"`)
      .replace(`'${d}/models/index'`, `'${d}/models/index:latest@${models.index.digest}'`)
      .replace(`oci://${r}/kserve/llm:2025-01`, `oci://${r}/kserve/llm:2025-01@${models.kit.digest}`);
    jsonText = `{
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "json-pod"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}],
             "volumes": [{"name": "m", "image": {"reference": "${d}/models/good:v1"}}]}
}
`;
  });

  after(async () => {
    await closePushAgents();
    await distribution?.stop();
    await referrers?.stop();
  });

  async function fixture(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  it('prints the manifests with every tag pinned, comments, quoting and key order kept, and judges them', async () => {
    const file = await fixture('print.yaml', manifestText);
    const result = await runCli(['pin', '-f', file, '--policy', policy]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, expectedText);
    assert.match(result.stderr, /Pod pinned, volume "m" at spec\.volumes\[0\]\.image\.reference: .*good:v1@sha256:[0-9a-f]{64} \(already pinned\)/);
    assert.match(
      result.stderr,
      /InferenceService kserve-llm, storage URI at spec\.predictor\.model\.storageUri: oci:\/\/.*llm:2025-01 -> oci:\/\/.*llm:2025-01@sha256:[0-9a-f]{64}\n/,
    );
    assert.match(result.stderr, /ALLOW/);
    assert.doesNotMatch(result.stderr, /DENY/);
    assert.equal(await readFile(file, 'utf8'), manifestText, 'without -w the file is not touched');
  });

  it('-w rewrites the files in place (a JSON file stays JSON), and a second run changes nothing', async () => {
    const sub = join(dir, 'tree');
    await mkdir(sub, { recursive: true });
    const yamlFile = join(sub, 'a.yaml');
    const jsonFile = join(sub, 'b.json');
    await writeFile(yamlFile, manifestText);
    await writeFile(jsonFile, jsonText);
    const first = await runCli(['pin', '-f', sub, '-w', '--policy', policy]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, '');
    assert.equal(await readFile(yamlFile, 'utf8'), expectedText);
    assert.equal(await readFile(jsonFile, 'utf8'), jsonText.replace('good:v1"', `good:v1@${models.good.digest}"`));
    assert.match(first.stderr, /wrote .*a\.yaml \(3 references pinned\)/);
    assert.match(first.stderr, /wrote .*b\.json \(1 reference pinned\)/);

    const second = await runCli(['pin', '-f', sub, '-w', '--policy', policy]);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, /wrote/);
    assert.equal(await readFile(yamlFile, 'utf8'), expectedText);
  });

  it('--dry-run prints a unified diff and writes nothing', async () => {
    const file = await fixture('dry.yaml', manifestText);
    const result = await runCli(['pin', '-f', file, '--dry-run', '-w', '--policy', policy]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(file, 'utf8'), manifestText);
    const d = distribution.host;
    assert.ok(result.stdout.startsWith(`--- ${file}\n+++ ${file}\n@@ -9,10 +9,10 @@\n`), result.stdout);
    assert.ok(
      result.stdout.includes(
        `-          reference: "${d}/models/good:v1"    # bumped by CI\n+          reference: "${d}/models/good:v1@${models.good.digest}"    # bumped by CI\n`,
      ),
    );
    assert.ok(result.stdout.includes(`-      storageUri: oci://${referrers.host}/kserve/llm:2025-01 # modelcar\n`));
    assert.equal((result.stdout.match(/^@@ /gm) ?? []).length, 2, 'one hunk for the Deployment, one for the InferenceService');
    assert.ok(result.stdout.includes('\n@@ -33,7 +33,7 @@\n'), result.stdout);
    assert.equal((result.stdout.match(/^-[^-]/gm) ?? []).length, 3);
    assert.equal((result.stdout.match(/^\+[^+]/gm) ?? []).length, 3);
  });

  it('an unknown tag fails with a clear error, and nothing is written', async () => {
    const text = manifestText.replace('models/good:v1"', 'models/good:v9"');
    const file = await fixture('unknown.yaml', text);
    const result = await runCli(['pin', '-f', file, '-w', '--policy', policy]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /cannot pin 1 reference; nothing written/);
    assert.match(
      result.stderr,
      /Deployment llm, volume "weights" at spec\.template\.spec\.volumes\[0\]\.image\.reference: .*models\/good:v9: tag "v9" of .*models\/good: .*(not found|unknown)/i,
    );
    assert.equal(result.stdout, '');
    assert.equal(await readFile(file, 'utf8'), text);
  });

  it('an unreachable registry fails with a clear error, and nothing is written', async () => {
    const text = `${manifestText}---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere}
spec:
  volumes: [{name: m, image: {reference: "${unreachable}/models/good:v1"}}]
  containers: [{name: c, image: busybox}]
`;
    const file = await fixture('unreachable.yaml', text);
    const result = await runCli(['pin', '-f', file, '-w', '--policy', policy]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      new RegExp(`Pod elsewhere, volume "m" .*${unreachable.replace('.', '\\.')}/models/good:v1: tag "v1" of .*(unreachable|connect|refused)`, 'i'),
    );
    assert.equal(await readFile(file, 'utf8'), text);
  });

  it('pinned manifests that the policy denies: printed with exit 1, and -w writes nothing', async () => {
    const text = `apiVersion: v1
kind: Pod
metadata: {name: pickles}
spec:
  volumes: [{name: m, image: {reference: "${distribution.host}/models/pickled:v1"}}]
  containers: [{name: c, image: busybox}]
`;
    const file = await fixture('pickled.yaml', text);
    const printed = await runCli(['pin', '-f', file, '--policy', denyPickles]);
    assert.equal(printed.code, 1, printed.stderr);
    assert.ok(printed.stdout.includes(`models/pickled:v1@${models.pickled.digest}"`));
    assert.match(printed.stderr, /DENY/);
    assert.match(printed.stderr, /pytorch_model\.pkl/);
    const written = await runCli(['pin', '-f', file, '-w', '--policy', denyPickles]);
    assert.equal(written.code, 1);
    assert.match(written.stderr, /would be denied; nothing written/);
    assert.equal(await readFile(file, 'utf8'), text);
  });

  it('reads stdin, refuses -w with stdin, and refuses empty input', async () => {
    const result = await runCli(['pin', '-f', '-', '--policy', policy], jsonText);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes(`good:v1@${models.good.digest}"`));
    const refused = await runCli(['pin', '-f', '-', '-w', '--policy', policy], jsonText);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /stdin \(-f -\) is not one/);
    const empty = await runCli(['pin', '-f', '-', '--policy', policy], '');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /no Kubernetes objects in stdin/);
  });
});
