// The Helm chart (charts/modelgate) against the test bed's kube-apiserver, with
// Helm 4 and Helm 3 from the Go module proxy (test/e2e/tools/install.sh), and
// modelgate's self-managed TLS. Each Helm runs the same cases with the same
// assertions, in its own namespace and release (one after the other: each
// release is uninstalled before the next Helm starts), except the forced
// renewal, which runs with Helm 4 only: it tests modelgate, not Helm, and
// takes ~30 s.
//
// - helm lint; helm template in each TLS mode, applied with kubectl apply
//   --dry-run=server (stand-in CRDs for cert-manager and the Prometheus
//   Operator, which the test bed does not run); the chart's webhooks and pod
//   security are manifests/' own.
// - helm version prints the pinned version (the binary is the one we think).
// - helm install in self-managed mode (webhook.url: modelgate runs outside the
//   cluster, on 127.0.0.1, as every e2e test runs it), then two replicas of
//   modelgate started together with the installed Deployment's own arguments
//   and a token of the chart's ServiceAccount (its RBAC, nothing more): the
//   first model pod is judged with no manual TLS step, both replicas serve the
//   one pair, helm upgrade leaves the caBundle alone, and a serving
//   certificate renewal (90s lifetime, renewed 60s before the end) passes
//   with a review every 250 ms and none failing (Helm 4 only); helm uninstall
//   removes the webhook configuration and the TLS Secret.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';
import { REPO_ROOT, serveArgs } from './lib/modelgate.ts';
import { freePort } from './lib/ports.ts';
import { loopbackEnv, runCommand, startProcess, stopAll } from './lib/processes.ts';
import type { ManagedProcess, RunResult } from './lib/processes.ts';
import { loadTools } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';

type Json = Record<string, unknown>;
const CHART = join(REPO_ROOT, 'charts', 'modelgate');
const DIGEST = `sha256:${'a'.repeat(64)}`;

const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[key] : undefined), value);
const documents = (text: string): Json[] =>
  parseAllDocuments(text)
    .map((doc) => doc.toJS() as Json | null)
    .filter((doc): doc is Json => doc !== null);
const find = (docs: readonly Json[], kind: string, name?: string): Json => {
  const found = docs.find((doc) => doc['kind'] === kind && (name === undefined || at(doc, 'metadata', 'name') === name));
  assert.ok(found, `no ${kind} ${name ?? ''}`);
  return found;
};

/** Stand-ins for the CRDs of cert-manager and the Prometheus Operator: any spec goes, the API server knows the kinds. */
function standInCrd(group: string, kind: string, plural: string): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  };
}

function pod(name: string, reference: string): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      containers: [{ name: 'c', image: 'busybox' }],
      volumes: [{ name: 'model', image: { reference } }],
    },
  };
}

/** The serving certificate a TLS handshake with the webhook shows. */
function servedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert === undefined) reject(new Error('no peer certificate'));
      else resolve(cert);
    });
    socket.on('error', reject);
  });
}

/** One Helm under test: its binary, and the release and namespace its cases use (both Helms share the cluster). */
interface HelmUnderTest {
  readonly major: 3 | 4;
  readonly tool: 'HELM' | 'HELM3';
  readonly release: string;
  readonly namespace: string;
  /** The forced serving-certificate renewal (~30 s) tests modelgate, not Helm: it runs with one Helm. */
  readonly renewal: boolean;
}

const HELMS: readonly HelmUnderTest[] = [
  { major: 4, tool: 'HELM', release: 'modelgate', namespace: 'modelgate', renewal: true },
  { major: 3, tool: 'HELM3', release: 'modelgate-helm3', namespace: 'modelgate-helm3', renewal: false },
];

describe('Helm chart and self-managed TLS', { timeout: 900_000 }, () => {
  const tools = loadTools();
  const dir = scratchDir('helm');
  let cluster: Cluster;
  const allValues = join(dir, 'all-values.yaml');

  before(async () => {
    cluster = await startCluster();
    for (const namespace of [...HELMS.map((h) => h.namespace), 'models']) await cluster.createNamespace(namespace);
    writeFileSync(
      allValues,
      `aiWorkloads: true
namespacedPolicies: true
pullSecrets: true
registryCredentials: {dockerConfigJson: '{"auths": {}}'}
config: {defaultAction: deny, timeouts: {totalSeconds: 5}}
metrics: {serviceMonitor: {enabled: true}}
policies:
  extra:
    team-a: |
      apiVersion: modelgate.dev/v1alpha1
      kind: ModelPolicy
      metadata: {name: team-a}
      spec:
        match: {namespaces: [team-a]}
        requireDigest: true
`,
    );
    const crds = [
      standInCrd('cert-manager.io', 'Certificate', 'certificates'),
      standInCrd('cert-manager.io', 'Issuer', 'issuers'),
      standInCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors'),
    ];
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }) });
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((crd) => `crd/${String(at(crd, 'metadata', 'name'))}`)]);
  });

  after(async () => {
    await stopAll();
    await cluster?.stop();
  });

  it('the kustomize overlay for self-managed TLS builds what the chart runs and the API server accepts it', async () => {
    const overlay = join(REPO_ROOT, 'manifests', 'overlays', 'self-managed');
    const docs = documents((await cluster.kubectl(['kustomize', overlay])).stdout);
    const spec = at(find(docs, 'Deployment', 'modelgate'), 'spec', 'template', 'spec');
    const args = at(spec, 'containers', 0, 'args') as string[];
    assert.deepEqual(args.slice(0, 4), ['serve', '--tls-mode=self-managed', '--tls-secret=modelgate-tls', '--webhook-config=modelgate']);
    const volumes = at(spec, 'volumes') as Json[];
    assert.deepEqual(
      volumes.find((volume) => volume['name'] === 'tls'),
      { name: 'tls', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    );
    assert.equal((at(spec, 'containers', 0, 'volumeMounts') as Json[]).find((mount) => mount['name'] === 'tls')?.['readOnly'], undefined);
    assert.deepEqual(at(find(docs, 'Role', 'modelgate-tls'), 'rules', 0, 'resourceNames'), ['modelgate-tls']);
    const applied = await cluster.kubectl(['apply', '--dry-run=server', '-k', overlay]);
    assert.match(applied.stdout, /secret\/modelgate-tls created \(server dry run\)/);
  });

  for (const { major, tool, release: RELEASE, namespace: NAMESPACE, renewal } of HELMS) {
    describe(`Helm ${major}`, () => {
      const helmHome = join(dir, `helm${major}`);
      const helm = (args: readonly string[], allowFailure = false): Promise<RunResult> =>
        runCommand(tools.paths[tool], [...args, '--kubeconfig', cluster.kubeconfig], {
          allowFailure,
          env: loopbackEnv({ HELM_CACHE_HOME: join(helmHome, 'cache'), HELM_CONFIG_HOME: join(helmHome, 'config'), HELM_DATA_HOME: join(helmHome, 'data') }),
        });

      it(`helm version is Helm ${major} as pinned (${tools.versions[tool]})`, async () => {
        const printed = (await helm(['version', '--template', '{{.Version}}'])).stdout.trim();
        // Helm 4 built with `go install` says its minor only (v4.3); Helm 3 is stamped with the full version.
        assert.ok(printed.startsWith(`v${major}.`) && tools.versions[tool].startsWith(printed), `${printed} vs ${tools.versions[tool]}`);
      });

      it('helm lint passes with the defaults and with every option on', async () => {
        for (const extra of [[], ['-f', allValues]]) {
          const result = await helm(['lint', '--strict', CHART, ...extra]);
          assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        }
        const refused = await helm(['template', RELEASE, CHART, '--set', 'tls.mode=bogus'], true);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /tls\/mode/);
      });

      for (const mode of ['self-managed', 'cert-manager', 'secret'] as const) {
        it(`helm template (TLS ${mode}) is accepted by the API server (kubectl apply --dry-run=server)`, async () => {
          const secretArgs =
            mode === 'secret'
              ? ['--set', `tls.secret.caBundle=${Buffer.from(cluster.ca.certPem).toString('base64')}`, '--set', 'metrics.serviceMonitor.enabled=false']
              : [];
          const rendered = await helm(['template', RELEASE, CHART, '-n', NAMESPACE, '-f', allValues, '--set', `tls.mode=${mode}`, ...secretArgs]);
          const applied = await cluster.kubectl(['apply', '--dry-run=server', '-n', NAMESPACE, '-f', '-'], { input: rendered.stdout });
          const docs = documents(rendered.stdout);
          assert.equal(applied.stdout.trim().split('\n').length, docs.length, applied.stdout);
          const kinds = new Set(docs.map((doc) => doc['kind']));
          for (const kind of [
            'Deployment',
            'Service',
            'ServiceAccount',
            'Role',
            'RoleBinding',
            'PodDisruptionBudget',
            'NetworkPolicy',
            'ConfigMap',
            'ValidatingWebhookConfiguration',
          ])
            assert.ok(kinds.has(kind), `${mode}: no ${kind}`);
          if (mode === 'cert-manager') assert.ok(kinds.has('Certificate') && kinds.has('Issuer'));
          const webhook = find(docs, 'ValidatingWebhookConfiguration', RELEASE);
          const caBundle = at(webhook, 'webhooks', 0, 'clientConfig', 'caBundle');
          assert.equal(caBundle === undefined, mode !== 'secret', 'caBundle only in the chart in secret mode');
        });
      }

      it("the chart's webhooks and pod security are manifests/' own", async () => {
        // The files as written (kustomize re-folds the CEL expressions' block scalars into other strings).
        const read = (path: string): Json[] => documents(readFileSync(join(REPO_ROOT, 'manifests', path), 'utf8'));
        const base = [...read('base/validatingwebhookconfiguration.yaml'), ...read('base/deployment.yaml')];
        const optional = read('optional/ai-workloads-webhook.yaml');
        // Rendered with manifests/' own names (the namespaceSelector names the release namespace).
        const chart = documents((await helm(['template', 'modelgate', CHART, '-n', 'modelgate', '-f', allValues])).stdout);
        for (const [ours, theirs] of [
          [find(chart, 'ValidatingWebhookConfiguration', 'modelgate'), find(base, 'ValidatingWebhookConfiguration')],
          [find(chart, 'ValidatingWebhookConfiguration', 'modelgate-ai-workloads'), find(optional, 'ValidatingWebhookConfiguration')],
        ]) {
          for (const field of ['rules', 'matchConditions', 'namespaceSelector', 'failurePolicy', 'sideEffects', 'timeoutSeconds', 'matchPolicy'])
            assert.deepEqual(at(ours, 'webhooks', 0, field), at(theirs, 'webhooks', 0, field), field);
        }
        const [ours, theirs] = [find(chart, 'Deployment'), find(base, 'Deployment')];
        assert.deepEqual(at(ours, 'spec', 'template', 'spec', 'securityContext'), at(theirs, 'spec', 'template', 'spec', 'securityContext'));
        assert.deepEqual(
          at(ours, 'spec', 'template', 'spec', 'containers', 0, 'securityContext'),
          at(theirs, 'spec', 'template', 'spec', 'containers', 0, 'securityContext'),
        );
        assert.deepEqual(
          at(ours, 'spec', 'template', 'spec', 'containers', 0, 'resources'),
          at(theirs, 'spec', 'template', 'spec', 'containers', 0, 'resources'),
        );
        // The bundled policy, as the base ships it.
        assert.equal(
          at(find(chart, 'ConfigMap', 'modelgate-policies'), 'data', 'policy.yaml'),
          readFileSync(join(REPO_ROOT, 'manifests', 'policy.yaml'), 'utf8'),
        );
      });

      describe('helm install, self-managed TLS, modelgate outside the cluster with the chart ServiceAccount', () => {
        const replicas: { port: number; proc: ManagedProcess; certFile: string }[] = [];
        let saKubeconfig: string;

        const logLines = (proc: ManagedProcess): Json[] =>
          readFileSync(proc.logFile, 'utf8')
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as Json);
        const tryCreate = (name: string, reference: string) => cluster.request('POST', '/api/v1/namespaces/models/pods?dryRun=All', pod(name, reference));
        const getJson = async (...args: string[]): Promise<Json> => JSON.parse((await cluster.kubectl(['get', ...args, '-o', 'json'])).stdout) as Json;

        before(async () => {
          const port = await freePort();
          const values = join(dir, `install-values-helm${major}.yaml`);
          writeFileSync(
            values,
            `webhook: {url: "https://127.0.0.1:${port}/validate"}
tls:
  selfManaged: {extraNames: ["127.0.0.1"], certValidity: 90s, certRenewBefore: 60s}
`,
          );
          await helm(['install', RELEASE, CHART, '-n', NAMESPACE, '-f', values]);
          // A token of the chart's ServiceAccount: modelgate runs with exactly the chart's RBAC.
          const token = await cluster.request('POST', `/api/v1/namespaces/${NAMESPACE}/serviceaccounts/${RELEASE}/token`, {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { expirationSeconds: 3600 },
          });
          assert.equal(token.status, 201, token.body);
          saKubeconfig = join(dir, `sa-kubeconfig-helm${major}`);
          writeFileSync(
            saKubeconfig,
            JSON.stringify({
              apiVersion: 'v1',
              kind: 'Config',
              clusters: [
                { name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.ca.certPem).toString('base64') } },
              ],
              users: [{ name: 'modelgate', user: { token: String(at(JSON.parse(token.body), 'status', 'token')) } }],
              contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'modelgate', namespace: NAMESPACE } }],
              'current-context': 'e2e',
            }),
          );
          const deployment = await getJson('deployment', RELEASE, '-n', NAMESPACE);
          const args = at(deployment, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
          assert.equal(args[0], 'serve');
          // Two replicas at once, each with the Deployment's arguments; the webhook calls the first.
          const ports = [port, await freePort()];
          await Promise.all(
            ports.map(async (replicaPort, index) => {
              const certFile = join(dir, `helm${major}-replica-${index}.crt`);
              const proc = await startProcess({
                name: `modelgate-helm${major}-${index}`,
                command: process.execPath,
                args: serveArgs(replicaPort, certFile, join(dir, `helm${major}-replica-${index}.key`), [
                  ...args.slice(1),
                  '--namespace',
                  NAMESPACE,
                  '--tls-sync-interval',
                  '1s',
                ]),
                cwd: REPO_ROOT,
                env: loopbackEnv({ KUBECONFIG: saKubeconfig, MODELGATE_LOG_LEVEL: 'info' }),
                ready: { kind: 'log', pattern: /modelgate listening/ },
                readyTimeoutMs: 60_000,
                stopTimeoutMs: 15_000,
              });
              replicas[index] = { port: replicaPort, proc, certFile };
            }),
          );
        });

        after(async () => {
          // Whatever failed above, the next Helm's pods must not meet this release's webhooks.
          await Promise.all(replicas.map(({ proc }) => proc.stop()));
          await cluster.kubectl(['delete', 'validatingwebhookconfiguration', RELEASE, `${RELEASE}-ai-workloads`, '--ignore-not-found'], { allowFailure: true });
        });

        it('the first model pod is judged with no manual TLS step', async () => {
          // The policy ConfigMap is read through the API: wait until the replica is ready.
          for (let i = 0; i < 100; i++) {
            const probe = await tryCreate('probe', `registry.example/models/llama@${DIGEST}`);
            if (probe.status === 201) break;
            await sleep(200);
          }
          const denied = await tryCreate('tagged', 'registry.example/models/llama:v1');
          assert.equal(denied.status, 403, denied.body);
          assert.match(denied.body, /modelgate denied Pod models\/tagged/);
          assert.match(denied.body, /pinned-models/);
          const allowed = await tryCreate('pinned', `registry.example/models/llama:v1@${DIGEST}`);
          assert.equal(allowed.status, 201, allowed.body);

          const secret = await getJson('secret', `${RELEASE}-tls`, '-n', NAMESPACE);
          const caBundle = String(at(secret, 'data', 'ca.crt'));
          const webhook = await getJson('validatingwebhookconfiguration', RELEASE);
          assert.equal(at(webhook, 'webhooks', 0, 'clientConfig', 'caBundle'), caBundle);
        });

        it('two replicas started together share one pair (one created it, the other read it)', async () => {
          const [a, b] = [readFileSync(replicas[0]?.certFile as string, 'utf8'), readFileSync(replicas[1]?.certFile as string, 'utf8')];
          const secret = await getJson('secret', `${RELEASE}-tls`, '-n', NAMESPACE);
          const stored = Buffer.from(String(at(secret, 'data', 'tls.crt')), 'base64').toString('utf8');
          // Renewal runs every 30 s here: compare issuers (the one CA) rather than the leaves.
          const ca = new X509Certificate(Buffer.from(String(at(secret, 'data', 'ca.crt')), 'base64'));
          for (const pem of [a, b, stored]) assert.ok(new X509Certificate(pem).verify(ca.publicKey));
          const created = replicas.flatMap(({ proc }) =>
            logLines(proc).filter((line) => line['msg'] === 'self-managed TLS: Secret updated' && String(line['changes']).includes('created a CA')),
          );
          assert.equal(created.length, 1, 'exactly one replica created the CA');
        });

        it('RBAC: the ServiceAccount reaches its one Secret and its own webhook configuration, nothing else', async () => {
          const can = async (...args: string[]): Promise<string> =>
            (await cluster.kubectl(['auth', 'can-i', ...args, '-n', NAMESPACE, '--kubeconfig', saKubeconfig], { allowFailure: true })).stdout.trim();
          assert.equal(await can('update', `secret/${RELEASE}-tls`), 'yes');
          assert.equal(await can('get', 'secret/other'), 'no');
          assert.equal(await can('list', 'secrets'), 'no');
          assert.equal(await can('create', 'secrets'), 'no');
          assert.equal(await can('update', `validatingwebhookconfiguration/${RELEASE}`), 'yes');
          assert.equal(await can('update', 'validatingwebhookconfiguration/someone-else'), 'no');
        });

        it('helm upgrade keeps the caBundle modelgate wrote', async () => {
          const writes = (): number =>
            replicas.reduce((sum, { proc }) => sum + logLines(proc).filter((line) => line['msg'] === 'self-managed TLS: caBundle written').length, 0);
          const before = writes();
          await helm(['upgrade', RELEASE, CHART, '-n', NAMESPACE, '--reuse-values', '--set', 'logLevel=debug']);
          const webhook = await getJson('validatingwebhookconfiguration', RELEASE);
          assert.ok(String(at(webhook, 'webhooks', 0, 'clientConfig', 'caBundle')).length > 100, 'caBundle still there right after the upgrade');
          await sleep(3_000);
          assert.equal(writes(), before, 'no replica had to write the caBundle again');
          const allowed = await tryCreate('after-upgrade', `registry.example/models/llama@${DIGEST}`);
          assert.equal(allowed.status, 201, allowed.body);
        });

        // The forced renewal is modelgate's behaviour, the same whichever Helm installed it: it runs once (Helm 4).
        if (renewal) {
          it('a serving certificate renewal passes with no failed review', async () => {
            const first = await servedCertificate(replicas[0]?.port as number);
            const failures: string[] = [];
            let reviews = 0;
            let renewed: X509Certificate | undefined;
            const deadline = Date.now() + 75_000;
            // Reviews every 250 ms until the served certificate has changed and 5 s more.
            let until = deadline;
            while (Date.now() < until) {
              const result = await tryCreate(`renewal-${reviews}`, `registry.example/models/llama@${DIGEST}`);
              reviews++;
              if (result.status !== 201) failures.push(`${result.status}: ${result.body.slice(0, 300)}`);
              if (renewed === undefined) {
                const served = await servedCertificate(replicas[0]?.port as number);
                if (served.serialNumber !== first.serialNumber) {
                  renewed = served;
                  until = Math.min(deadline, Date.now() + 5_000);
                }
              }
              await sleep(250);
            }
            assert.ok(renewed, 'the served certificate was renewed');
            assert.equal(renewed.issuer, first.issuer, 'by the same CA');
            assert.ok(new Date(renewed.validTo) > new Date(first.validTo));
            assert.ok(reviews > 20, `${reviews} reviews`);
            assert.deepEqual(failures, []);
            const lines = logLines(replicas[0]?.proc as ManagedProcess);
            assert.ok(lines.some((line) => line['msg'] === 'TLS key pair reloaded'));
          });
        }

        it('helm uninstall removes the webhook configurations and the TLS Secret', async () => {
          await Promise.all(replicas.map(({ proc }) => proc.stop()));
          await helm(['uninstall', RELEASE, '-n', NAMESPACE]);
          const gone = async (...args: string[]): Promise<void> => {
            const result = await cluster.kubectl(['get', ...args, '-o', 'name'], { allowFailure: true });
            assert.notEqual(result.code, 0, `${args.join(' ')} still there`);
            assert.match(result.stderr, /NotFound/);
          };
          await gone('validatingwebhookconfiguration', RELEASE);
          await gone('secret', `${RELEASE}-tls`, '-n', NAMESPACE);
          await gone('deployment', RELEASE, '-n', NAMESPACE);
          // With no webhook left (once the API server's informer has seen it go), nothing judges the tagged reference.
          let allowed = await tryCreate('after-uninstall', 'registry.example/models/llama:v1');
          for (let i = 0; i < 50 && allowed.status !== 201; i++) {
            await sleep(200);
            allowed = await tryCreate('after-uninstall', 'registry.example/models/llama:v1');
          }
          assert.equal(allowed.status, 201, allowed.body);
        });
      });
    });
  }
});
