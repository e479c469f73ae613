import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleAdmission } from '../../src/admission/handle.ts';
import { parseAdmissionReview, InvalidReviewError } from '../../src/admission/review.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import type { PolicySet } from '../../src/policy/types.ts';
import type { AdmissionOutcome } from '../../src/admission/handle.ts';
import { DIGEST, KINDS, PINNED, UNPINNED, admissionReview, kubeObject } from '../support/objects.ts';
import type { Json, ReviewOptions } from '../support/objects.ts';
import { modelPolicy, configDocument } from '../support/policies.ts';

const pinnedOnly = policySetFromTexts([{ source: 'p.yaml', text: modelPolicy('pinned-models', '{requireDigest: true}') }]);

/** Policies without artifact rules need no I/O: the outcome must come back synchronously. */
function review(object: Json | null, options: ReviewOptions = {}, set: PolicySet = pinnedOnly): AdmissionOutcome {
  const outcome = handleAdmission(parseAdmissionReview(admissionReview(object, options)), { policySet: set, artifacts: undefined });
  assert.ok(!(outcome instanceof Promise), 'a review without artifact rules went asynchronous');
  return outcome;
}

describe('every kind that carries a pod spec', () => {
  for (const entry of KINDS) {
    it(`${entry.kind}: denies an unpinned model at ${entry.prefix}.volumes[2] and allows a pinned one`, () => {
      const denied = review(
        kubeObject(entry.kind, [
          { name: 'base', reference: PINNED },
          { name: 'adapter', reference: UNPINNED },
        ]),
      );
      assert.equal(denied.decision.allowed, false);
      assert.equal(denied.decision.verdicts.length, 2);
      assert.deepEqual(
        denied.decision.verdicts.map((v) => v.site.path),
        [`${entry.prefix}.volumes[1].image.reference`, `${entry.prefix}.volumes[2].image.reference`],
      );
      const message = denied.decision.message ?? '';
      assert.match(message, new RegExp(`^modelgate denied ${entry.kind} team-a/llm: a model reference failed policy`));
      assert.ok(message.includes(`volume "adapter" at ${entry.prefix}.volumes[2].image.reference`), message);
      assert.ok(message.includes(`reference "${UNPINNED}"`), message);
      assert.ok(message.includes('policy "pinned-models" rule requireDigest'), message);
      assert.ok(message.includes(`Fix: pin it by digest as ${UNPINNED}@sha256:<digest>`), message);
      assert.ok(!message.includes('"base"'), 'the pinned volume is not named in the denial');

      const allowed = review(kubeObject(entry.kind, [{ name: 'base', reference: PINNED }]));
      assert.equal(allowed.decision.allowed, true);
      assert.equal(allowed.skipped, undefined);
      assert.equal(allowed.decision.verdicts.length, 1);
    });
  }
});

describe('what is allowed without evaluation', () => {
  const unpinnedPod = kubeObject('Pod', [{ name: 'm', reference: UNPINNED }]);
  it('other kinds', () => {
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 's', namespace: 'a' },
      spec: { volumes: [{ name: 'm', image: { reference: UNPINNED } }] },
    };
    const outcome = review(service);
    assert.equal(outcome.decision.allowed, true);
    assert.match(outcome.skipped ?? '', /kind Service/);
  });
  it('a kind name in another group', () => {
    const foreign = { ...kubeObject('Deployment', [{ name: 'm', reference: UNPINNED }]), apiVersion: 'example.com/v1' };
    assert.match(review(foreign).skipped ?? '', /kind example\.com\/Deployment/);
  });
  it('DELETE and CONNECT', () => {
    assert.equal(review(null, { operation: 'DELETE', oldObject: unpinnedPod }).skipped, 'operation DELETE');
    assert.equal(review(unpinnedPod, { operation: 'CONNECT' }).skipped, 'operation CONNECT');
  });
  it('subresources', () => {
    assert.equal(review(unpinnedPod, { operation: 'UPDATE', oldObject: unpinnedPod, subResource: 'status' }).skipped, 'subresource status');
  });
  it('object: null', () => {
    const outcome = review(null, { operation: 'CREATE' });
    assert.equal(outcome.decision.allowed, true);
    assert.equal(outcome.skipped, 'no object');
  });
  it('objects without image volumes', () => {
    assert.equal(review(kubeObject('Deployment', [])).skipped, 'no image volumes');
  });
  it('odd shapes: volumes not a list, volume not an object, image with no pod spec', () => {
    const odd = (spec: unknown) => review({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec });
    assert.equal(odd({ volumes: 'x' }).skipped, 'no image volumes');
    assert.equal(odd({ volumes: [null, 1, 'x', []] }).skipped, 'no image volumes');
    assert.equal(odd(null).skipped, 'no image volumes');
    assert.equal(odd([]).skipped, 'no image volumes');
  });
  it('a deeply nested object costs nothing and is allowed', () => {
    let deep: Json = {};
    for (let i = 0; i < 5000; i++) deep = { nested: deep };
    const outcome = review({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'a', annotations: { x: 'y' } },
      spec: { containers: [], extra: deep },
    });
    assert.equal(outcome.decision.allowed, true);
  });
});

describe('malformed image volumes are denied with the reason', () => {
  const pod = (image: unknown): Json => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { volumes: [{ name: 'm', image }] } });
  it('missing or non-string reference', () => {
    for (const image of [{}, { reference: 42 }, null, 'ghcr.io/a/b']) {
      const outcome = review(pod(image));
      assert.equal(outcome.decision.allowed, false, JSON.stringify(image));
      assert.match(outcome.decision.message ?? '', /rule reference: the reference is not a string/);
    }
  });
  it('an invalid reference names what is wrong', () => {
    const outcome = review(pod({ reference: `ghcr.io/Acme/m@sha256:${'a'.repeat(64)}` }));
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /path component "Acme" is not valid \(repository names must be lowercase\)/);
  });
  it('an invalid reference is denied even under a warn-mode policy', () => {
    const warnOnly = policySetFromTexts([{ source: 'w.yaml', text: modelPolicy('w', '{mode: warn}') }]);
    assert.equal(review(pod({ reference: 'bad ref' }), {}, warnOnly).decision.allowed, false);
  });
});

describe('UPDATE', () => {
  const old = kubeObject('Deployment', [{ name: 'm', reference: UNPINNED }]);
  it('a label change or finalizer removal on an object with an unchanged unpinned reference is allowed', () => {
    const relabelled = kubeObject('Deployment', [{ name: 'm', reference: UNPINNED }], { labels: { tier: 'gold' }, finalizers: [] });
    const outcome = review(relabelled, { operation: 'UPDATE', oldObject: old });
    assert.equal(outcome.decision.allowed, true);
    assert.equal(outcome.skipped, 'image volume references unchanged');
  });
  it('a changed reference is checked', () => {
    const changed = kubeObject('Deployment', [{ name: 'm', reference: 'ghcr.io/acme/models/llama:v2' }]);
    const outcome = review(changed, { operation: 'UPDATE', oldObject: old });
    assert.equal(outcome.decision.allowed, false);
    assert.match(outcome.decision.message ?? '', /llama:v2/);
  });
  it('a new volume is checked while the old one is left alone', () => {
    const added = kubeObject('Deployment', [
      { name: 'm', reference: UNPINNED },
      { name: 'n', reference: 'ghcr.io/acme/x:v1' },
    ]);
    const outcome = review(added, { operation: 'UPDATE', oldObject: old });
    assert.deepEqual(
      outcome.decision.verdicts.map((v) => v.site.volume),
      ['n'],
    );
    assert.equal(outcome.decision.allowed, false);
  });
  it('pinning an unpinned reference is allowed', () => {
    const pinned = kubeObject('Deployment', [{ name: 'm', reference: PINNED }]);
    assert.equal(review(pinned, { operation: 'UPDATE', oldObject: old }).decision.allowed, true);
  });
  it('an UPDATE without oldObject is checked in full', () => {
    assert.equal(review(old, { operation: 'UPDATE', oldObject: null }).decision.allowed, false);
  });
});

describe('nothing on the admitted object switches a check off', () => {
  it('annotations and labels that look like opt-outs are ignored', () => {
    const pod = kubeObject('Pod', [{ name: 'm', reference: UNPINNED }], {
      annotations: { 'modelgate.dev/skip': 'true', 'modelgate.dev/mode': 'warn', 'policy.sigstore.dev/exclude': 'true' },
      labels: { 'modelgate.dev/ignore': 'true', 'modelgate.dev/policy': 'false' },
    });
    assert.equal(review(pod).decision.allowed, false);
  });
});

describe('modes, default action and several policies', () => {
  const set = (text: string): PolicySet => policySetFromTexts([{ source: 'p.yaml', text }]);
  const doc = (name: string, spec: string) => `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
  const pod = (reference: string, namespace = 'team-a') => kubeObject('Pod', [{ name: 'm', reference }], { namespace });

  it('warn allows with a short warning; audit allows with an audit annotation', () => {
    const policies = set(doc('w', '{mode: warn}') + doc('a', '{mode: audit, registries: ["quay.io"]}'));
    const outcome = review(pod(UNPINNED), {}, policies);
    assert.equal(outcome.decision.allowed, true);
    assert.equal(outcome.decision.warnings.length, 1);
    for (const warning of outcome.decision.warnings) assert.ok(warning.length <= 120, warning);
    assert.equal(
      outcome.decision.warnings[0],
      'modelgate: w/requireDigest: volume "m": pinned only by tag "v1", not by digest: the model behind it can change after it…',
    );
    assert.match(
      outcome.decision.auditAnnotations['policy-violations'] ?? '',
      /a\/requireDigest.*a\/registries: registry ghcr\.io is not one of the allowed registries \(quay\.io\)/,
    );
  });

  it('every failure of every matching policy is listed, and one enforce failure denies', () => {
    const policies = set(doc('digests', '{}') + doc('registries', '{registries: ["registry.internal"]}') + doc('w', '{mode: warn}'));
    const outcome = review(pod(UNPINNED), {}, policies);
    assert.equal(outcome.decision.allowed, false);
    const message = outcome.decision.message ?? '';
    assert.match(message, /policy "digests" rule requireDigest/);
    assert.match(message, /policy "registries" rule requireDigest/);
    assert.match(
      message,
      /policy "registries" rule registries: registry ghcr\.io is not one of the allowed registries \(registry\.internal\)\n {6}Fix: use a model from an allowed registry, or add "ghcr\.io" to spec\.registries of policy "registries"/,
    );
    assert.ok(!message.includes('policy "w"'), 'warn findings do not appear in the denial');
    assert.equal(outcome.decision.warnings.length, 1);
    assert.deepEqual(outcome.decision.reasons, [
      'spec.volumes[1].image.reference: digests/requireDigest',
      'spec.volumes[1].image.reference: registries/requireDigest',
      'spec.volumes[1].image.reference: registries/registries',
      'spec.volumes[1].image.reference: w/requireDigest (warn)',
    ]);
  });

  it('a reference no policy matches follows defaultAction', () => {
    const scoped = doc('acme', '{match: {references: ["ghcr.io/acme/**"]}}');
    const config = (action: string) => `apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: {defaultAction: ${action}}\n`;
    const other = pod(`quay.io/x/m@${DIGEST}`);
    const denied = review(other, {}, set(scoped));
    assert.equal(denied.decision.allowed, false);
    assert.match(
      denied.decision.message ?? '',
      /rule defaultAction: no ModelPolicy matches quay\.io\/x\/m in namespace team-a, and the default action is deny/,
    );
    assert.equal(review(other, {}, set(scoped + config('allow'))).decision.allowed, true);
    const warned = review(other, {}, set(scoped + config('warn')));
    assert.equal(warned.decision.allowed, true);
    assert.equal(warned.decision.warnings.length, 1);
    assert.equal(review(pod(`ghcr.io/acme/m@${DIGEST}`), {}, set(scoped)).decision.allowed, true);
  });

  it('namespaces and excludeNamespaces scope a policy', () => {
    const policies = set(doc('prod', '{match: {namespaces: ["prod-*"], excludeNamespaces: ["prod-lab"]}}') + configDocument('{defaultAction: allow}'));
    assert.equal(review(pod(UNPINNED, 'prod-eu')).decision.allowed, false);
    assert.equal(review(pod(UNPINNED, 'prod-eu'), { namespace: 'prod-eu' }, policies).decision.allowed, false);
    assert.equal(review(pod(UNPINNED, 'prod-lab'), { namespace: 'prod-lab' }, policies).decision.allowed, true);
    assert.equal(review(pod(UNPINNED, 'dev'), { namespace: 'dev' }, policies).decision.allowed, true);
  });

  it('a tag-and-digest reference is pinned (the digest is what is pulled)', () => {
    assert.equal(review(pod(`ghcr.io/acme/m:v1@${DIGEST}`)).decision.allowed, true);
  });

  it('a reference without tag or digest is described as :latest', () => {
    assert.match(review(pod('ghcr.io/acme/m')).decision.message ?? '', /not pinned by digest \(no tag means :latest\)/);
  });

  it('the denial names a generated name when the object has only generateName', () => {
    const object = kubeObject('Pod', [{ name: 'm', reference: UNPINNED }], { name: undefined, generateName: 'llm-' });
    assert.match(review(object).decision.message ?? '', /^modelgate denied Pod team-a\/llm-<generated>/);
  });
});

describe('AdmissionReview envelope', () => {
  const valid = admissionReview(kubeObject('Pod', []));
  const cases: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /JSON object/],
    [
      'wrong apiVersion',
      { ...valid, apiVersion: 'admission.k8s.io/v1beta1' },
      /apiVersion must be admission\.k8s\.io\/v1, got "admission\.k8s\.io\/v1beta1"; set admissionReviewVersions: \[v1\]/,
    ],
    ['wrong kind', { ...valid, kind: 'TokenReview' }, /kind must be AdmissionReview/],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /no request object/],
    ['no uid', { ...valid, request: { ...(valid['request'] as Json), uid: undefined } }, /request\.uid/],
    ['empty uid', { ...valid, request: { ...(valid['request'] as Json), uid: '' } }, /request\.uid/],
    ['no kind', { ...valid, request: { ...(valid['request'] as Json), kind: 'Pod' } }, /request\.kind/],
    ['bad operation', { ...valid, request: { ...(valid['request'] as Json), operation: 'PATCH' } }, /request\.operation/],
  ];
  for (const [name, body, message] of cases) {
    it(name, () =>
      assert.throws(
        () => parseAdmissionReview(body),
        (error: unknown) => error instanceof InvalidReviewError && message.test(error.message),
      ),
    );
  }
  it('reads dryRun and the user', () => {
    const request = parseAdmissionReview(admissionReview(kubeObject('Pod', []), { dryRun: true }));
    assert.equal(request.dryRun, true);
    assert.equal(request.username, 'kubernetes-admin');
    assert.equal(request.namespace, 'team-a');
  });
});
