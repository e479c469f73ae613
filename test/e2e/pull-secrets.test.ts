/**
 * Registry credentials from the cluster: the admitted pod's imagePullSecrets
 * and its ServiceAccount's, read from a real kube-apiserver (test bed) with
 * @kubernetes/client-node, used against a real distribution registry with
 * htpasswd auth over TLS.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { handleAdmission } from '../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../src/admission/review.ts';
import { createEngine } from '../../src/engine/engine.ts';
import type { RegistryBackedEngine } from '../../src/engine/engine.ts';
import { KubePullSecretReader } from '../../src/kube/pull-secrets.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { startDistribution } from '../support/distribution.ts';
import type { RunningDistribution } from '../support/distribution.ts';
import { basicAuthorization, closePushAgents, pushManifest } from '../support/push.ts';
import { createCA, issueLoopbackServerCert } from '../support/pki.ts';
import type { CertificateAuthority } from '../support/pki.ts';
import { goodLayers, modelPack } from '../support/models.ts';
import { admissionReview, kubeObject } from '../support/objects.ts';
import type { Json } from '../support/objects.ts';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';

const NAMESPACE = 'team-private';

describe('pull secrets from the cluster', { timeout: 300_000 }, () => {
  let dir: string;
  let ca: CertificateAuthority;
  let cluster: Cluster;
  let registry: RunningDistribution;
  let api: CoreV1Api;
  const warnings: string[] = [];
  const engines: RegistryBackedEngine[] = [];
  const model = modelPack(goodLayers());

  const dockerConfigJson = (user: string, password: string): string =>
    Buffer.from(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } })).toString('base64');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-pull-secrets-'));
    ca = await createCA(dir, 'ca');
    const cert = await issueLoopbackServerCert(ca, dir, 'server');
    registry = await startDistribution({
      dir: join(dir, 'registry'),
      tls: { certPath: cert.certFile, keyPath: cert.keyFile, caPem: ca.certPem },
      htpasswd: { puller: 's3cret' },
    });
    await pushManifest({ url: registry.url, ca: ca.certPem, authorization: () => basicAuthorization('puller', 's3cret') }, 'private/llama', model);
    cluster = await startCluster();
    await cluster.createNamespace(NAMESPACE);
    const config = new KubeConfig();
    config.loadFromFile(cluster.kubeconfig);
    api = config.makeApiClient(CoreV1Api);
    const secret = (name: string, data: string) => ({ metadata: { name }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': data } });
    await api.createNamespacedSecret({ namespace: NAMESPACE, body: secret('pod-pull', dockerConfigJson('puller', 's3cret')) });
    await api.createNamespacedSecret({ namespace: NAMESPACE, body: secret('sa-pull', dockerConfigJson('puller', 's3cret')) });
    await api.createNamespacedSecret({ namespace: NAMESPACE, body: secret('wrong-pull', dockerConfigJson('puller', 'guess')) });
    await api.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'model-server' }, imagePullSecrets: [{ name: 'sa-pull' }] } });
  });

  after(async () => {
    for (const engine of engines) await engine.client?.close();
    await closePushAgents();
    await registry?.stop();
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  function engine(pullSecrets: boolean): RegistryBackedEngine {
    const text = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: private-models}
spec:
  artifact: {types: [modelpack]}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries:
    - host: "${registry.host}"
      ca: |
${ca.certPem
  .trim()
  .split('\n')
  .map((line) => `        ${line}`)
  .join('\n')}
  credentials: {pullSecrets: ${pullSecrets}}
`;
    const created = createEngine(policySetFromTexts([{ source: 'test', text }]), {
      pullSecrets: new KubePullSecretReader(api, (message) => warnings.push(message)),
    });
    engines.push(created);
    return created;
  }

  async function admit(target: RegistryBackedEngine, spec: Json) {
    const pod = kubeObject('Pod', [{ name: 'model', reference: `${registry.host}/private/llama@${model.digest}` }], { namespace: NAMESPACE });
    const object = { ...pod, spec: { ...(pod['spec'] as Json), ...spec } };
    return handleAdmission(parseAdmissionReview(admissionReview(object)), target);
  }

  it('without pull-secret lookup the private model cannot be checked, and the denial says why', async () => {
    const outcome = await admit(engine(false), { imagePullSecrets: [{ name: 'pod-pull' }] });
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /could not be checked: .*401.*add an imagePullSecret or configure the webhook's registry credentials/s);
  });

  it("uses the pod's imagePullSecrets", async () => {
    const outcome = await admit(engine(true), { imagePullSecrets: [{ name: 'pod-pull' }] });
    assert.equal(outcome.decision.allowed, true, outcome.decision.message);
  });

  it("uses the ServiceAccount's imagePullSecrets", async () => {
    const outcome = await admit(engine(true), { serviceAccountName: 'model-server' });
    assert.equal(outcome.decision.allowed, true, outcome.decision.message);
  });

  it('a wrong password is denied, naming neither the user nor the password (issue 9: answers carry no credentials)', async () => {
    const outcome = await admit(engine(true), { imagePullSecrets: [{ name: 'wrong-pull' }] });
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /the request carried the configured credentials/);
    assert.doesNotMatch(outcome.decision.message ?? '', /puller|guess/);
  });

  it('a missing Secret is skipped with a logged reason, as the kubelet does', async () => {
    warnings.length = 0;
    const outcome = await admit(engine(true), { imagePullSecrets: [{ name: 'no-such-secret' }] });
    assert.equal(outcome.decision.allowed, false);
    assert.ok(
      warnings.some((message) => /cannot read Secret team-private\/no-such-secret: HTTP 404/.test(message)),
      warnings.join('\n'),
    );
  });
});
