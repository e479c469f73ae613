/**
 * `modelgate audit`: folding owned objects into their owner, the report and
 * its table/JSON output, policy from ConfigMaps, the namespaces the webhook
 * leaves out, custom kinds found through discovery, and the errors
 * (forbidden, unreachable, bad context), against an in-process fake of the
 * Kubernetes API on loopback (test/support/fake-kube.ts). test/e2e/audit.test.ts
 * runs the same command against a real kube-apiserver.
 */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { customKinds, foldIntoOwners, skippedLine, summaryLine } from '../../src/cli/audit.ts';
import type { AuditReport } from '../../src/cli/audit.ts';
import { describeApiError } from '../../src/kube/api-errors.ts';
import { versionsToTry } from '../../src/kube/list-workloads.ts';
import { closedPort } from '../support/fake-servers.ts';
import { startFakeApi } from '../support/fake-kube.ts';
import type { FakeApi } from '../support/fake-kube.ts';
import { PINNED, UNPINNED, kubeObject } from '../support/objects.ts';
import type { Json } from '../support/objects.ts';
import { runCli } from '../support/cli.ts';
import type { Run } from '../support/cli.ts';
import { modelPolicy, configDocument } from '../support/policies.ts';

// ---- objects -------------------------------------------------------------------------------------

let uid = 0;
function object(kind: string, name: string, namespace: string, reference: string | undefined, owner?: Json): Json {
  uid += 1;
  const made = kubeObject(kind, reference === undefined ? [] : [{ name: 'model', reference }], {
    name,
    namespace,
    uid: `00000000-0000-4000-8000-${String(uid).padStart(12, '0')}`,
    ...(owner === undefined
      ? {}
      : {
          ownerReferences: [
            {
              apiVersion: String(owner['apiVersion']),
              kind: String(owner['kind']),
              name: String((owner['metadata'] as Json)['name']),
              uid: String((owner['metadata'] as Json)['uid']),
              controller: true,
            },
          ],
        }),
  });
  return made;
}

/** The objects of a small cluster: a Deployment with its ReplicaSets and Pods, a CronJob chain, bare Pods. */
function cluster(): Json[] {
  const deployment = object('Deployment', 'llm', 'team-a', PINNED);
  const current = object('ReplicaSet', 'llm-7d4f', 'team-a', PINNED, deployment);
  const old = object('ReplicaSet', 'llm-5c9b', 'team-a', UNPINNED, deployment);
  const cron = object('CronJob', 'nightly', 'team-a', PINNED);
  const job = object('Job', 'nightly-29000', 'team-a', PINNED, cron);
  return [
    deployment,
    current,
    old,
    object('Pod', 'llm-7d4f-a', 'team-a', PINNED, current),
    object('Pod', 'llm-7d4f-b', 'team-a', PINNED, current),
    object('Pod', 'llm-5c9b-a', 'team-a', UNPINNED, old),
    cron,
    job,
    object('Pod', 'nightly-29000-x', 'team-a', PINNED, job),
    object('Pod', 'bare', 'team-a', UNPINNED),
    object('Pod', 'no-model', 'team-a', undefined),
    object('Pod', 'orphan', 'lab', UNPINNED, { apiVersion: 'example.com/v1', kind: 'Trainer', metadata: { name: 'gone', uid: 'not-listed' } }),
    object('StatefulSet', 'db', 'lab', PINNED),
    object('DaemonSet', 'agent', 'lab', PINNED),
    object('PodTemplate', 'tmpl', 'lab', PINNED),
    object('ReplicationController', 'rc', 'lab', UNPINNED),
  ];
}

const labelOf = (o: Json): string => `${String(o['kind'])} ${String((o['metadata'] as Json)['namespace'])}/${String((o['metadata'] as Json)['name'])}`;

const run = (args: string[]): Promise<Run> => runCli(args);

// ---- tests ---------------------------------------------------------------------------------------------

describe('audit: folding owned objects into their owner', () => {
  it('reports a Deployment once for its ReplicaSet and Pods, and a CronJob for its Job and Pod', () => {
    const objects = cluster();
    const folded = foldIntoOwners(objects, false);
    assert.deepEqual(
      folded.map((entry) => [labelOf(entry.object), entry.owner ?? '', entry.covers]),
      [
        ['Deployment team-a/llm', '', ['ReplicaSet team-a/llm-7d4f', 'Pod team-a/llm-7d4f-a', 'Pod team-a/llm-7d4f-b']],
        // An old ReplicaSet with another template is reported on its own, with its Pod folded into it.
        ['ReplicaSet team-a/llm-5c9b', 'Deployment llm', ['Pod team-a/llm-5c9b-a']],
        ['CronJob team-a/nightly', '', ['Job team-a/nightly-29000', 'Pod team-a/nightly-29000-x']],
        ['Pod team-a/bare', '', []],
        ['Pod team-a/no-model', '', []],
        // Its owner was not listed (another kind): reported, naming the owner.
        ['Pod lab/orphan', 'Trainer gone', []],
        ['StatefulSet lab/db', '', []],
        ['DaemonSet lab/agent', '', []],
        ['PodTemplate lab/tmpl', '', []],
        ['ReplicationController lab/rc', '', []],
      ],
    );
  });

  it('with --all-objects reports every object', () => {
    const objects = cluster();
    const folded = foldIntoOwners(objects, true);
    assert.equal(folded.length, objects.length);
    assert.ok(folded.every((entry) => entry.covers.length === 0));
    assert.equal(folded.find((entry) => labelOf(entry.object) === 'Pod team-a/llm-7d4f-a')?.owner, 'ReplicaSet llm-7d4f');
  });

  it('summarises counts, folding and the policy source in one line', () => {
    const report: AuditReport = {
      allowed: false,
      policyRevision: 'abc',
      policySources: ['ConfigMap modelgate/modelgate-policies'],
      scope: 'all namespaces',
      listed: 16,
      objects: 10,
      summary: { allow: 5, warn: 1, audit: 0, deny: 3, none: 1 },
      rows: [],
      denials: [],
    };
    assert.equal(
      summaryLine(report, false),
      'audited 10 object(s) in all namespaces, 6 more reported at their owner (--all-objects lists each): 3 denied, 1 warned, 0 audited, 5 allowed, 1 without image volumes',
    );
    assert.doesNotMatch(summaryLine(report, true), /reported at their owner/);
    assert.equal(skippedLine(report), '');
    assert.equal(
      skippedLine({ ...report, skippedNamespaces: ['kube-system', 'modelgate'], skippedObjects: 3 }),
      "skipped kube-system and modelgate (3 object(s)): the webhook's namespaceSelector leaves them out; --include-system-namespaces audits them too\n",
    );
  });
});

describe('audit: custom kinds', () => {
  it("tries the kind's versions that the group serves, the group's preferred first", () => {
    const group = (versions: string[], preferred?: string) => ({
      versions: versions.map((version) => ({ groupVersion: `g/${version}`, version })),
      ...(preferred === undefined ? {} : { preferredVersion: { groupVersion: `g/${preferred}`, version: preferred } }),
    });
    assert.deepEqual(versionsToTry({ versions: ['v1', 'v1alpha1'] }, group(['v1alpha1', 'v1'], 'v1alpha1')), ['v1alpha1', 'v1']);
    assert.deepEqual(versionsToTry({ versions: ['v1', 'v1alpha1'] }, group(['v1alpha1', 'v1'])), ['v1', 'v1alpha1']);
    assert.deepEqual(versionsToTry({ versions: ['v2beta1', 'v1'] }, group(['v1'], 'v1')), ['v1']);
    assert.deepEqual(
      versionsToTry({ versions: ['v1'] }, group(['v2'], 'v2')),
      [],
      'a version whose paths we do not know is not listed (nor sent to the webhook)',
    );
    assert.deepEqual(versionsToTry({ versions: [] }, group(['v1', 'v2'], 'v2')), ['v2', 'v1'], 'a Config kind: every served version');
    assert.deepEqual(versionsToTry({ versions: ['v1'] }, undefined), []);
  });

  it("looks for the AI workloads and the Config kinds, not for Kubernetes' own", () => {
    const kinds = customKinds([
      { group: 'example.com', kind: 'Trainer', podSpecPaths: ['spec.pod'] },
      { group: 'apps', kind: 'Deployment', podSpecPaths: ['spec.template.spec'] },
    ]);
    const names = kinds.map((kind) => `${kind.group}/${kind.kind}`);
    assert.ok(names.includes('leaderworkerset.x-k8s.io/LeaderWorkerSet'));
    assert.ok(names.includes('argoproj.io/ClusterWorkflowTemplate'));
    assert.ok(names.includes('example.com/Trainer'));
    assert.ok(!names.includes('apps/Deployment'));
    assert.equal(kinds.find((kind) => kind.kind === 'Trainer')?.origin, 'config');
  });
});

describe('modelgate audit against a fake API server', () => {
  let dir: string;
  let api: FakeApi;
  let policy: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-audit-'));
    api = await startFakeApi(dir);
    api.objects = cluster();
    policy = join(dir, 'policy.yaml');
    await writeFile(
      policy,
      `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: pinned-models}
spec: {match: {excludeNamespaces: [lab]}}
---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: lab}
spec: {mode: warn, match: {namespaces: [lab]}}
`,
    );
  });
  after(async () => api?.server.stop());

  it('prints the check table for every namespace with -A, denials on stderr, and exits 1', async () => {
    const result = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy]);
    assert.equal(result.code, 1, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^OBJECT\s+VOLUME\s+REFERENCE\s+VERDICT\s+REASONS$/);
    const rows = lines.slice(1).map((line) => line.split(/\s{3,}/));
    // Namespace, then kind (owners first), then name.
    assert.deepEqual(
      rows.map((row) => [row[0], row[1], row[3]]),
      [
        ['StatefulSet lab/db', 'model', 'ALLOW'],
        ['DaemonSet lab/agent', 'model', 'ALLOW'],
        ['ReplicationController lab/rc', 'model', 'WARN'],
        ['PodTemplate lab/tmpl', 'model', 'ALLOW'],
        ['Pod lab/orphan', 'model', 'WARN'],
        ['Deployment team-a/llm', 'model', 'ALLOW'],
        ['CronJob team-a/nightly', 'model', 'ALLOW'],
        ['ReplicaSet team-a/llm-5c9b', 'model', 'DENY'],
        ['Pod team-a/bare', 'model', 'DENY'],
      ],
    );
    assert.match(result.stdout, /Pod team-a\/bare\s+model\s+ghcr\.io\/acme\/models\/llama:v1\s+DENY\s+pinned-models\/requireDigest: .*tag "v1"/);
    assert.match(result.stderr, /modelgate denied ReplicaSet team-a\/llm-5c9b: a model reference failed policy/);
    assert.match(result.stderr, /modelgate denied Pod team-a\/bare: a model reference failed policy/);
    assert.match(result.stderr, /^policy: \/\S+\/policy\.yaml, revision [0-9a-f]{12}\n/, 'the policy used comes first');
    assert.match(
      result.stderr,
      /^audited 10 object\(s\) in all namespaces, 6 more reported at their owner \(--all-objects lists each\): 2 denied, 2 warned, 0 audited, 5 allowed, 1 without image volumes$/m,
    );
    assert.match(
      result.stderr,
      /^skipped kube-system and modelgate \(0 object\(s\)\): the webhook's namespaceSelector leaves them out; --include-system-namespaces audits them too$/m,
    );
    // Every list was paginated (page size 2) and every kind was listed cluster-wide.
    for (const resource of ['pods', 'podtemplates', 'replicationcontrollers', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs']) {
      assert.ok(
        api.requests.some((line) => new RegExp(`^GET /apis?/(?:[a-z]+/)?v1/${resource}\\?`).test(line)),
        `${resource} listed in all namespaces`,
      );
    }
    assert.ok(
      api.requests.some((line) => /^GET \/api\/v1\/pods\?.*continue=2/.test(line)),
      'followed continue tokens',
    );
  });

  it('defaults to the context namespace, takes -n and --context, and exits 0 when nothing is denied', async () => {
    const lab = await run(['audit', '--kubeconfig', api.kubeconfig, '--policy', policy]);
    assert.equal(lab.code, 0, lab.stderr);
    assert.doesNotMatch(lab.stdout, /team-a/);
    assert.match(lab.stdout, /ReplicationController lab\/rc\s+model\s+ghcr\.io\/acme\/models\/llama:v1\s+WARN\s+lab\/requireDigest:/);
    assert.match(lab.stderr, /audited 5 object\(s\) in namespace lab: 0 denied, 2 warned, 0 audited, 3 allowed/);
    assert.ok(api.requests.some((line) => line.startsWith('GET /api/v1/namespaces/lab/pods?')));
    const team = await run(['audit', '--kubeconfig', api.kubeconfig, '--context', 'other', '--policy', policy, '-o', 'json']);
    assert.equal(team.code, 1);
    assert.equal((JSON.parse(team.stdout) as AuditReport).scope, 'namespace team-a');
    const named = await run(['audit', '--kubeconfig', api.kubeconfig, '-n', 'nothing-here', '--policy', policy]);
    assert.equal(named.code, 0);
    assert.equal(named.stdout, 'no image-volume model references in 0 object(s)\n');
  });

  it('prints JSON with owners, folded objects and the summary', async () => {
    const result = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy, '-o', 'json']);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, '', 'JSON mode writes only JSON');
    const report = JSON.parse(result.stdout) as AuditReport;
    assert.equal(report.allowed, false);
    assert.equal(report.listed, 16);
    assert.equal(report.objects, 10);
    assert.deepEqual(report.summary, { allow: 5, warn: 2, audit: 0, deny: 2, none: 1 });
    assert.equal(report.scope, 'all namespaces');
    assert.deepEqual(report.policySources, [policy]);
    const deployment = report.rows.find((row) => row.object === 'Deployment team-a/llm');
    assert.deepEqual(deployment?.covers, ['ReplicaSet team-a/llm-7d4f', 'Pod team-a/llm-7d4f-a', 'Pod team-a/llm-7d4f-b']);
    assert.equal(deployment?.path, 'spec.template.spec.volumes[1].image.reference');
    const old = report.rows.find((row) => row.object === 'ReplicaSet team-a/llm-5c9b');
    assert.equal(old?.owner, 'Deployment llm');
    assert.equal(old?.verdict, 'deny');
    assert.equal(report.denials.length, 2);
  });

  it('--all-objects lists every object', async () => {
    const result = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy, '--all-objects', '-o', 'json']);
    const report = JSON.parse(result.stdout) as AuditReport;
    assert.equal(report.objects, 16);
    assert.equal(report.rows.length, 15);
    assert.equal(report.rows.find((row) => row.object === 'Pod team-a/llm-7d4f-a')?.owner, 'ReplicaSet llm-7d4f');
    assert.equal(report.denials.length, 3, 'the old ReplicaSet, its Pod and the bare Pod');
  });

  it('reads the policy from labelled ConfigMaps in --policy-namespace', async () => {
    api.configMaps = [
      {
        metadata: { name: 'modelgate-policies', namespace: 'modelgate', labels: { 'modelgate.dev/policy': 'true' } },
        data: {
          'policy.yaml': modelPolicy('strict', '{match: {namespaces: ["*"]}}'),
          'README.md': 'not a policy',
        },
      },
      { metadata: { name: 'unrelated', namespace: 'modelgate', labels: {} }, data: { 'x.yaml': 'kind: Nope' } },
      {
        metadata: { name: 'elsewhere', namespace: 'ops', labels: { 'modelgate.dev/policy': 'true' } },
        data: { 'relaxed.yaml': modelPolicy('relaxed', '{mode: audit}') },
      },
    ];
    const result = await run(['audit', '-n', 'lab', '--kubeconfig', api.kubeconfig, '-o', 'json']);
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as AuditReport;
    assert.deepEqual(report.policySources, ['ConfigMap modelgate/modelgate-policies']);
    assert.ok(
      report.rows.some((row) => row.object === 'ReplicationController lab/rc' && row.verdict === 'deny' && row.reasons[0]?.startsWith('strict/requireDigest')),
    );
    assert.ok(
      api.requests.some(
        (line) => line.startsWith('GET /api/v1/namespaces/modelgate/configmaps?') && line.includes('labelSelector=modelgate.dev%2Fpolicy%3Dtrue'),
      ),
    );
    const ops = await run(['audit', '-n', 'lab', '--kubeconfig', api.kubeconfig, '--policy-namespace', 'ops', '-o', 'json']);
    assert.equal(ops.code, 0);
    assert.deepEqual((JSON.parse(ops.stdout) as AuditReport).summary, { allow: 3, warn: 0, audit: 2, deny: 0, none: 0 });
  });

  it("with namespacedPolicies, adds each namespace's policy ConfigMaps, confined to that namespace", async () => {
    const labelled = { 'modelgate.dev/policy': 'true' };
    api.configMaps = [
      {
        metadata: { name: 'modelgate-policies', namespace: 'modelgate', labels: labelled },
        data: {
          'config.yaml': configDocument('{defaultAction: allow, namespacedPolicies: true}'),
          'policy.yaml': modelPolicy('relaxed', '{mode: warn}'),
        },
      },
      // lab's own, stricter policy: it may add requirements in lab, and nowhere else.
      {
        metadata: { name: 'lab-policy', namespace: 'lab', labels: labelled },
        data: { 'strict.yaml': modelPolicy('strict', '{match: {namespaces: ["*"]}}') },
      },
    ];
    const result = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '-o', 'json']);
    const report = JSON.parse(result.stdout) as AuditReport;
    assert.deepEqual(report.policySources, ['ConfigMap modelgate/modelgate-policies', 'ConfigMap lab/lab-policy (namespaced)']);
    const verdicts = Object.fromEntries(report.rows.map((row) => [row.object, row.verdict]));
    assert.equal(verdicts['ReplicationController lab/rc'], 'deny', 'lab/strict applies in lab');
    assert.equal(verdicts['Pod team-a/bare'], 'warn', 'but not in team-a');
    assert.equal(result.code, 1);
  });

  it('exits 2 with a clear message when there is no policy ConfigMap or it is invalid', async () => {
    const none = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy-namespace', 'empty']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no policy ConfigMaps labelled modelgate\.dev\/policy=true \(found: none\); pass --policy-namespace NAMESPACE or --policy FILE/);
    api.configMaps = [
      {
        metadata: { name: 'broken', namespace: 'modelgate', labels: { 'modelgate.dev/policy': 'true' } },
        data: { 'p.yaml': modelPolicy('b', '{mode: block}') },
      },
    ];
    const broken = await run(['audit', '-A', '--kubeconfig', api.kubeconfig]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /configmap modelgate\/broken key p\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "block"/);
  });

  it('exits 2 when listing is forbidden, naming the resource and the API server message', async () => {
    api.forbidden = new Set(['replicasets']);
    try {
      const result = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy]);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /^modelgate: cannot list replicasets in all namespaces: forbidden \(the API server said: replicasets\.apps is forbidden: User "jane" cannot list resource "replicasets" in API group "apps" at the cluster scope\); the user needs RBAC list permission on it$/m,
      );
      assert.equal(result.stdout, '');
    } finally {
      api.forbidden = new Set();
    }
  });

  it('exits 2 when the cluster cannot be reached, or the context or flags are wrong', async () => {
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
    const down = await run(['audit', '-A', '--kubeconfig', unreachable, '--policy', policy]);
    assert.equal(down.code, 2);
    assert.match(
      down.stderr,
      new RegExp(`^modelgate: cannot reach the cluster at http://127\\.0\\.0\\.1:${port} to list \\w+ in all namespaces: ECONNREFUSED`, 'm'),
    );
    const context = await run(['audit', '--kubeconfig', api.kubeconfig, '--context', 'prod', '--policy', policy]);
    assert.equal(context.code, 2);
    assert.match(context.stderr, /context "prod" is not in the kubeconfig \(contexts: fake, other\)/);
    const both = await run(['audit', '-A', '-n', 'lab', '--kubeconfig', api.kubeconfig]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /use either -n NAMESPACE or -A, not both/);
    const missing = await run(['audit', '--kubeconfig', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot load the kubeconfig .*nope\.yaml/);
    const format = await run(['audit', '-o', 'wide', '--kubeconfig', api.kubeconfig]);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /-o must be table or json, got "wide"/);
  });

  it('says so when no cluster is configured at all', async () => {
    const saved = { KUBECONFIG: process.env['KUBECONFIG'], HOME: process.env['HOME'], KUBERNETES_SERVICE_HOST: process.env['KUBERNETES_SERVICE_HOST'] };
    process.env['KUBECONFIG'] = '';
    process.env['HOME'] = dir;
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      const result = await run(['audit', '-A', '--policy', policy]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /no cluster is configured: set KUBECONFIG or --kubeconfig, create ~\/\.kube\/config, or run inside a cluster/);
    } finally {
      for (const [key, saved_] of Object.entries(saved)) {
        if (saved_ === undefined) delete process.env[key];
        else process.env[key] = saved_;
      }
    }
  });

  it("leaves out kube-system and the webhook's namespace as its namespaceSelector does; --include-system-namespaces keeps them", async () => {
    const saved = api.objects;
    api.objects = [
      ...cluster(),
      object('Pod', 'coredns', 'kube-system', UNPINNED),
      object('Pod', 'modelgate-abc', 'modelgate', UNPINNED),
      object('Pod', 'gate', 'gate-ns', UNPINNED),
    ];
    try {
      const all = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy, '-o', 'json']);
      const report = JSON.parse(all.stdout) as AuditReport;
      assert.deepEqual(report.skippedNamespaces, ['kube-system', 'modelgate']);
      assert.equal(report.skippedObjects, 2);
      assert.ok(!report.rows.some((row) => /kube-system|modelgate\//.test(row.object)));
      assert.ok(report.rows.some((row) => row.object === 'Pod gate-ns/gate'));
      // The webhook's namespace is --policy-namespace.
      const moved = JSON.parse(
        (await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy, '--policy-namespace', 'gate-ns', '-o', 'json'])).stdout,
      ) as AuditReport;
      assert.deepEqual(moved.skippedNamespaces, ['kube-system', 'gate-ns']);
      assert.ok(moved.rows.some((row) => row.object === 'Pod modelgate/modelgate-abc'));
      const included = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy, '--include-system-namespaces']);
      assert.match(included.stdout, /Pod kube-system\/coredns/);
      assert.doesNotMatch(included.stderr, /^skipped/m);
      const system = await run(['audit', '-n', 'kube-system', '--kubeconfig', api.kubeconfig, '--policy', policy]);
      assert.equal(system.code, 0);
      assert.equal(system.stdout, 'no image-volume model references in 0 object(s)\n');
      assert.match(
        system.stderr,
        /^skipped kube-system \(1 object\(s\)\): the webhook's namespaceSelector leaves it out; --include-system-namespaces audits it too$/m,
      );
    } finally {
      api.objects = saved;
    }
  });

  it('lists the custom kinds the cluster serves, found through discovery, and skips the others', async () => {
    const saved = api.objects;
    const lws = {
      apiVersion: 'leaderworkerset.x-k8s.io/v1',
      kind: 'LeaderWorkerSet',
      metadata: { name: 'vllm', namespace: 'team-a', uid: 'lws-1' },
      spec: {
        leaderWorkerTemplate: {
          leaderTemplate: { spec: kubeObject('Pod', [{ name: 'model', reference: UNPINNED }])['spec'] },
          workerTemplate: { spec: kubeObject('Pod', [{ name: 'model', reference: PINNED }])['spec'] },
        },
      },
    };
    // Made by the operator from the leader template: its references are among the LeaderWorkerSet's.
    const leaders = object('StatefulSet', 'vllm', 'team-a', UNPINNED, lws);
    const ray = {
      apiVersion: 'ray.io/v1',
      kind: 'RayCluster',
      metadata: { name: 'ray', namespace: 'lab' },
      spec: { headGroupSpec: { template: { spec: kubeObject('Pod', [{ name: 'model', reference: UNPINNED }])['spec'] } }, workerGroupSpecs: [] },
    };
    const runtime = {
      apiVersion: 'serving.kserve.io/v1alpha1',
      kind: 'ClusterServingRuntime',
      metadata: { name: 'vllm-runtime' },
      spec: kubeObject('Pod', [{ name: 'model', reference: UNPINNED }])['spec'],
    };
    const trainer = {
      apiVersion: 'example.com/v2',
      kind: 'Trainer',
      metadata: { name: 't', namespace: 'lab' },
      spec: { pod: kubeObject('Pod', [{ name: 'model', reference: UNPINNED }])['spec'] },
    };
    api.objects = [lws, leaders, ray, runtime, trainer];
    api.custom = [
      { group: 'leaderworkerset.x-k8s.io', version: 'v1', kind: 'LeaderWorkerSet', plural: 'leaderworkersets', namespaced: true },
      // Served at both versions, v1 preferred: listed at v1.
      { group: 'ray.io', version: 'v1alpha1', kind: 'RayCluster', plural: 'rayclusters', namespaced: true },
      { group: 'ray.io', version: 'v1', kind: 'RayCluster', plural: 'rayclusters', namespaced: true },
      { group: 'serving.kserve.io', version: 'v1alpha1', kind: 'ClusterServingRuntime', plural: 'clusterservingruntimes', namespaced: false },
      // A Config kind with a plural no rule would guess: discovery names it.
      { group: 'example.com', version: 'v2', kind: 'Trainer', plural: 'trainerz', namespaced: true },
    ];
    api.groupVersions.set('ray.io', ['v1', 'v1alpha1']);
    const config = join(dir, 'workloads-config.yaml');
    await writeFile(config, configDocument('{workloads: [{group: example.com, kind: Trainer, podSpecPaths: [spec.pod]}]}'));
    try {
      const result = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy, '--config', config, '-o', 'json']);
      assert.equal(result.code, 1, result.stderr);
      const report = JSON.parse(result.stdout) as AuditReport;
      assert.deepEqual(
        report.rows.map((row) => [row.object, row.path, row.verdict]),
        [
          ['ClusterServingRuntime vllm-runtime', 'spec.volumes[1].image.reference', 'deny'],
          ['RayCluster lab/ray', 'spec.headGroupSpec.template.spec.volumes[1].image.reference', 'warn'],
          ['Trainer lab/t', 'spec.pod.volumes[1].image.reference', 'warn'],
          ['LeaderWorkerSet team-a/vllm', 'spec.leaderWorkerTemplate.leaderTemplate.spec.volumes[1].image.reference', 'deny'],
          ['LeaderWorkerSet team-a/vllm', 'spec.leaderWorkerTemplate.workerTemplate.spec.volumes[1].image.reference', 'allow'],
        ],
      );
      assert.deepEqual(report.rows.find((row) => row.object === 'LeaderWorkerSet team-a/vllm')?.covers, ['StatefulSet team-a/vllm']);
      assert.ok(report.absentKinds?.includes('jobset.x-k8s.io/JobSet'));
      assert.ok(report.absentKinds?.includes('ray.io/RayJob'), 'ray.io is served, rayjobs are not');
      assert.ok(!report.absentKinds?.includes('ray.io/RayCluster'));
      assert.ok(api.requests.some((line) => line.startsWith('GET /apis/ray.io/v1/rayclusters?')));
      assert.ok(!api.requests.some((line) => line.startsWith('GET /apis/ray.io/v1alpha1/rayclusters')));
      assert.ok(api.requests.some((line) => line.startsWith('GET /apis/example.com/v2/trainerz?')));
      // Absent kinds are no news in the table output; cluster-scoped kinds need -A.
      const lab = await run(['audit', '-n', 'lab', '--kubeconfig', api.kubeconfig, '--policy', policy, '--config', config]);
      assert.doesNotMatch(lab.stderr, /JobSet/);
      assert.match(lab.stdout, /RayCluster lab\/ray/);
      assert.doesNotMatch(lab.stdout, /ClusterServingRuntime/);
      api.forbidden = new Set(['rayclusters']);
      const forbidden = await run(['audit', '-A', '--kubeconfig', api.kubeconfig, '--policy', policy]);
      assert.equal(forbidden.code, 2);
      assert.match(
        forbidden.stderr,
        /^modelgate: cannot list rayclusters\.ray\.io in all namespaces: forbidden .*; the user needs RBAC list permission on it$/m,
      );
    } finally {
      api.objects = saved;
      api.custom = [];
      api.groupVersions.clear();
      api.forbidden = new Set();
    }
  });

  it('describes API errors by status', () => {
    assert.match(
      describeApiError({ code: 401, body: '{"message":"Unauthorized"}' }, 'list pods', 'https://k:6443').message,
      /unauthorized, the API server at https:\/\/k:6443 rejected the credentials/,
    );
    assert.match(
      describeApiError({ code: 500, body: 'boom' }, 'list pods', 'https://k:6443').message,
      /HTTP 500 from the API server at https:\/\/k:6443 \(the API server said: boom\)/,
    );
    const tls = Object.assign(new TypeError('fetch failed'), {
      cause: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
    });
    assert.match(
      describeApiError(tls, 'list pods', 'https://k:6443').message,
      /cannot reach the cluster at https:\/\/k:6443 to list pods: TLS verification failed \(DEPTH_ZERO_SELF_SIGNED_CERT/,
    );
  });
});
