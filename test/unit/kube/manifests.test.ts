/** The shipped manifests, read as YAML: what the policy watcher needs from them (kubectl checks are in test/e2e/policies.test.ts). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { AI_WORKLOAD_KINDS, KUBERNETES_KINDS } from '../../../src/admission/kinds.ts';
import { PACKAGE_ROOT } from '../../../src/core/package-root.ts';

type Json = Record<string, unknown>;
const MANIFESTS = join(PACKAGE_ROOT, 'manifests');
const read = (path: string): Json[] => parseAllDocuments(readFileSync(join(MANIFESTS, path), 'utf8')).map((doc) => doc.toJS() as Json);
const at = (value: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((node, key) => (typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[key] : undefined), value);

describe('manifests', () => {
  it('the base ships the bundled policy unchanged (kustomize reads only below base/)', () => {
    assert.equal(readFileSync(join(MANIFESTS, 'base', 'policy.yaml'), 'utf8'), readFileSync(join(MANIFESTS, 'policy.yaml'), 'utf8'));
  });

  it('the Deployment watches ConfigMaps with its own token and mounts no policy files', () => {
    const [deployment] = read('base/deployment.yaml');
    const spec = at(deployment, 'spec', 'template', 'spec') as Json;
    assert.equal(spec['automountServiceAccountToken'], true);
    assert.equal(spec['serviceAccountName'], 'modelgate');
    const container = at(spec, 'containers', 0) as Json;
    const env = container['env'] as Json[];
    assert.deepEqual(
      env.find((e) => e['name'] === 'MODELGATE_POLICY'),
      { name: 'MODELGATE_POLICY', value: '' },
    );
    assert.deepEqual(
      at(
        env.find((e) => e['name'] === 'MODELGATE_NAMESPACE'),
        'valueFrom',
        'fieldRef',
        'fieldPath',
      ),
      'metadata.namespace',
    );
    // The TLS Secret, and an emptyDir for the TUF-refreshed public-good root: no policy files.
    assert.deepEqual(
      (spec['volumes'] as Json[]).map((v) => v['name']),
      ['cache', 'tls'],
    );
    assert.deepEqual(
      (spec['volumes'] as Json[]).find((v) => v['name'] === 'cache'),
      { name: 'cache', emptyDir: { sizeLimit: '16Mi' } },
    );
    assert.deepEqual(
      (container['volumeMounts'] as Json[]).map((v) => v['name']),
      ['tls', 'cache'],
    );
    const cacheDir = env.find((e) => e['name'] === 'MODELGATE_CACHE_DIR')?.['value'];
    assert.equal(cacheDir, '/var/cache/modelgate');
    assert.equal((container['volumeMounts'] as Json[]).find((v) => v['name'] === 'cache')?.['mountPath'], cacheDir);
  });

  it('RBAC: ConfigMaps read and Events written in the namespace; cluster-wide grants only in optional/', () => {
    const [role, binding] = read('base/rbac.yaml');
    assert.equal(role?.['kind'], 'Role');
    assert.deepEqual(role?.['rules'], [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    assert.deepEqual(at(binding, 'subjects', 0), { kind: 'ServiceAccount', name: 'modelgate', namespace: 'modelgate' });
    const [namespaced] = read('optional/namespaced-policies-rbac.yaml');
    assert.equal(namespaced?.['kind'], 'ClusterRole');
    assert.deepEqual(at(namespaced, 'rules', 0, 'verbs'), ['get', 'list', 'watch']);
    const [pullSecrets] = read('optional/pull-secrets-rbac.yaml');
    assert.deepEqual(at(pullSecrets, 'rules', 0), { apiGroups: [''], resources: ['secrets', 'serviceaccounts'], verbs: ['get'] });
  });

  it('NetworkPolicy: 8443 in from anywhere; DNS, the API server and registries out', () => {
    const [policy] = read('base/networkpolicy.yaml');
    assert.deepEqual(at(policy, 'spec', 'policyTypes'), ['Ingress', 'Egress']);
    assert.deepEqual(at(policy, 'spec', 'ingress'), [{ ports: [{ protocol: 'TCP', port: 8443 }] }]);
    const egressPorts = (at(policy, 'spec', 'egress') as Json[]).flatMap((rule) =>
      (rule['ports'] as Json[]).map((p) => `${String(p['protocol'])}/${String(p['port'])}`),
    );
    assert.deepEqual(egressPorts, ['UDP/53', 'TCP/53', 'TCP/443', 'TCP/6443', 'TCP/5000']);
  });

  it('cert-manager overlay: self-signed CA, CA Issuer, the serving Certificate into modelgate-tls, CA injection annotation', () => {
    const docs = read('overlays/cert-manager/certificates.yaml');
    const byName = (kind: string, name: string): Json | undefined => docs.find((d) => d['kind'] === kind && at(d, 'metadata', 'name') === name);
    assert.deepEqual(at(byName('Issuer', 'modelgate-selfsigned'), 'spec'), { selfSigned: {} });
    const ca = byName('Certificate', 'modelgate-ca');
    assert.equal(at(ca, 'spec', 'isCA'), true);
    assert.equal(at(ca, 'spec', 'issuerRef', 'name'), 'modelgate-selfsigned');
    assert.equal(at(byName('Issuer', 'modelgate-ca'), 'spec', 'ca', 'secretName'), at(ca, 'spec', 'secretName'));
    const serving = byName('Certificate', 'modelgate');
    assert.equal(at(serving, 'spec', 'secretName'), 'modelgate-tls');
    assert.deepEqual(at(serving, 'spec', 'dnsNames'), ['modelgate.modelgate.svc', 'modelgate.modelgate.svc.cluster.local']);
    assert.equal(at(serving, 'spec', 'issuerRef', 'name'), 'modelgate-ca');
    const kustomization = readFileSync(join(MANIFESTS, 'overlays', 'cert-manager', 'kustomization.yaml'), 'utf8');
    assert.match(kustomization, /cert-manager\.io\/inject-ca-from: modelgate\/modelgate/);
  });

  it('the AI workloads webhook registers every AI workload kind modelgate knows, and the main one every Kubernetes kind', () => {
    const resourcesByGroup = (configuration: Json | undefined): Record<string, string[]> => {
      const out: Record<string, string[]> = {};
      for (const rule of (at(configuration, 'webhooks', 0, 'rules') as Json[]) ?? []) {
        for (const group of rule['apiGroups'] as string[]) out[group] = [...(out[group] ?? []), ...(rule['resources'] as string[])].sort();
      }
      return out;
    };
    const table = (kinds: readonly { group: string; resource: string }[]): Record<string, string[]> => {
      const out: Record<string, string[]> = {};
      for (const kind of kinds) out[kind.group] = [...(out[kind.group] ?? []), kind.resource].sort();
      return out;
    };
    const [ai] = read('optional/ai-workloads-webhook.yaml');
    assert.deepEqual(resourcesByGroup(ai), table(AI_WORKLOAD_KINDS));
    const [main] = read('base/validatingwebhookconfiguration.yaml');
    assert.deepEqual(resourcesByGroup(main), table(KUBERNETES_KINDS));
    assert.equal(at(ai, 'webhooks', 0, 'failurePolicy'), 'Fail');
    assert.deepEqual(at(ai, 'webhooks', 0, 'namespaceSelector'), at(main, 'webhooks', 0, 'namespaceSelector'));
  });

  it('the image runs with the node flags and malloc settings the benchmarks measure (package.json "config")', () => {
    const config = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { config: { nodeFlags: string; mallocEnv: string } }).config;
    const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, new RegExp(`NODE_OPTIONS="${config.nodeFlags}"`));
    for (const setting of config.mallocEnv.split(' ')) assert.ok(dockerfile.includes(` ${setting} `) || dockerfile.includes(` ${setting}\n`), setting);
  });
});
