import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { composePolicies, describeRejection, policyUnit } from '../../../src/kube/policy-configmaps.ts';
import type { Composition, PolicyUnit } from '../../../src/kube/policy-configmaps.ts';
import { PolicyLoadError } from '../../../src/policy/load.ts';
import { createTestPki } from '../../support/sigstore/pki.ts';

const NS = 'modelgate';

const policy = (name: string, spec = '{}'): string => `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const config = (spec: string): string => `apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: ${spec}\n`;

function configMap(name: string, data: Record<string, string>, namespace = NS, extra: Partial<V1ConfigMap> = {}): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, resourceVersion: '1', labels: { 'modelgate.dev/policy': 'true' } },
    data,
    ...extra,
  };
}

const unit = (name: string, data: Record<string, string>, namespace = NS): PolicyUnit => policyUnit(configMap(name, data, namespace), NS);

/** Applies rounds of desired ConfigMaps, each from the last round's good content. */
function rounds(...desired: (readonly PolicyUnit[])[]): Composition[] {
  const results: Composition[] = [];
  let good: ReadonlyMap<string, PolicyUnit> = new Map();
  for (const units of desired) {
    const result = composePolicies(good, units);
    results.push(result);
    good = result.good;
  }
  return results;
}

const names = (result: Composition): string[] => result.policySet.policies.map((p) => p.name);

describe('policy ConfigMap units', () => {
  it('reads every *.yaml / *.yml data key in key order, named by ConfigMap and key', () => {
    const u = policyUnit(configMap('p', { 'b.yml': policy('b'), 'a.yaml': policy('a'), 'README.md': '# not policy', 'c.YAML': policy('c') }), NS);
    assert.equal(u.key, 'modelgate/p');
    assert.equal(u.scope, 'cluster');
    assert.deepEqual(
      u.texts.map((t) => t.source),
      ['configmap modelgate/p key a.yaml', 'configmap modelgate/p key b.yml', 'configmap modelgate/p key c.YAML'],
    );
  });

  it('ConfigMaps of other namespaces are namespaced; the fingerprint follows content, not resourceVersion', () => {
    const a = policyUnit(configMap('p', { 'p.yaml': policy('a') }, 'team-a'), NS);
    assert.equal(a.scope, 'team-a');
    const moved = policyUnit(configMap('p', { 'p.yaml': policy('a') }, 'team-a', { metadata: { name: 'p', namespace: 'team-a', resourceVersion: '99' } }), NS);
    assert.equal(a.fingerprint, moved.fingerprint);
    assert.notEqual(a.fingerprint, policyUnit(configMap('p', { 'p.yaml': policy('b') }, 'team-a'), NS).fingerprint);
  });

  it('refuses policy in binaryData and namespaced policies from a namespace named "cluster"', () => {
    const binary = policyUnit(configMap('p', {}, NS, { binaryData: { 'p.yaml': Buffer.from(policy('a')).toString('base64') } }), NS);
    assert.match(binary.problems[0]?.message ?? '', /must be in data, not binaryData/);
    const reserved = policyUnit(configMap('p', { 'p.yaml': policy('a') }, 'cluster'), NS);
    assert.match(reserved.problems[0]?.message ?? '', /namespace named "cluster"/);
    const [result] = rounds([reserved]);
    assert.equal(result?.rejections[0]?.kept, 'none');
    assert.deepEqual(names(result as Composition), []);
  });
});

describe('composing policy ConfigMaps', () => {
  it('loads every ConfigMap into one set with one Config', () => {
    const [result] = rounds([
      unit('a', { 'p.yaml': policy('alpha') }),
      unit('b', { 'p.yaml': policy('beta'), 'config.yaml': config('{defaultAction: allow}') }),
    ]);
    assert.ok(result);
    assert.deepEqual(names(result), ['alpha', 'beta']);
    assert.equal(result.policySet.config.defaultAction, 'allow');
    assert.deepEqual(result.rejections, []);
    assert.deepEqual([...result.good.keys()], ['modelgate/a', 'modelgate/b']);
  });

  it('an invalid change keeps that ConfigMap’s last good content while the others update', () => {
    const [first, second, third] = rounds(
      [unit('a', { 'p.yaml': policy('alpha', '{mode: warn}') }), unit('b', { 'p.yaml': policy('beta') })],
      [unit('a', { 'p.yaml': policy('alpha', '{mode: block}') }), unit('b', { 'p.yaml': policy('beta', '{mode: audit}') })],
      [unit('a', { 'p.yaml': policy('alpha', '{mode: enforce}') }), unit('b', { 'p.yaml': policy('beta', '{mode: audit}') })],
    );
    assert.ok(first && second && third);
    assert.equal(second.policySet.policies.find((p) => p.name === 'alpha')?.mode, 'warn', 'a keeps its last good content');
    assert.equal(second.policySet.policies.find((p) => p.name === 'beta')?.mode, 'audit', 'b updates normally');
    assert.equal(second.rejections.length, 1);
    const [rejection] = second.rejections;
    assert.equal(rejection?.unit.key, 'modelgate/a');
    assert.equal(rejection?.kept, 'last-good');
    assert.deepEqual(
      rejection?.problems.map((p) => [p.source, p.document, p.path]),
      [['configmap modelgate/a key p.yaml', 1, 'spec.mode']],
    );
    const text = describeRejection(rejection as NonNullable<typeof rejection>);
    assert.match(
      text,
      /^ConfigMap modelgate\/a holds invalid policy; its last good content stays active:\n {2}configmap modelgate\/a key p\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "block"$/,
    );
    assert.equal(third.policySet.policies.find((p) => p.name === 'alpha')?.mode, 'enforce', 'fixed content is taken');
    assert.deepEqual(third.rejections, []);
  });

  it('a new invalid ConfigMap has nothing active; deleting a ConfigMap removes its policies', () => {
    const [first, second] = rounds(
      [unit('a', { 'p.yaml': policy('alpha') }), unit('broken', { 'p.yaml': 'kind: [' })],
      [unit('broken', { 'p.yaml': 'kind: [' })],
    );
    assert.ok(first && second);
    assert.deepEqual(names(first), ['alpha']);
    assert.equal(first.rejections[0]?.kept, 'none');
    assert.match(first.rejections[0]?.problems[0]?.message ?? '', /^YAML: /);
    assert.deepEqual(names(second), []);
    assert.deepEqual([...second.good.keys()], []);
  });

  it('a change that collides with another ConfigMap is the one refused', () => {
    const [, second] = rounds(
      [unit('a', { 'p.yaml': policy('alpha') }), unit('z', { 'p.yaml': policy('zeta') })],
      [unit('a', { 'p.yaml': `${policy('alpha')}---\n${policy('zeta')}` }), unit('z', { 'p.yaml': policy('zeta') })],
    );
    assert.ok(second);
    assert.deepEqual(names(second), ['alpha', 'zeta']);
    assert.equal(second.rejections.length, 1);
    assert.equal(second.rejections[0]?.unit.key, 'modelgate/a');
    assert.match(second.rejections[0]?.problems[0]?.message ?? '', /policy "zeta" is also defined in configmap modelgate\/z key p\.yaml#1/);
  });

  it('a second Config in another ConfigMap is refused', () => {
    const [, second] = rounds(
      [unit('a', { 'c.yaml': config('{defaultAction: allow}') })],
      [unit('a', { 'c.yaml': config('{defaultAction: allow}') }), unit('b', { 'c.yaml': config('{defaultAction: deny}') })],
    );
    assert.ok(second);
    assert.equal(second.policySet.config.defaultAction, 'allow');
    assert.equal(second.rejections[0]?.unit.key, 'modelgate/b');
    assert.match(second.rejections[0]?.problems[0]?.message ?? '', /only one Config is allowed/);
  });

  it('deleting the Config a policy depends on drops that policy too, and says so', () => {
    const root = createTestPki().trustedRootJson();
    const signed = policy(
      'signed',
      '{signatures: {authorities: [{name: ci, keyless: {identities: [{issuer: "https://issuer.example", subject: "ci@example.com"}], trustedRoot: corp}}]}}',
    );
    const withRoot = config(`{trustedRoots: [{name: corp, json: '${root}'}]}`);
    const [first, second] = rounds([unit('config', { 'c.yaml': withRoot }), unit('signed', { 'p.yaml': signed })], [unit('signed', { 'p.yaml': signed })]);
    assert.ok(first && second);
    assert.deepEqual(first.rejections, []);
    assert.deepEqual(names(first), ['signed']);
    assert.deepEqual(names(second), []);
    assert.equal(second.rejections[0]?.unit.key, 'modelgate/signed');
    assert.equal(second.rejections[0]?.kept, 'none');
    assert.match(second.rejections[0]?.problems[0]?.message ?? '', /trusted root "corp" is not defined/);
  });

  it('a check can refuse a set (an unreadable dockerConfig): the change is held back like an invalid one', () => {
    const good = new Map<string, PolicyUnit>();
    const first = composePolicies(good, [unit('c', { 'c.yaml': config('{defaultAction: warn}') })]);
    const refuse = (set: { config: { credentials: { dockerConfig: string | undefined } } }): void => {
      if (set.config.credentials.dockerConfig !== undefined)
        throw new PolicyLoadError([
          { source: set.config.credentials.dockerConfig, document: 0, path: 'spec.credentials.dockerConfig', message: 'cannot read: ENOENT' },
        ]);
    };
    const second = composePolicies(
      first.good,
      [unit('c', { 'c.yaml': config('{defaultAction: allow, credentials: {dockerConfig: /nonexistent/config.json}}') })],
      refuse,
    );
    assert.equal(second.policySet.config.defaultAction, 'warn');
    assert.equal(second.rejections[0]?.kept, 'last-good');
    assert.match(second.rejections[0]?.problems[0]?.message ?? '', /ENOENT/);
  });
});

describe('namespaced policy ConfigMaps', () => {
  it('are confined to their namespace, named <namespace>/<name>, and may share names with cluster policies', () => {
    const [result] = rounds([
      unit('cluster', { 'p.yaml': policy('pinned', '{match: {namespaces: ["team-*"]}}') }),
      unit(
        'extra',
        { 'p.yaml': policy('pinned', '{match: {namespaces: ["*"], excludeNamespaces: ["team-a"], references: ["ghcr.io/**"]}, registries: ["ghcr.io"]}') },
        'team-a',
      ),
    ]);
    assert.ok(result);
    assert.deepEqual(result.rejections, []);
    assert.deepEqual(names(result), ['pinned', 'team-a/pinned']);
    const scoped = result.policySet.policies.find((p) => p.name === 'team-a/pinned');
    assert.equal(scoped?.scope, 'team-a');
    assert.deepEqual(scoped?.match, { namespaces: ['team-a'], excludeNamespaces: [], references: ['ghcr.io/**'] });
    assert.equal(result.policySet.policies.find((p) => p.name === 'pinned')?.scope, 'cluster');
  });

  it('may not hold a Config', () => {
    const [result] = rounds([unit('extra', { 'p.yaml': `${policy('mine')}---\n${config('{defaultAction: allow}')}` }, 'team-a')]);
    assert.ok(result);
    assert.deepEqual(names(result), []);
    assert.equal(result.policySet.config.defaultAction, 'deny');
    assert.equal(result.rejections[0]?.unit.key, 'team-a/extra');
    assert.deepEqual(
      result.rejections[0]?.problems.map((p) => [p.source, p.document, p.path]),
      [['configmap team-a/extra key p.yaml', 2, 'kind']],
    );
    assert.match(result.rejections[0]?.problems[0]?.message ?? '', /namespaced policy ConfigMap \(namespace team-a\) may not hold a Config/);
  });

  it('the same content in two namespaces is two policies', () => {
    const [result] = rounds([unit('x', { 'p.yaml': policy('strict') }, 'team-a'), unit('x', { 'p.yaml': policy('strict') }, 'team-b')]);
    assert.ok(result);
    assert.deepEqual(names(result), ['team-a/strict', 'team-b/strict']);
  });
});
