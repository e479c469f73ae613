/**
 * AdmissionReviews, generated and mutated, through the review parser and the
 * admission handler with the bundled policy (every model pinned by digest):
 * nothing but InvalidReviewError escapes, every review gets a decision, the
 * answer stays small whatever the object (issue 9: a 13 MB denial per review
 * killed the webhook), and no unpinned reference is ever admitted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { handleAdmission } from '../../src/admission/handle.ts';
import { InvalidReviewError, parseAdmissionReview, reviewResponse } from '../../src/admission/review.ts';
import { toResponse } from '../../src/server/app.ts';
import type { AdmissionOutcome } from '../../src/admission/handle.ts';
import type { AdmissionRequest } from '../../src/admission/review.ts';
import { createEngine } from '../../src/engine/engine.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { POD_SPEC_KEYS, VALID_PINNED, isPinned, mutateTree, review, treeMutation } from './lib/reviews.ts';
import type { Json } from './lib/reviews.ts';
import { Tally, fuzzParameters } from './lib/settings.ts';

const BUNDLED = { source: 'manifests/policy.yaml', text: readFileSync(join(PACKAGE_ROOT, 'manifests', 'policy.yaml'), 'utf8') };
const SMALL_CAP = 8;
const CAP_CONFIG = {
  source: 'config.yaml',
  text: `apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec:\n  limits:\n    maxReferencesPerObject: ${SMALL_CAP}\n`,
};
const ENGINES = {
  /** The bundled policy with the default Config: a cap of 64 references per object. */
  bundled: { engine: createEngine(policySetFromTexts([BUNDLED]), { offline: true }), cap: 64 },
  /** The same with a cap low enough to be crossed often. */
  capped: { engine: createEngine(policySetFromTexts([BUNDLED, CAP_CONFIG]), { offline: true }), cap: SMALL_CAP },
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The image-volume references the handler must judge, found by walking the object as the README describes. */
function judgedReferences(request: AdmissionRequest): unknown[] | undefined {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return undefined;
  if (request.subResource !== undefined) return undefined;
  const keys = POD_SPEC_KEYS.get(`${request.kind.group}/${request.kind.kind}`);
  if (keys === undefined || !isObject(request.object)) return undefined;
  const referencesIn = (object: unknown): unknown[] => {
    let node: unknown = object;
    for (const key of keys) node = isObject(node) ? node[key] : undefined;
    const list = isObject(node) ? node['volumes'] : undefined;
    if (!Array.isArray(list)) return [];
    return list
      .filter((item) => isObject(item) && Object.hasOwn(item, 'image'))
      .map((item) => {
        const image = (item as Record<string, unknown>)['image'];
        return isObject(image) ? image['reference'] : undefined;
      });
  };
  const current = referencesIn(request.object);
  if (request.operation === 'CREATE') return current;
  // On UPDATE only what the old object did not already hold is judged again.
  const old = new Set(referencesIn(request.oldObject));
  return old.size === 0 ? current : current.filter((reference) => typeof reference !== 'string' || !old.has(reference));
}

/** The namespace a review is judged in: the request's, else the object's (what kube-apiserver sends is always a namespace name). */
function namespaceOf(request: AdmissionRequest): string {
  const metadata = isObject(request.object) && isObject(request.object['metadata']) ? request.object['metadata'] : {};
  return request.namespace ?? (typeof metadata['namespace'] === 'string' ? metadata['namespace'] : '');
}

/** A Kubernetes namespace name (a DNS label), or none: the bundled policy's `namespaces: ["*"]` covers these. */
const isNamespaceName = (name: string): boolean => name === '' || /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/.test(name);

const LIMIT_MESSAGE = /more than the limit of (\d+) per object/;

function checkOutcome(request: AdmissionRequest, outcome: AdmissionOutcome, cap: number, tally: Tally): void {
  const { decision } = outcome;
  const message = decision.message;
  if (decision.allowed) {
    assert.equal(message, undefined, 'an allowed object carries no denial message');
  } else {
    assert.equal(typeof message, 'string', 'a denial has a message');
    assert.ok((message as string).length <= 32 * 1024, `the denial message has ${(message as string).length} characters`);
    const listed = (message as string).split('\n').filter((line) => line.startsWith('- volume ')).length;
    assert.ok(listed <= 25, `the denial lists ${listed} references`);
  }
  assert.ok(decision.warnings.length <= 21, `${decision.warnings.length} warnings`);
  for (const warning of decision.warnings) assert.ok(warning.length <= 120, `a warning of ${warning.length} characters`);
  const answer = JSON.stringify(reviewResponse(toResponse(request, outcome)));
  // The uid is echoed as sent; everything else is modelgate's to bound.
  const size = Buffer.byteLength(answer) - Buffer.byteLength(JSON.stringify(request.uid));
  assert.ok(size < 64 * 1024, `the answer is ${size} bytes besides the uid`);

  const judged = judgedReferences(request);
  if (judged === undefined || judged.length === 0) {
    tally.add('nothing to judge');
    assert.ok(decision.allowed, 'an object with nothing to judge is allowed');
    return;
  }
  if (judged.length > cap) {
    tally.add('over the reference cap');
    assert.ok(!decision.allowed, `${judged.length} references, over the cap of ${cap}, were allowed`);
    assert.equal(LIMIT_MESSAGE.exec(message as string)?.[1], String(cap), `over the cap: the one limit denial, got ${message?.slice(0, 300)}`);
    assert.ok(!(message as string).includes('\n- volume '), 'over the cap: no finding per volume');
    return;
  }
  assert.ok(!LIMIT_MESSAGE.test(message ?? ''), `${judged.length} references, within the cap of ${cap}, were denied for the cap`);
  const unpinned = judged.filter((reference) => !isPinned(reference));
  if (unpinned.length > 0) {
    tally.add('denied: unpinned');
    assert.ok(!decision.allowed, `unpinned ${JSON.stringify(unpinned[0])?.slice(0, 200)} was allowed`);
    const count = /: (\d+) model references failed policy|: (a) model reference failed policy/.exec(message as string);
    const denied = count === null ? 0 : count[2] === 'a' ? 1 : Number(count[1]);
    assert.ok(denied >= unpinned.length, `${unpinned.length} unpinned references, the message counts ${denied}`);
  } else if (judged.every((reference) => VALID_PINNED.includes(reference as string)) && isNamespaceName(namespaceOf(request))) {
    tally.add('allowed: all pinned');
    assert.ok(decision.allowed, `valid pinned references were denied: ${message?.slice(0, 500)}`);
  } else {
    tally.add(decision.allowed ? 'allowed: other pinned' : 'denied: other pinned');
  }
}

describe('AdmissionReviews through the parser and the handler', () => {
  it('generated and mutated reviews (fixed seed)', async (t) => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(
        review,
        fc.array(treeMutation, { maxLength: 3 }),
        fc.constantFrom<keyof typeof ENGINES>('bundled', 'capped'),
        async (generated, mutations, which) => {
          let text = JSON.stringify(generated.review);
          if (generated.deep !== undefined) text = text.replace('"DEEP"', generated.deep);
          const body = JSON.parse(text) as Json;
          mutateTree(body, mutations);
          let request: AdmissionRequest;
          try {
            request = parseAdmissionReview(body);
          } catch (error) {
            assert.ok(error instanceof InvalidReviewError, `parseAdmissionReview threw ${(error as Error).name}: ${(error as Error).message}`);
            tally.add('invalid review');
            return;
          }
          const { engine, cap } = ENGINES[which];
          const pending = handleAdmission(request, engine);
          const outcome = pending instanceof Promise ? await pending : pending;
          assert.equal(typeof outcome.decision.allowed, 'boolean', 'a decision');
          checkOutcome(request, outcome, cap, tally);
        },
      ),
      fuzzParameters(4101, 5000),
    );
    t.diagnostic(`reviews: ${tally}`);
    for (const outcome of ['invalid review', 'nothing to judge', 'over the reference cap', 'denied: unpinned', 'allowed: all pinned']) {
      assert.ok(tally.get(outcome) >= 15, `too few reviews of the kind "${outcome}" to say anything: ${tally}`);
    }
  });
});
