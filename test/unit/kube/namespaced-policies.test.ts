/**
 * Namespaced policies only add requirements: their findings add to the
 * cluster's, and only cluster policies stand in for the Config's defaultAction.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { handleAdmission } from '../../../src/admission/handle.ts';
import type { AdmissionOutcome } from '../../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../../src/admission/review.ts';
import { PolicyLoadError, policySetFromTexts } from '../../../src/policy/load.ts';
import type { PolicyText } from '../../../src/policy/load.ts';
import type { PolicySet } from '../../../src/policy/types.ts';
import { DIGEST, PINNED, UNPINNED, admissionReview, kubeObject } from '../../support/objects.ts';

const doc = (name: string, spec: string): string => `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
const config = (action: string): string => `apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: {defaultAction: ${action}}\n`;

function set(cluster: string, namespaced: Record<string, string> = {}): PolicySet {
  const texts: PolicyText[] = [{ source: 'cluster.yaml', text: cluster, scope: 'cluster' }];
  for (const [namespace, text] of Object.entries(namespaced)) texts.push({ source: `configmap ${namespace}/extra key p.yaml`, text, scope: namespace });
  return policySetFromTexts(texts);
}

function review(reference: string, namespace: string, policySet: PolicySet): AdmissionOutcome {
  const object = kubeObject('Pod', [{ name: 'm', reference }], { namespace });
  const outcome = handleAdmission(parseAdmissionReview(admissionReview(object, { namespace })), { policySet, artifacts: undefined });
  assert.ok(!(outcome instanceof Promise));
  return outcome;
}

const OTHER = `quay.io/x/m@${DIGEST}`;

describe('namespaced policies', () => {
  it('cannot relax defaultAction deny: a reference only a namespaced policy matches is still denied by default', () => {
    const policies = set(doc('acme', '{match: {references: ["ghcr.io/acme/**"]}}') + config('deny'), {
      'team-a': doc('anything-goes', '{mode: audit, requireDigest: false}'),
    });
    const outcome = review(OTHER, 'team-a', policies);
    assert.equal(outcome.decision.allowed, false);
    assert.deepEqual(outcome.decision.verdicts[0]?.policies, ['team-a/anything-goes']);
    assert.match(
      outcome.decision.message ?? '',
      /rule defaultAction: no cluster ModelPolicy matches quay\.io\/x\/m in namespace team-a \(the namespace's own policies add requirements but do not replace one\), and the default action is deny/,
    );
    // Without the namespaced policy the message is the usual one.
    assert.match(
      review(OTHER, 'team-a', set(doc('acme', '{match: {references: ["ghcr.io/acme/**"]}}'))).decision.message ?? '',
      /no ModelPolicy matches quay\.io\/x\/m in namespace team-a, and/,
    );
  });

  it('defaultAction warn still warns, and the namespaced findings come with it', () => {
    const policies = set(doc('acme', '{match: {references: ["ghcr.io/acme/**"]}}') + config('warn'), {
      'team-a': doc('registries', '{registries: ["registry.internal"]}'),
    });
    const outcome = review(OTHER, 'team-a', policies);
    assert.equal(outcome.decision.allowed, false, 'the namespaced enforce finding denies');
    assert.deepEqual(outcome.decision.reasons, [
      'spec.volumes[1].image.reference: (default)/defaultAction (warn)',
      'spec.volumes[1].image.reference: team-a/registries/registries',
    ]);
    assert.match(outcome.decision.message ?? '', /policy "team-a\/registries" rule registries: registry quay\.io is not one of the allowed registries/);
  });

  it('add requirements on top of a cluster policy that allows', () => {
    const policies = set(doc('pinned', '{}') + config('deny'), { 'team-a': doc('pinned', '{registries: ["registry.internal"]}') });
    const denied = review(PINNED, 'team-a', policies);
    assert.equal(denied.decision.allowed, false);
    assert.deepEqual(denied.decision.verdicts[0]?.policies, ['pinned', 'team-a/pinned']);
    assert.match(
      denied.decision.message ?? '',
      /policy "team-a\/pinned" rule registries: registry ghcr\.io is not one of the allowed registries \(registry\.internal\)/,
    );
    assert.ok(!(denied.decision.message ?? '').includes('defaultAction'), 'a cluster policy matched: no defaultAction finding');
    // Other namespaces are not touched.
    assert.equal(review(PINNED, 'team-b', policies).decision.allowed, true);
  });

  it('a permissive namespaced policy does not undo a cluster enforce failure', () => {
    const policies = set(doc('pinned', '{}'), { 'team-a': doc('relaxed', '{mode: audit, requireDigest: false}') });
    const outcome = review(UNPINNED, 'team-a', policies);
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /policy "pinned" rule requireDigest/);
  });

  it('with defaultAction allow, a namespace can require more than the cluster', () => {
    const policies = set(config('allow'), { 'team-a': doc('pinned', '{}') });
    assert.equal(review(UNPINNED, 'team-a', policies).decision.allowed, false);
    assert.equal(review(UNPINNED, 'team-b', policies).decision.allowed, true);
    assert.equal(review(PINNED, 'team-a', policies).decision.allowed, true);
  });

  it('cannot reach into other namespaces whatever their match says', () => {
    const policies = set(config('allow'), { 'team-a': doc('everywhere', '{match: {namespaces: ["*"]}}') });
    assert.equal(review(UNPINNED, 'team-b', policies).decision.allowed, true);
    assert.equal(review(UNPINNED, 'team-a', policies).decision.allowed, false);
  });

  it('a namespace holds at most 16 policies, 4,096 characters of patterns and 16 attestation conditions; a tenant’s glob is matched in linear time (issue 9)', () => {
    const seventeen = Array.from({ length: 17 }, (_, i) => doc(`p${i}`, '{}')).join('');
    assert.throws(
      () => set(doc('pinned', '{}'), { 'team-a': seventeen }),
      (error: unknown) => error instanceof PolicyLoadError && /namespace team-a has 17 ModelPolicies; a namespace may have at most 16/.test(error.message),
    );
    const globs = Array.from({ length: 20 }, (_, i) => `"ghcr.io/${'x'.repeat(240)}${i}/**"`).join(', ');
    assert.throws(
      () => set(doc('pinned', '{}'), { 'team-a': doc('wide', `{match: {references: [${globs}]}}`) }),
      (error: unknown) => error instanceof PolicyLoadError && /policies hold \d+ characters of patterns .* at most 4096/.test(error.message),
    );
    assert.throws(() => set(doc('pinned', '{}'), { 'team-a': doc('long', `{match: {references: ["${'a'.repeat(256)}"]}}`) }), /at most 255 characters long/);
    // Each attestation condition costs up to its evaluation budget per review: a namespace holds at most 16.
    const key = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const attested = (conditions: number) =>
      `{attestations: [{name: a, predicateType: "https://slsa.dev/provenance/v1", authorities: [{name: k, key: ${key}}], conditions: [${Array.from({ length: conditions }, () => '{expression: "true"}').join(', ')}]}]}`;
    assert.doesNotThrow(() => set(doc('pinned', '{}'), { 'team-a': doc('a', attested(8)) + doc('b', attested(8)) }));
    assert.throws(
      () => set(doc('pinned', '{}'), { 'team-a': doc('a', attested(9)) + doc('b', attested(8)) }),
      (error: unknown) =>
        error instanceof PolicyLoadError && /namespace team-a's policies hold 17 attestation conditions; a namespace may hold at most 16/.test(error.message),
    );
    // The backtracking bomb of the issue, from a tenant: the review still returns at once.
    const bomb = set(doc('pinned', '{}'), { 'team-a': doc('bomb', '{match: {references: ["**a**a**a**a**a**a**b"]}}') });
    const started = performance.now();
    review(`ghcr.io/${'a'.repeat(200)}@${DIGEST}`, 'team-a', bomb);
    assert.ok(performance.now() - started < 1_000, `${performance.now() - started} ms`);
  });
});
