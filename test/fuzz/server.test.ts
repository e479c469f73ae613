/**
 * The HTTP server with ~200 mutated request bodies and headers: every answer
 * is JSON with the documented status (200 with an AdmissionReview, else 400,
 * 413 or 415 with an error), and the server still answers a normal review
 * afterwards. The server runs in this process, as the unit tests run it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidReviewError, parseAdmissionReview } from '../../src/admission/review.ts';
import { admissionReview, kubeObject } from '../support/objects.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/server/app.ts';
import { startTestServer } from '../support/webhook-server.ts';
import type { TestServer } from '../support/webhook-server.ts';
import { VALID_PINNED } from './lib/reviews.ts';
import { Tally, fuzzParameters } from './lib/settings.ts';

const policySet = policySetFromTexts([{ source: 'manifests/policy.yaml', text: readFileSync(join(PACKAGE_ROOT, 'manifests', 'policy.yaml'), 'utf8') }]);

function validReview(reference: string): string {
  return JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference }])));
}

/** Content types with whether the server must take them (UTF-8 `application/json`, parameters other than charset ignored). */
const CONTENT_TYPES: readonly [string | undefined, boolean][] = [
  ['application/json', true],
  ['Application/JSON', true],
  ['application/json; charset=utf-8', true],
  ['application/json;charset="UTF-8"', true],
  ['application/json; foo=bar', true],
  ['application/json; charset=latin1', false],
  ['application/json; charset=utf-16', false],
  ['text/plain', false],
  ['application/merge-patch+json', false],
  ['application/x-www-form-urlencoded', false],
  ['', false],
  [undefined, false],
];

const contentType = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CONTENT_TYPES.filter(([, accepted]) => accepted)) },
  { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES.filter(([, accepted]) => !accepted)) },
);
/** Sometimes declare a gzip body: refused whatever it holds. */
const gzip = fc.nat({ max: 5 }).map((draw) => draw === 0);

type BodyChange =
  | { readonly op: 'none' }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'byte'; readonly at: number; readonly byte: number }
  | { readonly op: 'number'; readonly text: string }
  | { readonly op: 'nest'; readonly depth: number; readonly open: '[' | '{"a":' }
  | { readonly op: 'replace'; readonly body: string };

const bodyChange: fc.Arbitrary<BodyChange> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: 'none' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('byte' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('number' as const),
      text: fc.constantFrom('1e400', '-1e999', '123456789012345678901234567890', '0.0000000000000000000001', '-0'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('nest' as const),
      depth: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(200_000)),
      open: fc.constantFrom('[' as const, '{"a":' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('replace' as const),
      body: fc.constantFrom('', '[]', 'null', '"review"', '{}', '{"apiVersion":"admission.k8s.io/v1"}', '\ufeff{}', '{"a":1,}', 'true'),
    }),
  },
);

function changeBody(text: string, change: BodyChange): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  switch (change.op) {
    case 'none':
      return bytes;
    case 'truncate':
      return bytes.subarray(0, change.at % bytes.length);
    case 'byte': {
      const copy = Buffer.from(bytes);
      copy[change.at % copy.length] = change.byte;
      return copy;
    }
    case 'number':
      return Buffer.from(text.replace('"dryRun":false', `"dryRun":${change.text}`).replace('"oldObject":null', `"oldObject":${change.text}`), 'utf8');
    case 'nest': {
      const close = change.open === '[' ? ']' : '}';
      return Buffer.from(text.replace('"oldObject":null', `"oldObject":${change.open.repeat(change.depth)}1${close.repeat(change.depth)}`), 'utf8');
    }
    case 'replace':
      return Buffer.from(change.body, 'utf8');
  }
}

/** The status the README documents for a body and its headers. */
function expectedStatus(body: Buffer, contentTypeAccepted: boolean, compressed: boolean): number {
  if (!contentTypeAccepted || compressed) return 415;
  if (body.length > DEFAULT_MAX_BODY_BYTES) return 413;
  if (body.length === 0) return 400;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return 400;
  }
  try {
    parseAdmissionReview(parsed);
  } catch (error) {
    if (error instanceof InvalidReviewError) return 400;
    throw error;
  }
  return 200;
}

describe('the HTTP server under mutated requests', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(policySet);
  });
  after(async () => server.close());

  it('answers each with JSON and the documented status, then still serves (fixed seed)', async (t) => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...VALID_PINNED, 'ghcr.io/acme/llama:v1'),
        bodyChange,
        contentType,
        gzip,
        async (reference, change, [type, accepted], gzipped) => {
          const body = changeBody(validReview(reference), change);
          const compressed = gzipped && change.op === 'none';
          const headers: Record<string, string> = {};
          if (type !== undefined) headers['content-type'] = type;
          if (compressed) headers['content-encoding'] = 'gzip';
          const expected = expectedStatus(body, accepted, compressed);
          // post() parses the answer as JSON: an answer that is not JSON fails here.
          const { status, json } = await server.post(body, headers);
          tally.add(`status ${status}`);
          assert.equal(status, expected, `${change.op} with ${type ?? 'no content type'}: ${JSON.stringify(json).slice(0, 300)}`);
          if (status === 200) {
            assert.equal(json['kind'], 'AdmissionReview');
            const response = json['response'] as Record<string, unknown>;
            assert.equal(response['uid'], (JSON.parse(body.toString('utf8')) as { request: { uid: unknown } }).request.uid);
            assert.equal(typeof response['allowed'], 'boolean');
          } else {
            assert.equal(typeof json['error'], 'string', 'an error answer says why');
          }
        },
      ),
      fuzzParameters(6101, 250),
    );
    // One body over the limit, declared and sent.
    const big = await server.post(Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20), { 'content-type': 'application/json' });
    assert.equal(big.status, 413);
    tally.add('status 413');
    t.diagnostic(`server: ${tally}`);
    for (const status of [200, 400, 415]) assert.ok(tally.get(`status ${status}`) >= 10, `too few answers with status ${status}: ${tally}`);

    const pinned = await server.post(validReview(VALID_PINNED[0] as string), { 'content-type': 'application/json' });
    assert.equal(pinned.status, 200);
    assert.equal((pinned.json['response'] as Record<string, unknown>)['allowed'], true, 'a pinned model is still allowed');
    const unpinned = await server.post(validReview('ghcr.io/acme/llama:v1'), { 'content-type': 'application/json' });
    assert.equal((unpinned.json['response'] as Record<string, unknown>)['allowed'], false, 'an unpinned model is still denied');
  });
});
