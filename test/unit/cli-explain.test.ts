/**
 * `modelgate explain`: offline (reference rules only) through main(), the real
 * executable once, and the policy source rule (files, a cluster's ConfigMaps
 * through a fake Kubernetes API, the bundled file). Against a real registry:
 * test/integration/cli-explain-registry.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { closedPort } from '../support/fake-servers.ts';
import { loadPolicySet } from '../../src/policy/load.ts';
import { explainReport, explainedRule, runCli } from '../support/cli.ts';
import type { Run, RunEnv } from '../support/cli.ts';
import { startFakeApi } from '../support/fake-kube.ts';
import type { FakeApi } from '../support/fake-kube.ts';
import { modelPolicy, configDocument } from '../support/policies.ts';

const DIGEST = `sha256:${'b'.repeat(64)}`;

const run = (args: string[]): Promise<Run> => runCli(args);

const report = explainReport;
const rule = explainedRule;

describe('modelgate explain, offline policy', () => {
  let dir: string;
  let policy: string;
  let config: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-explain-'));
    policy = join(dir, 'policy.yaml');
    config = join(dir, 'config.yaml');
    await writeFile(
      policy,
      `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: local-models}
spec:
  match: {namespaces: ["team-*"], references: ["localhost:5000/**"]}
  registries: ["localhost:5000"]
---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: lab}
spec: {mode: warn, match: {namespaces: [lab]}}
---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: allowlist}
spec: {match: {namespaces: [secure]}, registries: ["localhost:5000", "*.internal"]}
`,
    );
    await writeFile(config, configDocument('{defaultAction: deny}'));
  });

  it('parses a pinned local reference and passes every rule: exit 0', async () => {
    const result = await run(['explain', `localhost:5000/models/llama:v2@${DIGEST}`, '--policy', policy, '-n', 'team-a', '-o', 'json', '--offline']);
    assert.equal(result.code, 0, result.stderr);
    const r = report(result);
    assert.deepEqual(r.reference, {
      input: `localhost:5000/models/llama:v2@${DIGEST}`,
      valid: true,
      registry: 'localhost:5000',
      repository: 'models/llama',
      tag: 'v2',
      digest: DIGEST,
      normalized: `localhost:5000/models/llama:v2@${DIGEST}`,
    });
    assert.equal(r.namespace, 'team-a');
    assert.equal(r.resolution.source, 'reference');
    assert.equal(r.resolution.digest, DIGEST);
    assert.equal(r.evaluation.verdict, 'allow');
    assert.deepEqual(
      r.evaluation.policies.map((p) => [p.name, p.rules.map((entry) => [entry.rule, entry.result])]),
      [
        [
          'local-models',
          [
            ['requireDigest', 'pass'],
            ['registries', 'pass'],
          ],
        ],
      ],
    );
    assert.deepEqual(
      r.timings.map((timing) => timing.step),
      ['parse reference', 'match policies', 'evaluate', 'total'],
    );
    for (const timing of r.timings) assert.ok(timing.ms >= 0 && timing.ms < 5_000);
    assert.equal(r.artifact, undefined, 'offline: no manifest is read');
  });

  it('explains a tag-only reference offline: not resolved, requireDigest fails with its fix, exit 1', async () => {
    const result = await run(['explain', 'localhost:5000/models/llama:v1', '--policy', policy, '-n', 'team-a', '--offline']);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^Reference {3}localhost:5000\/models\/llama:v1$/m);
    assert.match(result.stdout, /^ {2}registry {5}localhost:5000$/m);
    assert.match(result.stdout, /^ {2}repository {3}models\/llama$/m);
    assert.match(result.stdout, /^ {2}tag {10}v1$/m);
    assert.match(result.stdout, /^ {2}digest {7}\(none\)$/m);
    assert.match(result.stdout, /^Digest {6}\(none\)\n {2}not resolved: --offline \(the reference means tag "v1"\)$/m);
    assert.match(result.stdout, /policy local-models \(mode enforce, onError deny, from .*policy\.yaml#1\)/);
    assert.match(result.stdout, /^ {4}requireDigest {3}FAIL {5}.*tag "v1"/m);
    assert.match(result.stdout, /^ {4}registries {6}PASS {5}registry is one of localhost:5000$/m);
    assert.match(result.stdout, /^Verdict {5}DENY$/m);
    assert.match(result.stdout, /Fix: pin it by digest as localhost:5000\/models\/llama:v1@sha256:<digest>/);
    assert.match(result.stdout, /^Timing\n {2}STEP\s+TIME\n {2}parse reference\s+\d+\.\d\d ms$/m);
    assert.match(result.stdout, /^ {2}total\s+\d+\.\d\d ms$/m);
  });

  it('a registry outside the allowlist fails the registries rule; an unmatched reference falls to the defaultAction', async () => {
    const outside = await run(['explain', `ghcr.io/acme/llama@${DIGEST}`, '--policy', policy, '-n', 'secure', '-o', 'json', '--offline']);
    assert.equal(outside.code, 1);
    const registries = rule(report(outside).evaluation, 'allowlist', 'registries');
    assert.equal(registries?.result, 'fail');
    assert.match(registries?.details[0] ?? '', /registry ghcr\.io is not one of the allowed registries \(localhost:5000, \*\.internal\)/);
    const inside = report(await run(['explain', `models.internal/llama@${DIGEST}`, '--policy', policy, '-n', 'secure', '-o', 'json', '--offline']));
    assert.equal(rule(inside.evaluation, 'allowlist', 'registries')?.result, 'pass');
    const other = await run(['explain', `ghcr.io/acme/llama@${DIGEST}`, '--policy', policy, '--config', config, '-n', 'team-a', '-o', 'json', '--offline']);
    assert.equal(other.code, 1);
    const denied = report(other);
    assert.deepEqual(denied.evaluation.policies, [], 'local-models only matches localhost:5000/**');
    assert.deepEqual(
      denied.evaluation.builtIn.map((entry) => [entry.rule, entry.result, entry.mode]),
      [['defaultAction', 'fail', 'enforce']],
    );
    assert.match(denied.evaluation.findings[0]?.reason ?? '', /no ModelPolicy matches ghcr\.io\/acme\/llama in namespace team-a/);
  });

  it('warn mode: the rule fails as a warning and the verdict is warn, exit 0', async () => {
    const result = await run(['explain', 'localhost:5000/models/llama', '--policy', policy, '-n', 'lab', '--offline']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^ {4}requireDigest {3}FAIL \(warn\) {3}.*:latest/m);
    assert.match(result.stdout, /^Verdict {5}WARN$/m);
  });

  it('an invalid reference is always denied, with the reason', async () => {
    const result = await run(['explain', 'LocalHost:5000/Models:x:y', '--policy', policy, '-o', 'json', '--offline']);
    assert.equal(result.code, 1);
    const r = report(result);
    assert.equal(r.reference.valid, false);
    assert.ok((r.reference.error ?? '').length > 0);
    assert.equal(r.evaluation.verdict, 'deny');
    assert.equal(r.evaluation.builtIn[0]?.rule, 'reference');
  });

  it('usage errors exit 2', async () => {
    const none = await run(['explain', '--policy', policy]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /explain needs exactly one REFERENCE/);
    const format = await run(['explain', 'a/b:c', '-o', 'yaml']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /-o must be text or json, got "yaml"/);
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, modelPolicy('b', '{mode: block}'));
    const invalid = await run(['explain', 'a/b:c', '--policy', broken]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /spec\.mode: must be one of enforce, warn, audit, got "block"/);
  });

  it('runs as the real executable', async () => {
    const child = spawn(
      process.execPath,
      [join(PACKAGE_ROOT, 'bin', 'modelgate.js'), 'explain', 'localhost:5000/models/llama:v1', '--policy', policy, '-n', 'team-a', '--offline'],
      {
        env: { ...process.env, MODELGATE_POLICY: '', MODELGATE_CONFIG: '' },
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 1);
    assert.match(stdout, /^Verdict {5}DENY$/m);
  });
});

describe('modelgate explain: where the policy comes from', () => {
  let dir: string;
  let api: FakeApi;
  /** No kubeconfig anywhere: HOME without ~/.kube, no KUBECONFIG, not in a pod. */
  let noCluster: RunEnv;
  const labelled = { 'modelgate.dev/policy': 'true' };
  // The cluster's policy warns about tags where the bundled one denies them.
  const clusterPolicy = modelPolicy('relaxed', '{mode: warn}');
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-explain-source-'));
    api = await startFakeApi(dir);
    api.configMaps = [{ metadata: { name: 'modelgate-policies', namespace: 'modelgate', labels: labelled }, data: { 'policy.yaml': clusterPolicy } }];
    noCluster = { HOME: dir, KUBECONFIG: undefined, KUBERNETES_SERVICE_HOST: undefined };
  });
  after(async () => api?.server.stop());

  it('without a cluster: the bundled policy, named in the output', async () => {
    const result = await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline'], '', noCluster);
    assert.equal(result.code, 1);
    const revision = (await loadPolicySet([join(PACKAGE_ROOT, 'manifests', 'policy.yaml')])).revision;
    assert.match(result.stdout, new RegExp(`^Policy {6}manifests/policy\\.yaml \\(bundled\\), revision ${revision}$`, 'm'));
    assert.match(result.stdout, /^Policies {4}namespace default, policy revision/m);
    const json = report(await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline', '-o', 'json'], '', noCluster));
    assert.equal(json.policy?.source, 'bundled');
    assert.equal(json.policy?.revision, revision);
  });

  it("with a cluster configured (KUBECONFIG or --kubeconfig): the cluster's policy ConfigMaps, as audit and the webhook", async () => {
    const viaEnv = await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline'], '', { ...noCluster, KUBECONFIG: api.kubeconfig });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /^Policy {6}ConfigMaps in namespace modelgate \(modelgate\/modelgate-policies\), revision [0-9a-f]{12}$/m);
    assert.match(viaEnv.stdout, /^Verdict {5}WARN$/m);
    // As kubectl: the context's namespace (lab) unless -n.
    assert.match(viaEnv.stdout, /^Policies {4}namespace lab, /m);
    const json = report(
      await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline', '--kubeconfig', api.kubeconfig, '--context', 'other', '-o', 'json'], '', noCluster),
    );
    assert.deepEqual(
      { source: json.policy?.source, namespace: json.policy?.namespace, sources: json.policy?.sources, verdict: json.evaluation.verdict, in: json.namespace },
      { source: 'configmaps', namespace: 'modelgate', sources: ['ConfigMap modelgate/modelgate-policies'], verdict: 'warn', in: 'team-a' },
    );
    assert.ok(api.requests.some((line) => line.startsWith('GET /api/v1/namespaces/modelgate/configmaps?')));
    const named = report(
      await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline', '-n', 'prod', '-o', 'json'], '', { ...noCluster, KUBECONFIG: api.kubeconfig }),
    );
    assert.equal(named.namespace, 'prod');
  });

  it('--policy wins over a configured cluster; the cluster is not asked', async () => {
    const policy = join(dir, 'strict.yaml');
    await writeFile(policy, modelPolicy('strict'));
    const before = api.requests.length;
    const result = await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline', '--policy', policy, '-o', 'json'], '', {
      ...noCluster,
      KUBECONFIG: api.kubeconfig,
    });
    assert.equal(result.code, 1);
    assert.equal(report(result).policy?.source, 'files');
    assert.equal(report(result).namespace, 'default');
    assert.equal(api.requests.length, before);
  });

  it('never falls back to the bundled policy when the cluster cannot give its own: exit 2', async () => {
    const none = await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline', '--policy-namespace', 'elsewhere'], '', {
      ...noCluster,
      KUBECONFIG: api.kubeconfig,
    });
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /namespace elsewhere: no policy ConfigMaps labelled modelgate\.dev\/policy=true \(found: none\); pass --policy-namespace NAMESPACE or --policy FILE/,
    );
    const port = await closedPort();
    const unreachable = join(dir, 'unreachable.json');
    await writeFile(
      unreachable,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: {} }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    const down = await runCli(['explain', 'ghcr.io/acme/llama:v1', '--offline', '--kubeconfig', unreachable], '', noCluster);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /^modelgate: cannot reach the cluster at http:\/\/127\.0\.0\.1:\d+ to list the policy ConfigMaps/m);
  });
});
