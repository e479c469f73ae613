import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBinding, normalizedRepository, parseInTotoStatement, parseSimpleSigning } from '../../../src/signature/binding.ts';
import { BindingError } from '../../../src/signature/errors.ts';
import { cosignStatement, simpleSigningPayload } from '../../support/sigstore/cosign.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const OTHER = `sha256:${'b'.repeat(64)}`;
const locator = { registry: 'ghcr.io', repository: 'acme/model' };

function bindingError(fn: () => unknown, code: BindingError['code'], pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BindingError, String(error));
    assert.equal(error.code, code);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  });
}

describe('simple-signing payloads', () => {
  it('reads digest and docker-reference as cosign v2 writes them', () => {
    const claims = parseSimpleSigning(simpleSigningPayload('ghcr.io/acme/model', DIGEST));
    assert.deepEqual(claims, { format: 'simplesigning', digests: [DIGEST], dockerReference: 'ghcr.io/acme/model' });
    assertBinding(claims, DIGEST, locator);
  });

  it('rejects another digest, whatever else matches', () => {
    bindingError(
      () => assertBinding(parseSimpleSigning(simpleSigningPayload('ghcr.io/acme/model', OTHER)), DIGEST, locator),
      'DIGEST_MISMATCH',
      /it signs sha256:bbbbbbbbbbbb…, not the admitted sha256:aaaaaaaaaaaa…/,
    );
  });

  it('rejects another repository or registry, and a missing docker-reference', () => {
    bindingError(() => assertBinding(parseSimpleSigning(simpleSigningPayload('ghcr.io/acme/other', DIGEST)), DIGEST, locator), 'REPOSITORY_MISMATCH');
    bindingError(() => assertBinding(parseSimpleSigning(simpleSigningPayload('quay.io/acme/model', DIGEST)), DIGEST, locator), 'REPOSITORY_MISMATCH');
    const payload = Buffer.from(
      JSON.stringify({ critical: { identity: {}, image: { 'docker-manifest-digest': DIGEST }, type: 'cosign container image signature' } }),
    );
    bindingError(() => assertBinding(parseSimpleSigning(payload), DIGEST, locator), 'REPOSITORY_MISMATCH', /names no critical\.identity\.docker-reference/);
  });

  it('tolerates docker.io normalisation and a tag or digest in the reference', () => {
    const hub = { registry: 'docker.io', repository: 'library/model' };
    for (const reference of ['model', 'docker.io/model', 'index.docker.io/library/model', 'docker.io/library/model:latest', `model@${DIGEST}`]) {
      assertBinding(parseSimpleSigning(simpleSigningPayload(reference, DIGEST)), DIGEST, hub);
    }
    assert.equal(normalizedRepository('acme/model'), 'docker.io/acme/model');
    assert.equal(normalizedRepository('localhost:5000/acme/model:v1'), 'localhost:5000/acme/model');
    assert.equal(normalizedRepository('Not A Reference'), undefined);
  });

  it('rejects payloads that are not cosign simple signing', () => {
    bindingError(() => parseSimpleSigning(Buffer.from('not json')), 'INVALID_PAYLOAD', /not valid JSON/);
    bindingError(() => parseSimpleSigning(Buffer.from('[]')), 'INVALID_PAYLOAD', /not a JSON object/);
    bindingError(
      () => parseSimpleSigning(Buffer.from('{"critical":{"type":"atomic container signature","image":{"docker-manifest-digest":"x"}}}')),
      'INVALID_PAYLOAD',
      /type/,
    );
    bindingError(
      () => parseSimpleSigning(Buffer.from('{"critical":{"type":"cosign container image signature","image":{}}}')),
      'INVALID_PAYLOAD',
      /docker-manifest-digest/,
    );
  });
});

describe('in-toto statements (cosign v3 DSSE bundles)', () => {
  it('reads the subject digests of cosign sign statements', () => {
    const claims = parseInTotoStatement('application/vnd.in-toto+json', cosignStatement(DIGEST));
    assert.deepEqual(claims, { format: 'in-toto', digests: [DIGEST], dockerReference: undefined });
    assertBinding(claims, DIGEST, locator);
    bindingError(() => assertBinding(parseInTotoStatement('application/vnd.in-toto+json', cosignStatement(OTHER)), DIGEST, locator), 'DIGEST_MISMATCH');
  });

  it('accepts a statement with several subjects when one is the admitted digest', () => {
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        subject: [{ name: 'x', digest: { sha256: 'b'.repeat(64) } }, { digest: { sha256: 'A'.repeat(64) } }],
        predicateType: 'https://sigstore.dev/cosign/sign/v1',
        predicate: {},
      }),
    );
    assertBinding(parseInTotoStatement('application/vnd.in-toto+json', statement), DIGEST, locator);
  });

  it('rejects other payload types, other predicates (attestations) and statements without subjects', () => {
    bindingError(() => parseInTotoStatement('application/vnd.dev.cosign.simplesigning.v1+json', cosignStatement(DIGEST)), 'INVALID_PAYLOAD', /payload type/);
    const attestation = Buffer.from(cosignStatement(DIGEST).toString().replace('https://sigstore.dev/cosign/sign/v1', 'https://spdx.dev/Document'));
    bindingError(
      () => parseInTotoStatement('application/vnd.in-toto+json', attestation),
      'INVALID_PAYLOAD',
      /attestation of predicate type "https:\/\/spdx\.dev\/Document"/,
    );
    const noSubject = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://sigstore.dev/cosign/sign/v1"}');
    bindingError(() => parseInTotoStatement('application/vnd.in-toto+json', noSubject), 'INVALID_PAYLOAD', /no subject/);
    bindingError(() => parseInTotoStatement('application/vnd.in-toto+json', Buffer.from('{"_type":"x"}')), 'INVALID_PAYLOAD', /not an in-toto statement/);
  });
});

describe('payloads read as cosign (Go) reads them (issue 9)', () => {
  const digestKey = 'docker-manifest-digest';
  it('refuses a simple-signing payload whose fields Go would read otherwise', () => {
    const twoDigests = `{"critical":{"identity":{"docker-reference":"ghcr.io/acme/model"},"image":{"${digestKey}":"${DIGEST}","${digestKey}":"${OTHER}"},"type":"cosign container image signature"}}`;
    bindingError(
      () => parseSimpleSigning(Buffer.from(twoDigests)),
      'INVALID_PAYLOAD',
      /critical\.image: the key "docker-manifest-digest" appears more than once/,
    );
    const caseVariant = `{"critical":{"identity":{"docker-reference":"ghcr.io/acme/model"},"image":{"${digestKey}":"${DIGEST}"},"type":"cosign container image signature"},"Critical":{}}`;
    bindingError(() => parseSimpleSigning(Buffer.from(caseVariant)), 'INVALID_PAYLOAD', /the key "Critical" differs from the field "critical" only in case/);
  });
  it('refuses an in-toto statement with a duplicate subject digest key or a case-variant predicateType', () => {
    const duplicate = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${'a'.repeat(64)}","sha256":"${'b'.repeat(64)}"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`;
    bindingError(
      () => parseInTotoStatement('application/vnd.in-toto+json', Buffer.from(duplicate)),
      'INVALID_PAYLOAD',
      /subject\[0\]\.digest: the key "sha256" appears more than once/,
    );
    const variant = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"${'a'.repeat(64)}"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","PredicateType":"x","predicate":{}}`;
    bindingError(
      () => parseInTotoStatement('application/vnd.in-toto+json', Buffer.from(variant)),
      'INVALID_PAYLOAD',
      /"PredicateType" differs from the field "predicateType"/,
    );
  });
});
