import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignatureFormatError } from '../../../src/signature/errors.ts';
import { parseBundle } from '../../../src/signature/bundle.ts';
import { legacySignatureTag, legacyToBundle, readLegacyMaterial, rekorBundleToTlogEntry } from '../../../src/signature/legacy.ts';
import { BUNDLE_TYPE, SIMPLE_SIGNING, bundleSignature, cosignStatement, legacySignature, simpleSigningPayload } from '../../support/sigstore/cosign.ts';
import { createTestPki, hashedRekordBody, newEcKey, publicPem, rekorBundleAnnotation, rekorEntry } from '../../support/sigstore/pki.ts';

const DIGEST = `sha256:${'c'.repeat(64)}`;
const pki = createTestPki();
const key = newEcKey();

function formatError(fn: () => unknown, code: SignatureFormatError['code'], pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SignatureFormatError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

describe('legacy cosign signatures as bundles', () => {
  it('computes the cosign signature tag', () => {
    assert.equal(legacySignatureTag(DIGEST), `sha256-${'c'.repeat(64)}.sig`);
    assert.equal(legacySignatureTag(`sha512:${'d'.repeat(128)}`), undefined, 'too long for a tag');
  });

  it('turns a key-based signature into a message-signature bundle over the payload', () => {
    const payload = simpleSigningPayload('ghcr.io/acme/model', DIGEST);
    const layer = legacySignature({ kind: 'key', ...key }, payload);
    const parsed = legacyToBundle({ mediaType: SIMPLE_SIGNING, annotations: layer.annotations, payload });
    assert.equal(parsed.bundle.content.$case, 'messageSignature');
    if (parsed.bundle.content.$case !== 'messageSignature') return;
    assert.deepEqual(parsed.bundle.content.messageSignature.messageDigest.digest, createHash('sha256').update(payload).digest());
    assert.deepEqual(parsed.bundle.content.messageSignature.signature, Buffer.from(layer.annotations['dev.cosignproject.cosign/signature'] ?? '', 'base64'));
    assert.equal(parsed.bundle.verificationMaterial.content.$case, 'publicKey');
    assert.equal(parsed.bundle.verificationMaterial.tlogEntries.length, 0);
    assert.equal(parsed.artifact, payload);
    assert.deepEqual(parsed.claims.digests, [DIGEST]);
  });

  it('carries the certificate, chain and Rekor SET of a keyless signature', () => {
    const leaf = pki.issueLeaf({ uri: 'https://example.test/ci' });
    const payload = simpleSigningPayload('ghcr.io/acme/model', DIGEST);
    const layer = legacySignature({ kind: 'keyless', leaf }, payload, { rekor: pki.rekor, integratedTime: 1_700_000_000 });
    layer.annotations['dev.sigstore.cosign/chain'] = `-----BEGIN CERTIFICATE-----\n${pki.intermediate.der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    const { bundle } = legacyToBundle({ mediaType: SIMPLE_SIGNING, annotations: layer.annotations, payload });
    const material = bundle.verificationMaterial.content;
    assert.equal(material.$case, 'x509CertificateChain');
    if (material.$case === 'x509CertificateChain') {
      assert.equal(material.x509CertificateChain.certificates.length, 2);
      assert.deepEqual(material.x509CertificateChain.certificates[0]?.rawBytes, leaf.der);
    }
    const [entry] = bundle.verificationMaterial.tlogEntries;
    assert.ok(entry !== undefined);
    assert.equal(entry.integratedTime, '1700000000');
    assert.equal(entry.logIndex, '42');
    assert.deepEqual(entry.logId?.keyId, pki.rekor.logId);
    assert.deepEqual(entry.kindVersion, { kind: 'hashedrekord', version: '0.0.1' });
    assert.ok(entry.inclusionPromise !== undefined);
    assert.equal(entry.inclusionProof, undefined);
  });

  it('reads the Rekor bundle annotation exactly', () => {
    const body = hashedRekordBody(Buffer.from('p'), Buffer.from('s'), publicPem(key.publicKey));
    const entry = rekorBundleToTlogEntry(rekorBundleAnnotation(rekorEntry(pki.rekor, body, 1_700_000_001, 7)));
    assert.deepEqual(entry.canonicalizedBody, body);
    assert.equal(entry.logIndex, '7');
    for (const [annotation, pattern] of [
      ['{', /not valid JSON/],
      ['{"Payload":{}}', /lacks SignedEntryTimestamp or Payload/],
      ['{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":"x","logIndex":1,"logID":"00"}}', /integratedTime/],
      ['{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":-1,"logID":"00"}}', /logIndex/],
      ['{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"zz"}}', /logID/],
      [`{"SignedEntryTimestamp":"AA==","Payload":{"body":"!!","integratedTime":1,"logIndex":1,"logID":"${'0'.repeat(64)}"}}`, /not base64/],
      [`{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"${'0'.repeat(64)}"}}`, /names no kind and apiVersion/],
    ] as const) {
      formatError(() => rekorBundleToTlogEntry(annotation), 'MALFORMED_SIGNATURE', pattern);
    }
  });

  it('rejects garbage annotations before the payload is needed', () => {
    const good = legacySignature({ kind: 'key', ...key }, simpleSigningPayload('ghcr.io/acme/model', DIGEST)).annotations;
    formatError(() => readLegacyMaterial('application/vnd.oci.image.layer.v1.tar', good), 'UNSUPPORTED_CONTENT', /not a cosign simple-signing payload/);
    formatError(() => readLegacyMaterial(SIMPLE_SIGNING, {}), 'MALFORMED_SIGNATURE', /no dev\.cosignproject\.cosign\/signature annotation/);
    formatError(() => readLegacyMaterial(SIMPLE_SIGNING, { 'dev.cosignproject.cosign/signature': 'a b c ?' }), 'MALFORMED_SIGNATURE', /not base64/);
    formatError(
      () => readLegacyMaterial(SIMPLE_SIGNING, { ...good, 'dev.sigstore.cosign/certificate': 'garbage' }),
      'MALFORMED_SIGNATURE',
      /no PEM certificate/,
    );
    formatError(
      () => readLegacyMaterial(SIMPLE_SIGNING, { ...good, 'dev.sigstore.cosign/certificate': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' }),
      'MALFORMED_SIGNATURE',
      /cannot be parsed/,
    );
    formatError(
      () => readLegacyMaterial(SIMPLE_SIGNING, { ...good, 'dev.sigstore.cosign/rfc3161timestamp': '{}' }),
      'MALFORMED_SIGNATURE',
      /SignedRFC3161Timestamp/,
    );
  });
});

describe('sigstore bundles from referrers', () => {
  it('parses a cosign v3 DSSE bundle and reads its statement', () => {
    const parsed = parseBundle(Buffer.from(bundleSignature({ kind: 'key', ...key }, cosignStatement(DIGEST))));
    assert.equal(parsed.bundle.mediaType, BUNDLE_TYPE);
    assert.equal(parsed.artifact, undefined);
    assert.deepEqual(parsed.claims.digests, [DIGEST]);
  });

  it('parses the bundle cosign v3.1.3 pushed in the test bed (recorded)', () => {
    // Written by `cosign sign --key k1.key --signing-config <no tlog> …` against a local registry.
    const recorded = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: 'Nmz0G9GTgVAokQTqoXI8tmHlbTdrwe9J4dBovVNbK+M=' } },
      dsseEnvelope: {
        payload:
          'eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCAic3ViamVjdCI6W3siZGlnZXN0Ijp7InNoYTI1NiI6IjM3MjJkMWQxY2Q3NWRjMzdmYzU0NDFiNjMwZTUwOTJiMTYzNTc3YWQ2YWY4OTNmYTg2N2E5NzNiM2JmMzY2MmIifSwgImFubm90YXRpb25zIjp7fX1dLCAicHJlZGljYXRlVHlwZSI6Imh0dHBzOi8vc2lnc3RvcmUuZGV2L2Nvc2lnbi9zaWduL3YxIiwgInByZWRpY2F0ZSI6e319',
        payloadType: 'application/vnd.in-toto+json',
        signatures: [{ sig: 'MEUCIC3YSTrun9AAhDxRgUQHgW3ScWxe8hGajNTxbbC0I3DsAiEAl54t1egaumCRTSeuHX/5/xWuAg8B0RYy29iv+8BV0Dc=' }],
      },
    };
    const parsed = parseBundle(Buffer.from(JSON.stringify(recorded)));
    assert.deepEqual(parsed.claims.digests, ['sha256:3722d1d1cd75dc37fc5441b630e5092b163577ad6af893fa867a973b3bf3662b']);
    assert.equal(parsed.bundle.verificationMaterial.tlogEntries.length, 0);
  });

  it('rejects malformed bundles with MALFORMED_BUNDLE', () => {
    for (const text of [
      '',
      'nope',
      '1',
      '[]',
      '{}',
      '{"mediaType":"text/plain"}',
      '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"","payloadType":"x","signatures":[]}}',
    ]) {
      formatError(() => parseBundle(Buffer.from(text)), 'MALFORMED_BUNDLE', /bundle/);
    }
  });
});
