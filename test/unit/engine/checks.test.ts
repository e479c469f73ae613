/**
 * The check registry: every kind reports every rule it judged, with a status,
 * and only failures and errors count towards the verdict.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { artifactCheck } from '../../../src/engine/checks/artifact.ts';
import { referenceCheck } from '../../../src/engine/checks/reference.ts';
import { CHECK_KINDS, KNOWN_RULES } from '../../../src/engine/checks/registered.ts';
import { findingsOf, verdictOf } from '../../../src/engine/decision.ts';
import { createEngine } from '../../../src/engine/engine.ts';
import { evaluateReference } from '../../../src/engine/evaluate.ts';
import type { ReferenceVerdict } from '../../../src/engine/evaluate.ts';
import type { ModelReferenceSite } from '../../../src/engine/site.ts';
import { policySetFromTexts } from '../../../src/policy/load.ts';
import { parseReference } from '../../../src/reference/parse.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function policy(spec: string): string {
  return `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: p}\nspec:\n  match: {namespaces: ["*"], references: ["**"]}\n${spec}`;
}

async function judge(spec: string, reference: string): Promise<ReferenceVerdict> {
  const engine = createEngine(policySetFromTexts([{ source: 'p.yaml', text: policy(spec) }]), { offline: true });
  const site: ModelReferenceSite = { kind: 'volume', volume: 'model', path: 'spec.volumes[0].image.reference', reference, podSpec: undefined };
  return evaluateReference(site, { engine, namespace: 'team-a', deadline: Date.now() + 1000 });
}

const statuses = (verdict: ReferenceVerdict): string[] => verdict.results.map((result) => `${result.rule} ${result.status}`);

describe('check registry', () => {
  it('registers each kind once, with rule names of its own', () => {
    const names = CHECK_KINDS.map((kind) => kind.name);
    assert.deepEqual(names, ['reference', 'artifact', 'signatures', 'modelSignature', 'attestations']);
    const rules = CHECK_KINDS.flatMap((kind) => kind.rules);
    assert.equal(new Set(rules).size, rules.length);
    for (const rule of ['requireDigest', 'artifact.mountable', 'signatures', 'defaultAction']) assert.ok(KNOWN_RULES.has(rule), rule);
  });

  it('reports passing and skipped rules, not only failures', async () => {
    const verdict = await judge('  requireDigest: true\n', `ghcr.io/acme/llama@${DIGEST}`);
    assert.deepEqual(statuses(verdict), ['requireDigest pass', 'registries skipped']);
    assert.deepEqual(findingsOf(verdict.results), []);
    assert.equal(verdictOf(verdict.results), 'allow');
  });

  it('makes the results of passing reference rules once per policy, not per review', () => {
    const [first] = policySetFromTexts([{ source: 'p.yaml', text: policy('  requireDigest: true\n') }]).policies;
    assert.ok(first !== undefined);
    const ref = parseReference(`ghcr.io/acme/llama@${DIGEST}`);
    const object = { namespace: 'default', name: 'p', kind: 'Pod' };
    assert.equal(referenceCheck.judge(first, first, undefined, ref, object), referenceCheck.judge(first, first, undefined, ref, object));
  });

  it('a denied reference leaves the registry checks not checked, and says why', async () => {
    const verdict = await judge('  requireDigest: false\n  registries: [quay.io]\n  artifact: {mountable: true}\n', `ghcr.io/acme/llama@${DIGEST}`);
    assert.deepEqual(statuses(verdict), ['requireDigest skipped', 'registries fail', 'artifact.mountable not-checked']);
    assert.match(verdict.results[2]?.reason ?? '', /denied by the rules above/);
    assert.equal(verdictOf(verdict.results), 'deny');
  });

  it('without a digest, the first registry check of a policy fails once and the rest are not checked', async () => {
    const verdict = await judge(
      '  requireDigest: false\n  artifact: {mountable: true, maxSize: 1Gi}\n  signatures:\n    authorities: [{name: b, static: pass}]\n',
      'ghcr.io/acme/llama:v1',
    );
    assert.deepEqual(statuses(verdict), [
      'requireDigest skipped',
      'registries skipped',
      'artifact fail',
      'artifact.mountable not-checked',
      'artifact.maxSize not-checked',
      'signatures not-checked',
    ]);
    assert.deepEqual(
      findingsOf(verdict.results).map((finding) => finding.reason),
      ['artifact rules can only be checked on a digest-pinned reference'],
    );
  });

  it('a check that cannot run is an error, which onError decides', async () => {
    const verdict = await judge('  requireDigest: false\n  onError: warn\n  artifact: {mountable: true}\n', `ghcr.io/acme/llama@${DIGEST}`);
    assert.deepEqual(statuses(verdict), ['requireDigest skipped', 'registries skipped', 'artifact error', 'artifact.mountable not-checked']);
    assert.equal(findingsOf(verdict.results)[0]?.mode, 'warn');
    assert.equal(verdictOf(verdict.results), 'warn');
  });

  it('asks the registry for ModelPack configs only when a policy reads them', () => {
    const asked: boolean[] = [];
    const artifacts = {
      facts: (_locator: unknown, _digest: string, withConfigs: boolean) => {
        asked.push(withConfigs);
        throw new Error('offline');
      },
    };
    const target = { locator: { registry: 'ghcr.io', repository: 'acme/llama' }, digest: DIGEST, deadline: 0 };
    const rules = (formats: string[]) => ({ types: [], layerMediaTypes: [], mountable: true, formats, denyFiles: [], maxSize: undefined, licenses: [] });
    for (const configs of [[rules([])], [rules([]), rules(['safetensors'])]]) assert.throws(() => artifactCheck.fetch(target, configs, { artifacts }));
    assert.deepEqual(asked, [false, true]);
  });
});
