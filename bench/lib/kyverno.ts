/**
 * Kyverno's admission controller (cmd/kyverno, built by test/e2e/tools/install-peers.sh) run out
 * of cluster against the test bed's kube-apiserver, as modelgate runs there: its webhook server on
 * 127.0.0.1, `--serverIP` so that the webhook configurations it writes call that address (with
 * the caBundle of the CA its own certificate controller keeps in a Secret), leader election on a
 * Lease in its namespace. No Deployment, Service or pod: `--serverIP` makes Kyverno skip the
 * checks that look for them.
 */
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import type { Cluster } from '../../test/e2e/lib/cluster.ts';
import { freePort } from '../../test/e2e/lib/ports.ts';
import { guardedClientEnv, startProcess } from '../../test/e2e/lib/processes.ts';
import type { ManagedProcess } from '../../test/e2e/lib/processes.ts';
import { testbedCacheDir } from '../../test/e2e/lib/tools.ts';

export const KYVERNO_NAMESPACE = 'kyverno';

export interface KyvernoInstall {
  readonly version: string;
  readonly path: string;
  readonly crds: string;
}

/** What install-peers.sh recorded, or undefined when it has not run (or its binary is gone). */
export function locateKyverno(): KyvernoInstall | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(testbedCacheDir(), 'peers.json'), 'utf8')) as { kyverno?: Partial<KyvernoInstall> };
    const { version, path, crds } = parsed.kyverno ?? {};
    if (typeof version !== 'string' || typeof path !== 'string' || typeof crds !== 'string') return undefined;
    accessSync(path, constants.X_OK); // throws when the binary is gone
    return { version, path, crds };
  } catch {
    return undefined;
  }
}

async function established(cluster: Cluster, name: string): Promise<boolean> {
  const response = await cluster.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
  if (response.status !== 200) return false;
  const crd = JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true;
}

/** Creates Kyverno's CRDs (from the module, as installed) and its namespace; waits until every CRD is served. */
export async function installKyvernoCrds(cluster: Cluster, install: KyvernoInstall): Promise<void> {
  const names: string[] = [];
  for (const file of readdirSync(install.crds).filter((f) => f.endsWith('.yaml'))) {
    for (const document of parseAllDocuments(readFileSync(join(install.crds, file), 'utf8'))) {
      const crd = document.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || crd.metadata?.name === undefined) continue;
      const response = await cluster.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      if (response.status !== 201 && response.status !== 409) throw new Error(`creating CRD ${crd.metadata.name}: HTTP ${response.status}: ${response.body}`);
      names.push(crd.metadata.name);
    }
  }
  const deadline = Date.now() + 60_000;
  for (const name of names) {
    while (!(await established(cluster, name))) {
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not established within 60 s`);
      await sleep(200);
    }
  }
  await cluster.createNamespace(KYVERNO_NAMESPACE);
}

export interface RunningKyverno {
  readonly process: ManagedProcess;
  readonly port: number;
}

/**
 * Starts the admission controller. Registry access is plain HTTP on loopback
 * (`--allowInsecureRegistry`), and every other destination goes to a dead proxy
 * (guardedClientEnv), so nothing of Sigstore's public services is ever reached.
 */
export async function startKyverno(cluster: Cluster, install: KyvernoInstall): Promise<RunningKyverno> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const child = await startProcess({
    name: 'kyverno',
    command: install.path,
    args: [
      `--kubeconfig=${cluster.kubeconfig}`,
      `--serverIP=127.0.0.1:${port}`,
      '--webhookServerHost=127.0.0.1',
      `--webhookServerPort=${port}`,
      '--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca',
      '--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair',
      '--allowInsecureRegistry',
      '--metricsHost=127.0.0.1',
      `--metricsPort=${metricsPort}`,
      '--controllerRuntimeMetricsAddress=0',
      '--loggingFormat=json',
    ],
    // What the Helm chart's Deployment sets (cmd/internal/check.go refuses to start without them).
    env: guardedClientEnv({
      KYVERNO_NAMESPACE,
      KYVERNO_SERVICEACCOUNT_NAME: 'kyverno',
      KYVERNO_DEPLOYMENT: 'kyverno',
      KYVERNO_POD_NAME: 'kyverno-bench',
      INIT_CONFIG: 'kyverno',
      METRICS_CONFIG: 'kyverno-metrics',
    }),
    ready: { kind: 'port', port },
    readyTimeoutMs: 180_000,
    stopTimeoutMs: 20_000,
  });
  return { process: child, port };
}

/** The configurations Kyverno wrote that call 127.0.0.1:<port>, by kind. */
export async function kyvernoWebhookConfigurations(cluster: Cluster): Promise<{ kind: 'validating' | 'mutating'; name: string; webhooks: number }[]> {
  const out: { kind: 'validating' | 'mutating'; name: string; webhooks: number }[] = [];
  for (const kind of ['validating', 'mutating'] as const) {
    const response = await cluster.request('GET', `/apis/admissionregistration.k8s.io/v1/${kind}webhookconfigurations`);
    const list = JSON.parse(response.body) as { items?: { metadata: { name: string }; webhooks?: unknown[] }[] };
    for (const item of list.items ?? []) {
      if (item.metadata.name.startsWith('kyverno-')) out.push({ kind, name: item.metadata.name, webhooks: item.webhooks?.length ?? 0 });
    }
  }
  return out;
}

/** Deletes every webhook configuration Kyverno wrote (after it stopped), so that the next peer is alone. */
export async function removeKyvernoWebhooks(cluster: Cluster): Promise<void> {
  for (const { kind, name } of await kyvernoWebhookConfigurations(cluster)) {
    const response = await cluster.request('DELETE', `/apis/admissionregistration.k8s.io/v1/${kind}webhookconfigurations/${name}`);
    if (response.status !== 200 && response.status !== 404) throw new Error(`deleting ${name}: HTTP ${response.status}: ${response.body}`);
  }
}

/**
 * The ClusterPolicy equivalent to modelgate's signatures policy: image volumes (`imageExtractors`
 * for `spec.volumes[].image.reference`) of Pods in `namespace` that name the test registry must
 * carry a cosign signature by `publicKeyPem`, be pinned by digest, and are not mutated; no
 * transparency log or SCT (the keys are offline, as modelgate's `tlog: optional`).
 */
export function kyvernoPolicy(namespace: string, registryHost: string, publicKeyPem: string): Record<string, unknown> {
  return {
    apiVersion: 'kyverno.io/v1',
    kind: 'ClusterPolicy',
    metadata: { name: 'signed-models' },
    spec: {
      background: false,
      webhookTimeoutSeconds: 10,
      rules: [
        {
          name: 'model-volumes-signed',
          match: { any: [{ resources: { kinds: ['Pod'], namespaces: [namespace] } }] },
          imageExtractors: { Pod: [{ name: 'imagevolumes', path: '/spec/volumes/*/image', value: 'reference' }] },
          verifyImages: [
            {
              imageReferences: [`${registryHost}/*`],
              failureAction: 'Enforce',
              mutateDigest: false,
              verifyDigest: true,
              required: true,
              attestors: [{ entries: [{ keys: { publicKeys: publicKeyPem.trim(), rekor: { ignoreTlog: true }, ctlog: { ignoreSCT: true } } }] }],
            },
          ],
        },
      ],
    },
  };
}

/** Creates the policy and waits until Kyverno reports it Ready and has written its resource webhooks. */
export async function applyKyvernoPolicy(cluster: Cluster, policy: Record<string, unknown>): Promise<void> {
  const created = await cluster.request('POST', '/apis/kyverno.io/v1/clusterpolicies', policy);
  if (created.status !== 201) throw new Error(`creating the ClusterPolicy: HTTP ${created.status}: ${created.body}`);
  const name = (policy['metadata'] as { name: string }).name;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const response = await cluster.request('GET', `/apis/kyverno.io/v1/clusterpolicies/${name}`);
    const status = (JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } }).status;
    const ready = status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    const resourceWebhooks = (await kyvernoWebhookConfigurations(cluster)).filter((w) => w.name.startsWith('kyverno-resource-') && w.webhooks > 0);
    if (ready && resourceWebhooks.length > 0) return;
    if (Date.now() > deadline) throw new Error(`ClusterPolicy ${name} not ready within 120 s: ${JSON.stringify(status)}`);
    await sleep(500);
  }
}
