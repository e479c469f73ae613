// Policies from ConfigMaps against a real kube-apiserver (v1.36, etcd, no
// nodes): issue 6.
//
//   npm run test:e2e            (needs `bash test/e2e/tools/install.sh` first)
//
// - modelgate's real `serve` runs as a child process on 127.0.0.1 with no
//   --policy: it watches the ConfigMaps labelled modelgate.dev/policy=true
//   through a kubeconfig for the ServiceAccount modelgate, with exactly the
//   RBAC of manifests/ (base, then optional/namespaced-policies-rbac.yaml).
// - Decisions are read by posting AdmissionReviews to it directly; every
//   change to a ConfigMap is timed from the API server's answer to the first
//   review that shows the new decision (polled every 20 ms, up to 15 s), and
//   must be within the 2 s bound. The measured delays are printed.
// - Only the dry-run test registers a ValidatingWebhookConfiguration, and it
//   calls https://127.0.0.1:<port>/validate, never a Service.
// - manifests/ (base, optional/, the cert-manager overlay) are built with
//   kubectl kustomize and checked with kubectl apply --dry-run=server.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { parseAllDocuments, stringify } from 'yaml';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';
import { freePort } from './lib/ports.ts';
import { loopbackEnv, runCommand, startProcess, stopAll } from './lib/processes.ts';
import type { ManagedProcess, RunResult } from './lib/processes.ts';
import { scratchDir } from './lib/workdir.ts';
import { REPO_ROOT, serveArgs } from './lib/modelgate.ts';

const MANIFESTS = join(REPO_ROOT, 'manifests');
const WEBHOOK_NS = 'modelgate';
const TEAM_A = 'team-a';
const TEAM_B = 'team-b';
const LABEL = { 'modelgate.dev/policy': 'true' };
/** The bound a policy change must take effect within. */
const BOUND_MS = 2000;
/** How long a test waits for a change before it reports the delay as a failure. */
const POLL_LIMIT_MS = 15_000;

const hex = (seed: string): string => createHash('sha256').update(seed).digest('hex');
const PINNED = `ghcr.io/acme/models/llama@sha256:${hex('llama')}`;
const UNPINNED = 'ghcr.io/acme/models/llama:v1';
const QUAY_PINNED = `quay.io/other/model@sha256:${hex('other')}`;

type Json = Record<string, unknown>;

// ---- policy documents ---------------------------------------------------------------------

const modelPolicy = (name: string, spec: Json): Json => ({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'ModelPolicy', metadata: { name }, spec });
const configDoc = (spec: Json): Json => ({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'Config', spec });
const yamlDocs = (...docs: Json[]): string => docs.map((doc) => stringify(doc)).join('---\n');

function policyConfigMap(name: string, namespace: string, data: Record<string, string>): Json {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: LABEL }, data };
}

// ---- reviews ----------------------------------------------------------------------------------

let uidCounter = 0;
function podReview(namespace: string, reference: string, dryRun = false): Json {
  uidCounter += 1;
  const uid = `00000000-0000-4000-8000-${String(uidCounter).padStart(12, '0')}`;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'llm', namespace },
    spec: {
      containers: [
        { name: 'server', image: `registry.invalid/app@sha256:${hex('app')}`, volumeMounts: [{ name: 'model', mountPath: '/models', readOnly: true }] },
      ],
      volumes: [{ name: 'model', image: { reference, pullPolicy: 'IfNotPresent' } }],
    },
  };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: 'llm',
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'e2e' },
      object: pod,
      oldObject: null,
      dryRun,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

interface Decision {
  readonly allowed: boolean;
  readonly code: number | undefined;
  readonly message: string;
  readonly warnings: readonly string[];
  readonly audit: string;
}

const delays: { change: string; ms: number }[] = [];

// ---- the suite -----------------------------------------------------------------------------------

describe('policies from ConfigMaps (real kube-apiserver, the real serve command)', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined;
  let gate: ManagedProcess | undefined;
  let port = 0;
  let agent: Agent;
  let certsDir = '';
  let caPem = '';
  let slowRegistry: Server | undefined;
  const slowSockets = new Set<Socket>();

  const c = (): Cluster => {
    assert.ok(cluster !== undefined, 'the cluster did not start');
    return cluster;
  };
  const g = (): ManagedProcess => {
    assert.ok(gate !== undefined, 'modelgate did not start');
    return gate;
  };

  const kubectl = (args: readonly string[], input?: string): Promise<RunResult> =>
    c().kubectl(args, { allowFailure: true, timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });

  async function api(method: string, path: string, body?: unknown): Promise<Json> {
    const response = await c().request(method, path, body);
    assert.ok(response.status >= 200 && response.status < 300, `${method} ${path}: HTTP ${response.status}: ${response.body}`);
    return JSON.parse(response.body) as Json;
  }

  /** Creates or replaces a ConfigMap; resolves when the API server has stored it. */
  async function putConfigMap(object: Json): Promise<void> {
    const metadata = object['metadata'] as { name: string; namespace: string };
    const path = `/api/v1/namespaces/${metadata.namespace}/configmaps`;
    const existing = await c().request('GET', `${path}/${metadata.name}`);
    if (existing.status === 404) await api('POST', path, object);
    else await api('PUT', `${path}/${metadata.name}`, object);
  }

  const deleteConfigMap = (namespace: string, name: string): Promise<Json> => api('DELETE', `/api/v1/namespaces/${namespace}/configmaps/${name}`);

  async function review(namespace: string, reference: string, dryRun = false): Promise<Decision> {
    const response = await request(`https://127.0.0.1:${port}/validate`, {
      method: 'POST',
      body: JSON.stringify(podReview(namespace, reference, dryRun)),
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    });
    const body = (await response.body.json()) as {
      response: { allowed: boolean; status?: { code?: number; message?: string }; warnings?: string[]; auditAnnotations?: Record<string, string> };
    };
    const r = body.response;
    return {
      allowed: r.allowed,
      code: r.status?.code,
      message: r.status?.message ?? '',
      warnings: r.warnings ?? [],
      audit: r.auditAnnotations?.['policy-violations'] ?? '',
    };
  }

  async function readyz(): Promise<{ status: number; body: string }> {
    const response = await request(`https://127.0.0.1:${port}/readyz`, { dispatcher: agent });
    return { status: response.statusCode, body: await response.body.text() };
  }

  /**
   * Polls reviews until `accept` holds and records how long after `since`
   * (the API server's answer to the change) the first such decision came.
   */
  async function decisionAfter(change: string, since: number, namespace: string, reference: string, accept: (d: Decision) => boolean): Promise<Decision> {
    for (;;) {
      const decision = await review(namespace, reference);
      if (accept(decision)) {
        const ms = Date.now() - since;
        delays.push({ change, ms });
        assert.ok(ms <= BOUND_MS, `${change}: took effect after ${ms} ms, over the ${BOUND_MS} ms bound`);
        return decision;
      }
      if (Date.now() - since > POLL_LIMIT_MS) assert.fail(`${change}: no effect within ${POLL_LIMIT_MS} ms; last decision ${JSON.stringify(decision)}`);
      await sleep(20);
    }
  }

  /** Asserts a decision stays as it is for a while (a refused change must not leak through). */
  async function decisionHolds(namespace: string, reference: string, accept: (d: Decision) => boolean, forMs = 1500): Promise<void> {
    const until = Date.now() + forMs;
    while (Date.now() < until) {
      const decision = await review(namespace, reference);
      assert.ok(accept(decision), `the decision changed: ${JSON.stringify(decision)}`);
      await sleep(100);
    }
  }

  const logLines = (): Json[] =>
    readFileSync(g().logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Json);

  async function events(namespace: string, configMap: string): Promise<Json[]> {
    const selector = encodeURIComponent(`involvedObject.kind=ConfigMap,involvedObject.name=${configMap}`);
    const list = await api('GET', `/api/v1/namespaces/${namespace}/events?fieldSelector=${selector}`);
    return list['items'] as Json[];
  }

  async function eventually<T>(what: string, get: () => Promise<T | undefined>, limitMs = POLL_LIMIT_MS): Promise<T> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const value = await get();
      if (value !== undefined) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  /** The objects of `kubectl kustomize manifests` of the given kinds, as YAML. */
  async function manifestObjects(kinds: readonly string[]): Promise<string> {
    const built = await kubectl(['kustomize', MANIFESTS]);
    assert.equal(built.code, 0, built.stderr);
    const docs = parseAllDocuments(built.stdout);
    assert.ok(Array.isArray(docs));
    return docs
      .map((doc) => doc.toJS() as Json)
      .filter((doc) => kinds.includes(String(doc['kind'])))
      .map((doc) => stringify(doc))
      .join('---\n');
  }

  before(async () => {
    cluster = await startCluster();
    for (const ns of [WEBHOOK_NS, TEAM_A, TEAM_B]) await cluster.createNamespace(ns);
    certsDir = scratchDir('modelgate-certs');
    await runCommand('bash', [join(REPO_ROOT, 'scripts', 'certs.sh')], {
      env: loopbackEnv({ MODELGATE_CERTS_DIR: certsDir, MODELGATE_CERT_DAYS: '2' }),
      cwd: REPO_ROOT,
    });
    caPem = readFileSync(join(certsDir, 'ca.crt'), 'utf8');
    agent = new Agent({ connect: { ca: caPem, servername: 'localhost' } });

    // The ServiceAccount from manifests/, and a token for it: modelgate runs
    // with exactly the permissions manifests/ grants (none yet: RBAC comes in the first test).
    const account = await kubectl(['apply', '-f', '-'], await manifestObjects(['ServiceAccount']));
    assert.equal(account.code, 0, account.stderr);
    const token = await api('POST', `/api/v1/namespaces/${WEBHOOK_NS}/serviceaccounts/modelgate/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    });
    const kubeconfig = join(scratchDir('modelgate-sa'), 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.ca.certPem).toString('base64') } }],
        users: [{ name: 'modelgate', user: { token: (token['status'] as { token: string }).token } }],
        contexts: [{ name: 'modelgate', context: { cluster: 'e2e', user: 'modelgate' } }],
        'current-context': 'modelgate',
      }),
      { mode: 0o600 },
    );

    // A registry that accepts connections and never answers: keeps a review in flight for the SIGTERM test.
    slowRegistry = createServer((socket) => {
      slowSockets.add(socket);
      socket.on('close', () => slowSockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => slowRegistry?.listen(0, '127.0.0.1', resolve));

    port = await freePort();
    const env = loopbackEnv({ KUBECONFIG: kubeconfig, MODELGATE_LOG_LEVEL: 'info', HOME: scratchDir('modelgate-home') });
    for (const key of Object.keys(env)) if (key.startsWith('MODELGATE_') && key !== 'MODELGATE_LOG_LEVEL') delete env[key];
    gate = await startProcess({
      name: 'modelgate-configmaps',
      command: process.execPath,
      args: serveArgs(port, join(certsDir, 'tls.crt'), join(certsDir, 'tls.key'), ['--shutdown-delay', '1']),
      cwd: REPO_ROOT,
      env,
      ready: { kind: 'log', pattern: /"msg":"modelgate listening"/ },
      stopTimeoutMs: 20_000,
    });
  });

  after(async () => {
    if (delays.length > 0) {
      const lines = delays.map(({ change, ms }) => `  ${String(ms).padStart(5)} ms  ${change}`);
      const sorted = delays.map((d) => d.ms).sort((a, b) => a - b);
      process.stdout.write(
        `# policy change → decision delays (bound ${BOUND_MS} ms; max ${sorted.at(-1)} ms, median ${sorted[Math.floor(sorted.length / 2)]} ms):\n${lines.join('\n')}\n`,
      );
    }
    for (const socket of slowSockets) socket.destroy();
    slowRegistry?.close();
    await agent?.close();
    await stopAll();
    await cluster?.stop();
  });

  it('is not ready until the first complete sync: without its RBAC the watch fails (403), is retried, and succeeds once manifests/ RBAC is applied', async () => {
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const ready = await readyz();
      assert.equal(ready.status, 503, ready.body);
      await sleep(300);
    }
    const early = await review(TEAM_A, PINNED);
    assert.equal(early.allowed, false);
    assert.equal(early.code, 503);
    assert.match(early.message, /no policy loaded yet/);
    const failures = logLines().filter((line) => line['msg'] === 'watching policy ConfigMaps failed; retrying');
    assert.ok(failures.length >= 2, `retried with backoff: ${JSON.stringify(failures)}`);
    assert.match(String(failures[0]?.['err']), /HTTP 403 \(forbidden: check the RBAC/);
    assert.deepEqual(
      failures.slice(0, 3).map((line) => typeof line['retryInMs'] === 'number'),
      failures.slice(0, 3).map(() => true),
    );

    const rbac = await kubectl(['apply', '-f', '-'], await manifestObjects(['Role', 'RoleBinding']));
    assert.equal(rbac.code, 0, rbac.stderr);
    const applied = Date.now();
    const body = await eventually(
      'readiness',
      async () => {
        const ready = await readyz();
        return ready.status === 200 ? ready.body : undefined;
      },
      40_000,
    );
    process.stdout.write(`# not ready for ${applied - started} ms (no RBAC); ready ${Date.now() - applied} ms after the Role was applied (backoff)\n`);
    assert.match(body, /^ok \(policy revision [0-9a-f]{12}\)$/);
    // No ConfigMaps yet: no policy, and the built-in defaultAction deny.
    const none = await review(TEAM_A, PINNED);
    assert.equal(none.allowed, false);
    assert.match(none.message, /rule defaultAction: no ModelPolicy matches ghcr\.io\/acme\/models\/llama in namespace team-a, and the default action is deny/);
  });

  it("creating policy ConfigMaps changes decisions within 2 s, and each decision's log line names the active revision", async () => {
    await putConfigMap(policyConfigMap('cluster-config', WEBHOOK_NS, { 'config.yaml': yamlDocs(configDoc({ defaultAction: 'allow' })) }));
    let since = Date.now();
    await decisionAfter('create Config (defaultAction allow)', since, TEAM_A, UNPINNED, (d) => d.allowed);

    await putConfigMap(
      policyConfigMap('pinning', WEBHOOK_NS, {
        'pinning.yaml': yamlDocs(
          modelPolicy('pinned-models', { mode: 'enforce', match: { namespaces: ['team-*'], references: ['ghcr.io/**'] }, requireDigest: true }),
        ),
        'README.md': 'not policy',
      }),
    );
    since = Date.now();
    const denied = await decisionAfter('create ModelPolicy (enforce)', since, TEAM_A, UNPINNED, (d) => !d.allowed);
    assert.match(denied.message, /policy "pinned-models" rule requireDigest: .*"v1"/);
    assert.equal((await review(TEAM_A, PINNED)).allowed, true);
    assert.equal((await review('default', UNPINNED)).allowed, true, 'the policy matches team-* only');

    const revision = /revision ([0-9a-f]{12})/.exec((await readyz()).body)?.[1];
    assert.ok(revision !== undefined);
    await sleep(100);
    const reviewLines = logLines().filter((line) => line['msg'] === 'review');
    assert.equal(reviewLines.at(-1)?.['revision'], revision);
    const loaded = logLines()
      .filter((line) => line['msg'] === 'policy reloaded from ConfigMaps')
      .at(-1);
    assert.equal(loaded?.['revision'], revision);
    assert.deepEqual(loaded?.['configMaps'], [`${WEBHOOK_NS}/cluster-config`, `${WEBHOOK_NS}/pinning`]);
  });

  it('changing a ConfigMap changes decisions within 2 s', async () => {
    await putConfigMap(
      policyConfigMap('pinning', WEBHOOK_NS, {
        'pinning.yaml': yamlDocs(modelPolicy('pinned-models', { mode: 'warn', match: { namespaces: ['team-*'], references: ['ghcr.io/**'] } })),
      }),
    );
    const since = Date.now();
    const warned = await decisionAfter('change mode enforce → warn', since, TEAM_A, UNPINNED, (d) => d.allowed && d.warnings.length > 0);
    assert.match(warned.warnings[0] ?? '', /^modelgate: .*pinned-models/);
  });

  it("an invalid change keeps that ConfigMap's last good policy, is logged with ConfigMap, key and field path, and recorded as a Warning Event; other ConfigMaps update normally", async () => {
    const broken = yamlDocs(modelPolicy('pinned-models', { mode: 'block', match: { namespaces: ['team-*'], references: ['ghcr.io/**'] } }));
    await putConfigMap(policyConfigMap('pinning', WEBHOOK_NS, { 'pinning.yaml': broken }));
    const since = Date.now();
    const event = await eventually('the InvalidPolicy Event', async () => (await events(WEBHOOK_NS, 'pinning')).find((e) => e['reason'] === 'InvalidPolicy'));
    process.stdout.write(`# InvalidPolicy Event recorded ${Date.now() - since} ms after the change\n`);
    assert.equal(event['type'], 'Warning');
    assert.deepEqual((event['source'] as Json)['component'], 'modelgate');
    assert.equal((event['involvedObject'] as Json)['kind'], 'ConfigMap');
    assert.match(
      String(event['message']),
      /ConfigMap modelgate\/pinning holds invalid policy; its last good content stays active:\n {2}configmap modelgate\/pinning key pinning\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "block"/,
    );
    // The last good content (mode warn) stays.
    await decisionHolds(TEAM_A, UNPINNED, (d) => d.allowed && d.warnings.length > 0);
    const logged = logLines().find((line) => line['configMap'] === `${WEBHOOK_NS}/pinning` && line['level'] === 50);
    assert.ok(logged, 'an error log line names the ConfigMap');
    assert.equal(logged['kept'], 'last-good');
    assert.deepEqual(logged['problems'], [
      { source: 'configmap modelgate/pinning key pinning.yaml', document: 1, path: 'spec.mode', message: 'must be one of enforce, warn, audit, got "block"' },
    ]);

    // Another ConfigMap still updates while this one is broken.
    await putConfigMap(policyConfigMap('cluster-config', WEBHOOK_NS, { 'config.yaml': yamlDocs(configDoc({ defaultAction: 'deny' })) }));
    const other = Date.now();
    const denied = await decisionAfter('change another ConfigMap while one is invalid', other, TEAM_B, QUAY_PINNED, (d) => !d.allowed);
    assert.match(denied.message, /rule defaultAction/);
    assert.equal((await review(TEAM_A, UNPINNED)).warnings.length > 0, true, "the broken ConfigMap's last good policy is still active");

    // Fixing it applies the fix.
    await putConfigMap(
      policyConfigMap('pinning', WEBHOOK_NS, {
        'pinning.yaml': yamlDocs(modelPolicy('pinned-models', { mode: 'enforce', match: { namespaces: ['team-*'], references: ['ghcr.io/**'] } })),
      }),
    );
    const fixed = Date.now();
    await decisionAfter('fix the invalid ConfigMap', fixed, TEAM_A, UNPINNED, (d) => !d.allowed);
    assert.equal((await events(WEBHOOK_NS, 'pinning')).filter((e) => e['reason'] === 'InvalidPolicy').length, 1, 'one Event for the one problem');
  });

  it('deleting a ConfigMap (or taking its label off) removes its policies within 2 s', async () => {
    await putConfigMap(
      policyConfigMap('extra', WEBHOOK_NS, { 'extra.yaml': yamlDocs(modelPolicy('quay', { mode: 'enforce', match: { references: ['quay.io/**'] } })) }),
    );
    await decisionAfter('create a second policy ConfigMap', Date.now(), TEAM_B, QUAY_PINNED, (d) => d.allowed);
    await deleteConfigMap(WEBHOOK_NS, 'extra');
    const since = Date.now();
    const denied = await decisionAfter('delete the ConfigMap', since, TEAM_B, QUAY_PINNED, (d) => !d.allowed);
    assert.match(denied.message, /no ModelPolicy matches quay\.io\/other\/model in namespace team-b/);

    // Taking the label off is the same as deleting it: the watch reports it as gone.
    await putConfigMap(
      policyConfigMap('extra', WEBHOOK_NS, { 'extra.yaml': yamlDocs(modelPolicy('quay', { mode: 'enforce', match: { references: ['quay.io/**'] } })) }),
    );
    await decisionAfter('create it again', Date.now(), TEAM_B, QUAY_PINNED, (d) => d.allowed);
    const label = await kubectl(['label', 'configmap', 'extra', '-n', WEBHOOK_NS, 'modelgate.dev/policy=false', '--overwrite']);
    assert.equal(label.code, 0, label.stderr);
    const relabelled = Date.now();
    await decisionAfter('remove the modelgate.dev/policy label', relabelled, TEAM_B, QUAY_PINNED, (d) => !d.allowed);
    await deleteConfigMap(WEBHOOK_NS, 'extra');
  });

  it('namespaced policy ConfigMaps are ignored until the Config turns them on; then they add requirements in their own namespace only', async () => {
    await putConfigMap(
      policyConfigMap('team-rules', TEAM_A, {
        'rules.yaml': yamlDocs(modelPolicy('pinned-models', { mode: 'enforce', registries: ['registry.internal'], match: { namespaces: ['*'] } })),
      }),
    );
    await decisionHolds(TEAM_A, PINNED, (d) => d.allowed, 1000);

    const cleanRbac = await kubectl(['apply', '-f', join(MANIFESTS, 'optional', 'namespaced-policies-rbac.yaml')]);
    assert.equal(cleanRbac.code, 0, cleanRbac.stderr);
    await putConfigMap(
      policyConfigMap('cluster-config', WEBHOOK_NS, { 'config.yaml': yamlDocs(configDoc({ defaultAction: 'deny', namespacedPolicies: true })) }),
    );
    const since = Date.now();
    const denied = await decisionAfter('Config namespacedPolicies: true (a namespaced policy applies)', since, TEAM_A, PINNED, (d) => !d.allowed);
    assert.match(
      denied.message,
      /policy "team-a\/pinned-models" rule registries: registry ghcr\.io is not one of the allowed registries \(registry\.internal\)/,
    );
    assert.ok(!denied.message.includes('policy "pinned-models"'), 'the cluster policy passes');
    assert.equal((await review(TEAM_B, PINNED)).allowed, true, 'team-b is not affected, whatever the namespaced match said');

    // A change to the namespaced ConfigMap applies within the bound too.
    await putConfigMap(
      policyConfigMap('team-rules', TEAM_A, { 'rules.yaml': yamlDocs(modelPolicy('pinned-models', { mode: 'enforce', registries: ['ghcr.io'] })) }),
    );
    await decisionAfter('change a namespaced ConfigMap', Date.now(), TEAM_A, PINNED, (d) => d.allowed);
  });

  it('a namespaced policy cannot relax defaultAction: deny, and a namespaced Config is refused with an Event', async () => {
    await putConfigMap(
      policyConfigMap('team-rules', TEAM_A, {
        'rules.yaml': yamlDocs(modelPolicy('anything-goes', { mode: 'audit', requireDigest: false, match: { references: ['quay.io/**'] } })),
      }),
    );
    const since = Date.now();
    const denied = await decisionAfter(
      'namespaced permissive policy (still denied by defaultAction)',
      since,
      TEAM_A,
      QUAY_PINNED,
      (d) => !d.allowed && d.message.includes('no cluster ModelPolicy') && !d.message.includes('team-a/pinned-models'),
    );
    assert.match(
      denied.message,
      /rule defaultAction: no cluster ModelPolicy matches quay\.io\/other\/model in namespace team-a \(the namespace's own policies add requirements but do not replace one\), and the default action is deny/,
    );

    await putConfigMap(
      policyConfigMap('team-config', TEAM_A, {
        'config.yaml': yamlDocs(configDoc({ defaultAction: 'allow' })),
        'more.yaml': yamlDocs(modelPolicy('more', { mode: 'enforce' })),
      }),
    );
    const event = await eventually('the InvalidPolicy Event in team-a', async () =>
      (await events(TEAM_A, 'team-config')).find((e) => e['reason'] === 'InvalidPolicy'),
    );
    assert.match(
      String(event['message']),
      /ConfigMap team-a\/team-config holds invalid policy; none of its policies are active:\n {2}configmap team-a\/team-config key config\.yaml \(document 1\) kind: a namespaced policy ConfigMap \(namespace team-a\) may not hold a Config/,
    );
    await decisionHolds(TEAM_A, QUAY_PINNED, (d) => !d.allowed && !d.message.includes('"team-a/more"'), 800);
    await deleteConfigMap(TEAM_A, 'team-config');
  });

  it('dry-run requests have no side effects: reviews through the API server record no Events and write nothing', async () => {
    await putConfigMap(policyConfigMap('team-rules', TEAM_A, { 'rules.yaml': yamlDocs(modelPolicy('team-pinning', { mode: 'enforce' })) }));
    await decisionAfter('namespaced policy before the dry run', Date.now(), TEAM_A, UNPINNED, (d) => !d.allowed && d.message.includes('team-a/team-pinning'));
    const url = `https://127.0.0.1:${port}/validate`;
    const configuration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: 'modelgate-policies-e2e' },
      webhooks: [
        {
          name: 'validate.modelgate.dev',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
          clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': TEAM_A } },
        },
      ],
    };
    // Loopback only: never a Service, never another address.
    for (const webhook of configuration.webhooks) assert.deepEqual(Object.keys(webhook.clientConfig), ['url', 'caBundle']);
    assert.equal(new URL(configuration.webhooks[0]?.clientConfig.url ?? '').hostname, '127.0.0.1');
    const registered = await kubectl(['apply', '-f', '-'], JSON.stringify(configuration));
    assert.equal(registered.code, 0, registered.stderr);
    try {
      const eventsBefore = ((await api('GET', '/api/v1/events'))['items'] as Json[]).length;
      const configMapsBefore = JSON.stringify(
        ((await api('GET', '/api/v1/configmaps?labelSelector=modelgate.dev%2Fpolicy%3Dtrue'))['items'] as Json[]).map(
          (cm) => (cm['metadata'] as Json)['resourceVersion'],
        ),
      );
      const pod = JSON.stringify((podReview(TEAM_A, UNPINNED)['request'] as Json)['object']);
      // The webhook configuration takes a moment to be picked up: retry until modelgate answers.
      const result = await eventually(
        'a dry-run create answered by modelgate',
        async () => {
          const run = await kubectl(['create', '--dry-run=server', '-f', '-'], pod);
          return run.code !== 0 && run.stderr.includes('modelgate denied') ? run : undefined;
        },
        30_000,
      );
      assert.match(result.stderr, /policy "team-a\/team-pinning" rule requireDigest/);
      await sleep(500);
      const dryRuns = logLines().filter((line) => line['msg'] === 'review' && line['dryRun'] === true);
      assert.ok(dryRuns.length >= 1, 'modelgate saw the dry run');
      assert.equal(dryRuns.at(-1)?.['decision'], 'deny');
      assert.equal(((await api('GET', '/api/v1/events'))['items'] as Json[]).length, eventsBefore, 'no Event was recorded');
      const configMapsAfter = JSON.stringify(
        ((await api('GET', '/api/v1/configmaps?labelSelector=modelgate.dev%2Fpolicy%3Dtrue'))['items'] as Json[]).map(
          (cm) => (cm['metadata'] as Json)['resourceVersion'],
        ),
      );
      assert.equal(configMapsAfter, configMapsBefore, 'nothing was written');
      assert.equal((await c().request('GET', `/api/v1/namespaces/${TEAM_A}/pods/llm`)).status, 404);
    } finally {
      await kubectl(['delete', 'validatingwebhookconfiguration', 'modelgate-policies-e2e']);
      await deleteConfigMap(TEAM_A, 'team-rules');
    }
  });

  it('turning namespaced policies off in the Config drops them within 2 s', async () => {
    await putConfigMap(
      policyConfigMap('cluster-config', WEBHOOK_NS, { 'config.yaml': yamlDocs(configDoc({ defaultAction: 'allow', namespacedPolicies: true })) }),
    );
    await putConfigMap(policyConfigMap('team-rules', TEAM_A, { 'rules.yaml': yamlDocs(modelPolicy('internal-only', { registries: ['registry.internal'] })) }));
    const denied = await decisionAfter(
      'namespaced policy with defaultAction allow',
      Date.now(),
      TEAM_A,
      QUAY_PINNED,
      (d) => !d.allowed && !d.message.includes('defaultAction'),
    );
    assert.match(denied.message, /policy "team-a\/internal-only" rule registries/);
    await putConfigMap(
      policyConfigMap('cluster-config', WEBHOOK_NS, { 'config.yaml': yamlDocs(configDoc({ defaultAction: 'allow', namespacedPolicies: false })) }),
    );
    await decisionAfter('Config namespacedPolicies: false', Date.now(), TEAM_A, QUAY_PINNED, (d) => d.allowed);
    assert.ok(logLines().some((line) => line['msg'] === 'no longer following namespaced policy ConfigMaps'));
    await deleteConfigMap(TEAM_A, 'team-rules');
  });

  it('SIGTERM: serves (not ready) through --shutdown-delay, stops accepting, answers the review in flight, exits 0', async () => {
    const address = slowRegistry?.address();
    assert.ok(typeof address === 'object' && address !== null);
    const slowHost = `127.0.0.1:${address.port}`;
    await putConfigMap(
      policyConfigMap('slow', WEBHOOK_NS, {
        'slow.yaml': yamlDocs(
          modelPolicy('slow-registry', { mode: 'enforce', onError: 'allow', match: { references: [`${slowHost}/**`] }, artifact: { types: ['modelpack'] } }),
        ),
      }),
    );
    await putConfigMap(
      policyConfigMap('cluster-config', WEBHOOK_NS, {
        'config.yaml': yamlDocs(
          configDoc({ defaultAction: 'deny', registries: [{ host: slowHost, insecure: true }], timeouts: { requestSeconds: 1, totalSeconds: 3 } }),
        ),
      }),
    );
    const slowRef = `${slowHost}/models/slow@sha256:${hex('slow')}`;
    // Wait until the policy is active: a review of the slow reference then takes the whole registry deadline.
    await eventually('the slow-registry policy', async () => {
      const lines = logLines().filter((line) => line['msg'] === 'policy reloaded from ConfigMaps');
      const last = lines.at(-1);
      return Array.isArray(last?.['policies']) &&
        (last['policies'] as string[]).includes('slow-registry') &&
        (last['configMaps'] as string[]).includes(`${WEBHOOK_NS}/cluster-config`)
        ? true
        : undefined;
    });
    await sleep(300);
    const sent = Date.now();
    const inFlight = review(TEAM_B, slowRef);
    await sleep(300);
    const signalled = Date.now();
    process.kill(g().pid, 'SIGTERM');
    // During the shutdown delay (1 s) the server still answers reviews, but is no longer ready (no new traffic).
    await sleep(300);
    const during = await readyz();
    assert.deepEqual([during.status, during.body], [503, 'shutting down'], 'not ready during --shutdown-delay');
    assert.equal((await review(TEAM_B, QUAY_PINNED)).code === 503, false, 'reviews are still judged during --shutdown-delay');
    const decision = await inFlight;
    const answered = Date.now();
    assert.equal(decision.allowed, true, JSON.stringify(decision));
    assert.match(decision.audit, /slow-registry\/artifact: the artifact could not be checked/);
    assert.ok(answered - sent >= 2500, `the review waited for the registry deadline (${answered - sent} ms)`);
    const exit = await g().exited;
    const exitedAt = Date.now();
    assert.deepEqual(exit, { code: 0, signal: null });
    process.stdout.write(`# SIGTERM: in-flight review answered ${answered - signalled} ms after the signal; exit 0 ${exitedAt - signalled} ms after it\n`);
    assert.ok(exitedAt - answered < 3000, `exited ${exitedAt - answered} ms after the last answer`);
    await assert.rejects(readyz(), 'no connections are accepted after the exit');
    const lines = logLines().map((line) => line['msg']);
    assert.ok(lines.includes('stopping: still serving during the shutdown delay'));
    assert.ok(lines.includes('stopping: answering in-flight reviews, accepting no new connections'));
    assert.equal(lines.at(-1), 'stopped');
  });
});

describe('manifests/ against the API server (kubectl kustomize, apply --dry-run=server)', { timeout: 300_000 }, () => {
  let cluster: Cluster | undefined;
  const c = (): Cluster => {
    assert.ok(cluster !== undefined, 'the cluster did not start');
    return cluster;
  };
  const kubectl = (args: readonly string[], input?: string): Promise<RunResult> =>
    c().kubectl(args, { allowFailure: true, timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });

  before(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(WEBHOOK_NS);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('the base builds and the API server accepts every object (dry run: nothing is created, no webhook is registered)', async () => {
    const built = await kubectl(['kustomize', MANIFESTS]);
    assert.equal(built.code, 0, built.stderr);
    const documents = parseAllDocuments(built.stdout);
    assert.ok(Array.isArray(documents));
    const kinds = documents.map((doc) => String((doc.toJS() as Json)['kind']));
    assert.deepEqual([...kinds].sort(), [
      'ConfigMap',
      'Deployment',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
      'ValidatingWebhookConfiguration',
    ]);
    const applied = await kubectl(['apply', '--dry-run=server', '-k', MANIFESTS]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /role\.rbac\.authorization\.k8s\.io\/modelgate created \(server dry run\)/);
    assert.match(applied.stdout, /networkpolicy\.networking\.k8s\.io\/modelgate created \(server dry run\)/);
    const none = await kubectl(['get', 'validatingwebhookconfigurations', '-o', 'name']);
    assert.equal(none.stdout.trim(), '', 'a dry run registers nothing');
  });

  it('the optional RBAC files are accepted', async () => {
    const applied = await kubectl(['apply', '--dry-run=server', '-f', join(MANIFESTS, 'optional')]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/modelgate-namespaced-policies created \(server dry run\)/);
    assert.match(applied.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/modelgate-pull-secrets created \(server dry run\)/);
  });

  it('the cert-manager overlay builds, annotates the webhook for CA injection, and is accepted (with stand-in cert-manager CRDs)', async () => {
    const built = await kubectl(['kustomize', join(MANIFESTS, 'overlays', 'cert-manager')]);
    assert.equal(built.code, 0, built.stderr);
    const documents = parseAllDocuments(built.stdout);
    assert.ok(Array.isArray(documents));
    const docs = documents.map((doc) => doc.toJS() as Json);
    const webhook = docs.find((doc) => doc['kind'] === 'ValidatingWebhookConfiguration');
    assert.ok(webhook !== undefined);
    assert.equal(((webhook['metadata'] as Json)['annotations'] as Json)['cert-manager.io/inject-ca-from'], 'modelgate/modelgate');
    const certificates = docs
      .filter((doc) => doc['kind'] === 'Certificate' || doc['kind'] === 'Issuer')
      .map((doc) => `${String(doc['kind'])}/${String((doc['metadata'] as Json)['name'])}@${String((doc['metadata'] as Json)['namespace'])}`);
    assert.deepEqual(certificates.sort(), [
      'Certificate/modelgate-ca@modelgate',
      'Certificate/modelgate@modelgate',
      'Issuer/modelgate-ca@modelgate',
      'Issuer/modelgate-selfsigned@modelgate',
    ]);

    // cert-manager is not installed in the test bed: CRDs that accept any spec stand in for its own.
    for (const [plural, kind] of [
      ['issuers', 'Issuer'],
      ['certificates', 'Certificate'],
    ] as const) {
      const crd = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${plural}.cert-manager.io` },
        spec: {
          group: 'cert-manager.io',
          scope: 'Namespaced',
          names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
          versions: [
            { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
          ],
        },
      };
      const created = await kubectl(['apply', '-f', '-'], JSON.stringify(crd));
      assert.equal(created.code, 0, created.stderr);
    }
    const established = await kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/issuers.cert-manager.io',
      'crd/certificates.cert-manager.io',
    ]);
    assert.equal(established.code, 0, established.stderr);
    const applied = await eventuallyApplied(() => kubectl(['apply', '--dry-run=server', '-k', join(MANIFESTS, 'overlays', 'cert-manager')]));
    assert.match(applied.stdout, /certificate\.cert-manager\.io\/modelgate created \(server dry run\)/);
    assert.match(applied.stdout, /issuer\.cert-manager\.io\/modelgate-ca created \(server dry run\)/);
  });
});

/** Right after a CRD is established, discovery may lag: retry briefly. */
async function eventuallyApplied(run: () => Promise<RunResult>): Promise<RunResult> {
  let last: RunResult | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    last = await run();
    if (last.code === 0) return last;
    await sleep(500);
  }
  assert.fail(`kubectl apply failed: ${last?.stderr ?? ''}`);
}
