// `modelgate audit` and `kubectl modelgate audit` against a real kube-apiserver
// (v1.36, etcd, no nodes), with the real executables (issue 6).
//
//   npm run test:e2e            (needs `bash test/e2e/tools/install.sh` first)
//
// - The cluster holds Pods and every workload kind with a pod template, with
//   pinned, unpinned and no image volumes, and owner chains made by hand (no
//   controllers run): Deployment → ReplicaSets → Pods, CronJob → Job → Pod.
//   Pods stay Pending; nothing is pulled.
// - modelgate runs as bin/modelgate.js after `npm run build` (the executable a
//   user installs runs dist/), and as a kubectl plugin: a symlink named
//   kubectl-modelgate in a temporary directory on PATH, found and run by the
//   test bed's kubectl.
// - Policy comes from files, then from ConfigMaps labelled
//   modelgate.dev/policy=true in the cluster.
// - Errors: a user without RBAC (forbidden), then the same user with a
//   least-privilege ClusterRole; an API server that is not there; a CA that
//   does not match.
// - Issue 10: `explain` without --policy reads the same ConfigMaps; kube-system
//   and the webhook's namespace are left out as the webhook leaves them out;
//   AI workloads are listed through discovery once their CRDs
//   (fixtures/ai-workload-crds.yaml) are installed, and skipped before.
// Everything talks to 127.0.0.1 only.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';
import { REPO_ROOT, writePolicyDirectory } from './lib/modelgate.ts';
import { createCA, issueCert } from '../support/pki.ts';
import type { CertificateAuthority, KeyPairFiles } from '../support/pki.ts';
import { freePort } from './lib/ports.ts';
import { guardedClientEnv, loopbackEnv, runCommand, stopAll } from './lib/processes.ts';
import type { RunResult } from './lib/processes.ts';
import { loadTools } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';
import { loadPolicySet } from '../../src/policy/load.ts';

// ---- references and objects -------------------------------------------------------

const hex = (seed: string): string => createHash('sha256').update(seed).digest('hex');
const APP_IMAGE = `registry.invalid/modelgate-e2e/server@sha256:${hex('server')}`;
const PINNED = `ghcr.io/acme/models/llama@sha256:${hex('llama')}`;
const UNPINNED = 'ghcr.io/acme/models/llama:v1';

type Json = Record<string, unknown>;

function podSpec(reference: string | undefined, restartPolicy?: string): Json {
  return {
    containers: [
      { name: 'server', image: APP_IMAGE, ...(reference === undefined ? {} : { volumeMounts: [{ name: 'model', mountPath: '/models', readOnly: true }] }) },
    ],
    ...(reference === undefined ? {} : { volumes: [{ name: 'model', image: { reference, pullPolicy: 'IfNotPresent' } }] }),
    ...(restartPolicy === undefined ? {} : { restartPolicy }),
  };
}

const template = (app: string, reference: string | undefined, restartPolicy?: string): Json => ({
  metadata: { labels: { app } },
  spec: podSpec(reference, restartPolicy),
});

interface Kind {
  readonly apiVersion: string;
  readonly path: string;
  readonly spec: (name: string, reference: string | undefined) => Json;
}

const KINDS: Readonly<Record<string, Kind>> = {
  Pod: { apiVersion: 'v1', path: '/api/v1/namespaces/NS/pods', spec: (_n, r) => ({ spec: podSpec(r) }) },
  PodTemplate: { apiVersion: 'v1', path: '/api/v1/namespaces/NS/podtemplates', spec: (n, r) => ({ template: template(n, r) }) },
  ReplicationController: {
    apiVersion: 'v1',
    path: '/api/v1/namespaces/NS/replicationcontrollers',
    spec: (n, r) => ({ spec: { replicas: 0, selector: { app: n }, template: template(n, r) } }),
  },
  Deployment: {
    apiVersion: 'apps/v1',
    path: '/apis/apps/v1/namespaces/NS/deployments',
    spec: (n, r) => ({ spec: { replicas: 0, selector: { matchLabels: { app: n } }, template: template(n, r) } }),
  },
  ReplicaSet: {
    apiVersion: 'apps/v1',
    path: '/apis/apps/v1/namespaces/NS/replicasets',
    spec: (n, r) => ({ spec: { replicas: 0, selector: { matchLabels: { app: n } }, template: template(n, r) } }),
  },
  StatefulSet: {
    apiVersion: 'apps/v1',
    path: '/apis/apps/v1/namespaces/NS/statefulsets',
    spec: (n, r) => ({ spec: { replicas: 0, serviceName: n, selector: { matchLabels: { app: n } }, template: template(n, r) } }),
  },
  DaemonSet: {
    apiVersion: 'apps/v1',
    path: '/apis/apps/v1/namespaces/NS/daemonsets',
    spec: (n, r) => ({ spec: { selector: { matchLabels: { app: n } }, template: template(n, r) } }),
  },
  Job: { apiVersion: 'batch/v1', path: '/apis/batch/v1/namespaces/NS/jobs', spec: (n, r) => ({ spec: { suspend: true, template: template(n, r, 'Never') } }) },
  CronJob: {
    apiVersion: 'batch/v1',
    path: '/apis/batch/v1/namespaces/NS/cronjobs',
    spec: (n, r) => ({ spec: { schedule: '0 3 * * *', suspend: true, jobTemplate: { spec: { template: template(n, r, 'Never') } } } }),
  },
};

interface Created {
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
}

// ---- running modelgate ---------------------------------------------------------------

const NODE_DIR = dirname(process.execPath);
const BIN = join(REPO_ROOT, 'bin', 'modelgate.js');

/** The client environment of the test bed (loopback direct, anything else to a dead proxy), without MODELGATE_* settings. */
function clientEnv(kubeconfig: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = guardedClientEnv({ KUBECONFIG: kubeconfig, PATH: `${NODE_DIR}:${process.env['PATH'] ?? ''}`, ...extra });
  for (const key of Object.keys(env)) if (key.startsWith('MODELGATE_')) delete env[key];
  return env;
}

function kubeconfigFor(server: string, caPem: string, user: KeyPairFiles): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const file = join(scratchDir('audit-kubeconfig'), 'kubeconfig');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: 'user', user: { 'client-certificate-data': b64(user.certPem), 'client-key-data': b64(user.keyPem) } }],
      contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'user', namespace: 'team-a' } }],
      'current-context': 'e2e',
    }),
    { mode: 0o600 },
  );
  return file;
}

interface Row {
  readonly object: string;
  readonly volume: string;
  readonly reference: string;
  readonly verdict: string;
  readonly reasons: string;
}

function tableRows(stdout: string): Row[] {
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^OBJECT\s+VOLUME\s+REFERENCE\s+VERDICT\s+REASONS$/, stdout);
  return lines.slice(1).map((line) => {
    const [object = '', volume = '', reference = '', verdict = '', reasons = ''] = line.split(/ {3,}/);
    return { object, volume, reference, verdict, reasons };
  });
}

interface AuditJson {
  allowed: boolean;
  policyRevision: string;
  policySources: string[];
  policy: { source: string; namespace?: string; sources: string[]; revision: string; description: string };
  scope: string;
  skippedNamespaces: string[];
  skippedObjects: number;
  absentKinds: string[];
  listed: number;
  objects: number;
  summary: Record<string, number>;
  rows: { object: string; volume: string; path: string; reference: string; verdict: string; reasons: string[]; owner?: string; covers?: string[] }[];
  denials: string[];
}

// ---- the test ---------------------------------------------------------------------------

describe('modelgate audit against a real kube-apiserver', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let policyDir: string;
  let pluginDir: string;
  const created = new Map<string, Created>();

  async function create(namespace: string, kind: string, name: string, reference: string | undefined, owner?: string): Promise<Created> {
    const entry = KINDS[kind];
    assert.ok(entry !== undefined, kind);
    const ownerRef = owner === undefined ? undefined : created.get(owner);
    const ownerKind = ownerRef === undefined ? undefined : KINDS[ownerRef.kind];
    const body = {
      apiVersion: entry.apiVersion,
      kind,
      metadata: {
        name,
        namespace,
        labels: { app: name },
        ...(ownerRef === undefined || ownerKind === undefined
          ? {}
          : { ownerReferences: [{ apiVersion: ownerKind.apiVersion, kind: ownerRef.kind, name: ownerRef.name, uid: ownerRef.uid, controller: true }] }),
      },
      ...entry.spec(name, reference),
    };
    const response = await cluster.request('POST', entry.path.replace('NS', namespace), body);
    assert.equal(response.status, 201, `creating ${kind} ${namespace}/${name}: ${response.body}`);
    const made = { kind, name, uid: String(((JSON.parse(response.body) as Json)['metadata'] as Json)['uid']) };
    created.set(`${kind} ${namespace}/${name}`, made);
    return made;
  }

  /** `node bin/modelgate.js …` as a user would run the installed executable. */
  const modelgate = (args: readonly string[], kubeconfig = cluster.kubeconfig): Promise<RunResult> =>
    runCommand(process.execPath, [BIN, ...args], { env: clientEnv(kubeconfig), cwd: REPO_ROOT, allowFailure: true, timeoutMs: 60_000 });

  /** `kubectl modelgate …`: kubectl finds kubectl-modelgate on PATH and passes it the remaining arguments. */
  const kubectlPlugin = (args: readonly string[], kubeconfig = cluster.kubeconfig): Promise<RunResult> =>
    runCommand(loadTools().paths.KUBECTL, ['modelgate', ...args], {
      env: clientEnv(kubeconfig, { PATH: `${pluginDir}:${NODE_DIR}:${process.env['PATH'] ?? ''}` }),
      allowFailure: true,
      timeoutMs: 60_000,
    });

  before(async () => {
    // The installed executable runs dist/ when it exists: build it from this tree so that the test never runs a stale build.
    const [started] = await Promise.all([
      startCluster(),
      // What `npm run build` runs (tsc -p tsconfig.build.json), with this Node.
      runCommand(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
        cwd: REPO_ROOT,
        env: loopbackEnv(),
        timeoutMs: 300_000,
      }),
    ]);
    cluster = started;
    pluginDir = scratchDir('kubectl-plugins');
    symlinkSync(BIN, join(pluginDir, 'kubectl-modelgate'));
    policyDir = writePolicyDirectory({
      'policies.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'pinned-models' },
          spec: { mode: 'enforce', match: { excludeNamespaces: ['lab'] } },
        },
        { apiVersion: 'modelgate.dev/v1alpha1', kind: 'ModelPolicy', metadata: { name: 'lab' }, spec: { mode: 'warn', match: { namespaces: ['lab'] } } },
      ],
    });

    for (const namespace of ['team-a', 'lab', 'modelgate', 'ops']) await cluster.createNamespace(namespace);
    // team-a: a Deployment with its current and an old ReplicaSet, their Pods; a CronJob chain; bare Pods.
    await create('team-a', 'Deployment', 'llm', PINNED);
    await create('team-a', 'ReplicaSet', 'llm-7d4f', PINNED, 'Deployment team-a/llm');
    await create('team-a', 'ReplicaSet', 'llm-5c9b', UNPINNED, 'Deployment team-a/llm');
    await create('team-a', 'Pod', 'llm-7d4f-a', PINNED, 'ReplicaSet team-a/llm-7d4f');
    await create('team-a', 'Pod', 'llm-7d4f-b', PINNED, 'ReplicaSet team-a/llm-7d4f');
    await create('team-a', 'Pod', 'llm-5c9b-a', UNPINNED, 'ReplicaSet team-a/llm-5c9b');
    await create('team-a', 'CronJob', 'nightly', PINNED);
    await create('team-a', 'Job', 'nightly-29000', PINNED, 'CronJob team-a/nightly');
    await create('team-a', 'Pod', 'nightly-29000-x', PINNED, 'Job team-a/nightly-29000');
    await create('team-a', 'Pod', 'bare', UNPINNED);
    await create('team-a', 'Pod', 'no-model', undefined);
    // lab: warn mode; every other kind.
    await create('lab', 'StatefulSet', 'db', PINNED);
    await create('lab', 'DaemonSet', 'agent', PINNED);
    await create('lab', 'ReplicationController', 'rc', UNPINNED);
    await create('lab', 'PodTemplate', 'tmpl', PINNED);
    await create('lab', 'Job', 'train', UNPINNED);
  });

  after(async () => {
    await cluster?.stop();
    await stopAll();
  });

  const EXPECTED_ALL: readonly [string, string][] = [
    ['StatefulSet lab/db', 'ALLOW'],
    ['DaemonSet lab/agent', 'ALLOW'],
    ['Job lab/train', 'WARN'],
    ['ReplicationController lab/rc', 'WARN'],
    ['PodTemplate lab/tmpl', 'ALLOW'],
    ['Deployment team-a/llm', 'ALLOW'],
    ['CronJob team-a/nightly', 'ALLOW'],
    ['ReplicaSet team-a/llm-5c9b', 'DENY'],
    ['Pod team-a/bare', 'DENY'],
  ];

  it('the pods are stored with their image volumes and owners', async () => {
    const response = await cluster.request('GET', '/api/v1/namespaces/team-a/pods/llm-7d4f-a');
    const pod = JSON.parse(response.body) as {
      metadata: { ownerReferences: { kind: string; name: string; controller: boolean }[] };
      spec: { volumes: { name: string; image?: { reference: string } }[] };
      status: { phase: string };
    };
    assert.equal(pod.status.phase, 'Pending');
    assert.deepEqual(
      pod.metadata.ownerReferences.map((o) => [o.kind, o.name, o.controller]),
      [['ReplicaSet', 'llm-7d4f', true]],
    );
    assert.equal(pod.spec.volumes.find((v) => v.name === 'model')?.image?.reference, PINNED);
  });

  it('modelgate audit -A: one row per reference at the top-level owner, denials on stderr, exit 1', async () => {
    const run = await modelgate(['audit', '-A', '--policy', policyDir]);
    assert.equal(run.code, 1, run.stderr);
    const rows = tableRows(run.stdout);
    assert.deepEqual(
      rows.map((row) => [row.object, row.verdict]),
      EXPECTED_ALL,
    );
    for (const row of rows) assert.equal(row.volume, 'model');
    const bare = rows.find((row) => row.object === 'Pod team-a/bare');
    assert.equal(bare?.reference, UNPINNED);
    assert.match(bare?.reasons ?? '', /^pinned-models\/requireDigest: .*tag "v1"/);
    assert.match(rows.find((row) => row.object === 'Job lab/train')?.reasons ?? '', /^lab\/requireDigest: /);
    assert.equal(rows.find((row) => row.object === 'Deployment team-a/llm')?.reference, PINNED);
    assert.match(
      run.stderr,
      /modelgate denied ReplicaSet team-a\/llm-5c9b: a model reference failed policy\n- volume "model" at spec\.template\.spec\.volumes\[0\]\.image\.reference/,
    );
    assert.match(run.stderr, /modelgate denied Pod team-a\/bare: a model reference failed policy/);
    assert.match(run.stderr, /^policy: \S+, revision [0-9a-f]{12}$/m);
    assert.match(
      run.stderr,
      /^audited 10 object\(s\) in all namespaces, 6 more reported at their owner \(--all-objects lists each\): 2 denied, 2 warned, 0 audited, 5 allowed, 1 without image volumes$/m,
    );
  });

  it('kubectl modelgate audit -A: kubectl runs the plugin from PATH with the same result', async () => {
    const list = await runCommand(loadTools().paths.KUBECTL, ['plugin', 'list'], {
      env: clientEnv(cluster.kubeconfig, { PATH: `${pluginDir}:${NODE_DIR}:${process.env['PATH'] ?? ''}` }),
      allowFailure: true,
    });
    assert.match(list.stdout, new RegExp(`${pluginDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/kubectl-modelgate`), list.stderr);
    const direct = await modelgate(['audit', '-A', '--policy', policyDir]);
    const plugin = await kubectlPlugin(['audit', '-A', '--policy', policyDir]);
    assert.equal(plugin.code, 1, plugin.stderr);
    assert.equal(plugin.stdout, direct.stdout);
    assert.deepEqual(
      tableRows(plugin.stdout).map((row) => [row.object, row.verdict]),
      EXPECTED_ALL,
    );
    const help = await kubectlPlugin(['help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /kubectl modelgate audit -A/);
  });

  it('-o json names owners and folded objects; --all-objects lists each; -n and the context namespace narrow it', async () => {
    const json = await modelgate(['audit', '-A', '--policy', policyDir, '-o', 'json']);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as AuditJson;
    assert.equal(report.listed, 16);
    assert.equal(report.objects, 10);
    assert.deepEqual(report.summary, { allow: 5, warn: 2, audit: 0, deny: 2, none: 1 });
    assert.deepEqual(report.rows.find((row) => row.object === 'Deployment team-a/llm')?.covers, [
      'ReplicaSet team-a/llm-7d4f',
      'Pod team-a/llm-7d4f-a',
      'Pod team-a/llm-7d4f-b',
    ]);
    assert.deepEqual(report.rows.find((row) => row.object === 'CronJob team-a/nightly')?.covers, ['Job team-a/nightly-29000', 'Pod team-a/nightly-29000-x']);
    const old = report.rows.find((row) => row.object === 'ReplicaSet team-a/llm-5c9b');
    assert.equal(old?.owner, 'Deployment llm');
    assert.deepEqual(old?.covers, ['Pod team-a/llm-5c9b-a']);
    assert.equal(report.rows.find((row) => row.object === 'CronJob team-a/nightly')?.path, 'spec.jobTemplate.spec.template.spec.volumes[0].image.reference');

    const every = JSON.parse((await modelgate(['audit', '-A', '--policy', policyDir, '--all-objects', '-o', 'json'])).stdout) as AuditJson;
    assert.equal(every.objects, 16);
    assert.equal(every.rows.length, 15);
    assert.equal(every.rows.find((row) => row.object === 'Pod team-a/nightly-29000-x')?.owner, 'Job nightly-29000');
    assert.deepEqual(
      every.rows.filter((row) => row.verdict === 'deny').map((row) => row.object),
      ['ReplicaSet team-a/llm-5c9b', 'Pod team-a/bare', 'Pod team-a/llm-5c9b-a'],
    );

    const lab = await modelgate(['audit', '-n', 'lab', '--policy', policyDir]);
    assert.equal(lab.code, 0, 'warnings only');
    assert.deepEqual(
      tableRows(lab.stdout).map((row) => row.object),
      ['StatefulSet lab/db', 'DaemonSet lab/agent', 'Job lab/train', 'ReplicationController lab/rc', 'PodTemplate lab/tmpl'],
    );
    // The kubeconfig's context has no namespace: kubectl's default, `default`, which is empty.
    const empty = await modelgate(['audit', '--policy', policyDir]);
    assert.equal(empty.code, 0);
    assert.equal(empty.stdout, 'no image-volume model references in 0 object(s)\n');
    assert.match(empty.stderr, /audited 0 object\(s\) in namespace default/);
  });

  it('without --policy, reads the policy ConfigMaps of the cluster (the same revision as the files)', async () => {
    const bundled = readFileSync(join(REPO_ROOT, 'manifests', 'policy.yaml'), 'utf8');
    const configMap = (name: string, data: Record<string, string>, labelled = true): Json => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'modelgate', labels: labelled ? { 'modelgate.dev/policy': 'true' } : {} },
      data,
    });
    for (const body of [configMap('modelgate-policies', { 'policy.yaml': bundled }), configMap('unrelated', { 'x.yaml': 'not: a policy' }, false)]) {
      const response = await cluster.request('POST', '/api/v1/namespaces/modelgate/configmaps', body);
      assert.equal(response.status, 201, response.body);
    }
    const run = await kubectlPlugin(['audit', '-A', '-o', 'json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as AuditJson;
    assert.deepEqual(report.policySources, ['ConfigMap modelgate/modelgate-policies']);
    assert.equal(
      report.policyRevision,
      (await loadPolicySet([join(REPO_ROOT, 'manifests', 'policy.yaml')])).revision,
      'what the webhook loads from the same policy',
    );
    // The bundled policy enforces digests everywhere, lab included.
    assert.deepEqual(
      report.rows.filter((row) => row.verdict === 'deny').map((row) => row.object),
      ['Job lab/train', 'ReplicationController lab/rc', 'ReplicaSet team-a/llm-5c9b', 'Pod team-a/bare'],
    );
    assert.ok(report.rows.every((row) => row.verdict === 'deny' || row.verdict === 'allow'));

    const elsewhere = await modelgate(['audit', '-A', '--policy-namespace', 'ops']);
    assert.equal(elsewhere.code, 2);
    assert.match(
      elsewhere.stderr,
      /^modelgate: invalid policy:\n {2}namespace ops: no policy ConfigMaps labelled modelgate\.dev\/policy=true \(found: none\); pass --policy-namespace NAMESPACE or --policy FILE$/m,
    );

    const broken = await cluster.request('POST', '/api/v1/namespaces/ops/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'broken', labels: { 'modelgate.dev/policy': 'true' } },
      data: { 'p.yaml': 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: b}\nspec: {mode: block}\n' },
    });
    assert.equal(broken.status, 201, broken.body);
    const invalid = await modelgate(['audit', '-A', '--policy-namespace', 'ops']);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /configmap ops\/broken key p\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "block"/);
  });

  it('exits 2 naming the resource when RBAC forbids listing; works with a least-privilege ClusterRole', async () => {
    const dir = scratchDir('audit-user');
    const auditor = await issueCert(cluster.ca, dir, { name: 'auditor', commonName: 'modelgate-auditor', usage: 'client' });
    const kubeconfig = kubeconfigFor(cluster.server, cluster.ca.certPem, auditor);
    const forbidden = await modelgate(['audit', '-A', '--policy', policyDir], kubeconfig);
    assert.equal(forbidden.code, 2);
    // The nine lists run in parallel: whichever is refused first is named (`pods`, or `jobs.batch` for a named group).
    assert.match(
      forbidden.stderr,
      /^modelgate: cannot list \w+ in all namespaces: forbidden \(the API server said: \w+(?:\.apps|\.batch)? is forbidden: User "modelgate-auditor" cannot list resource "\w+" in API group "(?:apps|batch|)" at the cluster scope\); the user needs RBAC list permission on it$/m,
    );
    assert.equal(forbidden.stdout, '');

    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'modelgate-audit' },
      rules: [
        { apiGroups: [''], resources: ['pods', 'podtemplates', 'replicationcontrollers', 'configmaps'], verbs: ['list'] },
        { apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'], verbs: ['list'] },
        { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['list'] },
      ],
    };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'modelgate-audit' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'modelgate-audit' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'modelgate-auditor' }],
    };
    assert.equal((await cluster.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', role)).status, 201);
    assert.equal((await cluster.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', binding)).status, 201);
    // RBAC changes reach the authorizer through an informer: poll briefly.
    let allowed: RunResult | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      allowed = await modelgate(['audit', '-A', '--policy', policyDir], kubeconfig);
      if (allowed.code !== 2) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(allowed?.code, 1, allowed?.stderr);
    assert.deepEqual(
      tableRows(allowed?.stdout ?? '').map((row) => [row.object, row.verdict]),
      EXPECTED_ALL,
    );
  });

  it('exits 2 when the API server cannot be reached or its certificate is not trusted; 2 on a wrong context', async () => {
    const dir = scratchDir('audit-unreachable');
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const down = await modelgate(['audit', '-A', '--policy', policyDir], kubeconfigFor(`https://127.0.0.1:${port}`, cluster.ca.certPem, cluster.admin));
    assert.equal(down.code, 2);
    assert.match(
      down.stderr,
      new RegExp(`^modelgate: cannot reach the cluster at https://127\\.0\\.0\\.1:${port} to list \\w+ in all namespaces: ECONNREFUSED`, 'm'),
    );

    const otherCa: CertificateAuthority = await createCA(dir, 'not-the-cluster-ca');
    const untrusted = await modelgate(['audit', '-A', '--policy', policyDir], kubeconfigFor(cluster.server, otherCa.certPem, cluster.admin));
    assert.equal(untrusted.code, 2);
    assert.match(
      untrusted.stderr,
      /^modelgate: cannot reach the cluster at https:\/\/127\.0\.0\.1:\d+ to list \w+ in all namespaces: TLS verification failed \(UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate\); check the certificate-authority of the kubeconfig's cluster$/m,
    );

    const context = await modelgate(['audit', '-A', '--context', 'prod', '--policy', policyDir]);
    assert.equal(context.code, 2);
    assert.match(context.stderr, /context "prod" is not in the kubeconfig \(contexts: modelgate-e2e\)/);
  });
  it("explain without --policy judges with the cluster's policy ConfigMaps, as audit does, and names them", async () => {
    const audit = JSON.parse((await modelgate(['audit', '-A', '-o', 'json'])).stdout) as AuditJson;
    assert.equal(audit.policy.source, 'configmaps');
    const explain = await modelgate(['explain', UNPINNED, '--offline', '-o', 'json']);
    assert.equal(explain.code, 1, explain.stderr);
    const report = JSON.parse(explain.stdout) as { namespace: string; policy: AuditJson['policy']; evaluation: { verdict: string } };
    assert.deepEqual(
      { source: report.policy.source, namespace: report.policy.namespace, sources: report.policy.sources, revision: report.policy.revision },
      { source: 'configmaps', namespace: 'modelgate', sources: ['ConfigMap modelgate/modelgate-policies'], revision: audit.policyRevision },
    );
    assert.equal(report.namespace, 'default', "the context's namespace (the admin's context names none)");
    assert.equal(report.evaluation.verdict, 'deny');
    const text = await kubectlPlugin(['explain', UNPINNED, '--offline']);
    assert.match(text.stdout, /^Policy {6}ConfigMaps in namespace modelgate \(modelgate\/modelgate-policies\), revision [0-9a-f]{12}$/m);
    // The ConfigMap in ops is invalid: an error, never the bundled file instead.
    const ops = await modelgate(['explain', UNPINNED, '--offline', '--policy-namespace', 'ops']);
    assert.equal(ops.code, 2);
    assert.match(ops.stderr, /configmap ops\/broken key p\.yaml/);
  });

  it("leaves out kube-system and the webhook's namespace as the webhook's namespaceSelector does", async () => {
    // PodTemplates: these namespaces have no default ServiceAccount for a Pod (no controller manager runs).
    await create('kube-system', 'PodTemplate', 'system-model', UNPINNED);
    await create('modelgate', 'PodTemplate', 'gate-model', UNPINNED);
    const report = JSON.parse((await modelgate(['audit', '-A', '--policy', policyDir, '-o', 'json'])).stdout) as AuditJson;
    assert.deepEqual(report.skippedNamespaces, ['kube-system', 'modelgate']);
    assert.equal(report.skippedObjects, 2);
    assert.deepEqual(
      report.rows.map((row) => [row.object, row.verdict.toUpperCase()]),
      EXPECTED_ALL,
    );
    const table = await modelgate(['audit', '-A', '--policy', policyDir]);
    assert.match(
      table.stderr,
      /^skipped kube-system and modelgate \(2 object\(s\)\): the webhook's namespaceSelector leaves them out; --include-system-namespaces audits them too$/m,
    );
    const all = JSON.parse((await modelgate(['audit', '-A', '--policy', policyDir, '--include-system-namespaces', '-o', 'json'])).stdout) as AuditJson;
    assert.deepEqual(all.skippedNamespaces, []);
    assert.ok(all.rows.some((row) => row.object === 'PodTemplate kube-system/system-model' && row.verdict === 'deny'));
    assert.ok(all.rows.some((row) => row.object === 'PodTemplate modelgate/gate-model' && row.verdict === 'deny'));
  });

  it('lists AI workloads through discovery once their CRDs are installed, and skips their kinds before', async () => {
    const before = JSON.parse((await modelgate(['audit', '-A', '--policy', policyDir, '-o', 'json'])).stdout) as AuditJson;
    assert.ok(before.absentKinds.includes('leaderworkerset.x-k8s.io/LeaderWorkerSet'), before.absentKinds.join(' '));
    assert.ok(before.absentKinds.includes('serving.kserve.io/InferenceService'));

    const crds = await cluster.kubectl(['create', '-f', join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'ai-workload-crds.yaml')], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
    assert.equal(crds.code, 0, crds.stderr);
    const established = await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'], {
      allowFailure: true,
      timeoutMs: 90_000,
    });
    assert.equal(established.code, 0, established.stderr);
    for (const fixture of ['leaderworkerset.yaml', 'inferenceservice.yaml']) {
      const applied = await cluster.kubectl(['apply', '-f', join(REPO_ROOT, 'test', 'fixtures', 'workloads', fixture)], {
        allowFailure: true,
        timeoutMs: 60_000,
      });
      assert.equal(applied.code, 0, applied.stderr);
    }
    // Discovery of new CRDs reaches the aggregated API a moment after they are established.
    let report: AuditJson | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      report = JSON.parse((await modelgate(['audit', '-n', 'team-a', '--policy', policyDir, '-o', 'json'])).stdout) as AuditJson;
      if (report.rows.some((row) => row.object.startsWith('InferenceService'))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(report !== undefined);
    assert.ok(!report.absentKinds.includes('leaderworkerset.x-k8s.io/LeaderWorkerSet'));
    assert.ok(!report.absentKinds.includes('serving.kserve.io/InferenceService'));
    const ai = report.rows.filter((row) => row.object.startsWith('LeaderWorkerSet') || row.object.startsWith('InferenceService'));
    assert.deepEqual(
      ai.map((row) => [row.object, row.path, row.reference, row.verdict]),
      [
        ['InferenceService team-a/llama', 'spec.predictor.model.storageUri', 'ghcr.io/acme/models/llama:v1', 'deny'],
        ['InferenceService team-a/llama', 'spec.transformer.volumes[0].image.reference', 'ghcr.io/acme/models/tokenizer:v1', 'deny'],
        ['LeaderWorkerSet team-a/vllm', 'spec.leaderWorkerTemplate.leaderTemplate.spec.volumes[0].image.reference', UNPINNED, 'deny'],
        ['LeaderWorkerSet team-a/vllm', 'spec.leaderWorkerTemplate.workerTemplate.spec.volumes[0].image.reference', UNPINNED, 'deny'],
      ],
    );
    assert.match(report.rows.find((row) => row.object === 'LeaderWorkerSet team-a/vllm')?.reasons[0] ?? '', /^pinned-models\/requireDigest: .*tag "v1"/);
    const table = await kubectlPlugin(['audit', '-n', 'team-a', '--policy', policyDir]);
    assert.equal(table.code, 1);
    assert.match(
      table.stderr,
      /modelgate denied LeaderWorkerSet team-a\/vllm: 2 model references failed policy\n- volume "model" at spec\.leaderWorkerTemplate\.leaderTemplate\.spec\.volumes\[0\]\.image\.reference/,
    );
  });
});
