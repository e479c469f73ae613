/**
 * Keyless authorities for private PKI (keyless.ts, chain.ts, sct.ts) and v0.3 bundles with an
 * x509CertificateChain (bundle.ts), over the local test PKI (test/support/sigstore/pki.ts: a
 * root, an intermediate, a CT log and a Rekor key). The real cosign, openssl CA and timestamp
 * authority are in test/e2e/signatures-pki.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseBundle } from '../../../src/signature/bundle.ts';
import { signatureCacheKey } from '../../../src/signature/cache-key.ts';
import { verifyKeyless } from '../../../src/signature/keyless.ts';
import { checkSignatures } from '../../../src/signature/policy-checks.ts';
import { toSignaturePolicy } from '../../../src/signature/policy-convert.ts';
import type { KeylessAuthority } from '../../../src/signature/policy-schema.ts';
import { TrustedRoots } from '../../../src/signature/trust.ts';
import { MATCH_REPOSITORY } from '../../../src/signature/signed-identity.ts';
import { bundleSignature, cosignStatement } from '../../support/sigstore/cosign.ts';
import { createRogueCa, createTestPki, newRekor } from '../../support/sigstore/pki.ts';
import type { Leaf } from '../../support/sigstore/pki.ts';

const pki = createTestPki();
const ISSUER = 'https://idp.corp.example';
const SUBJECT = 'release@corp.example';
const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** The trusted root with its CA chain cut to the root alone: paths then need the bundle's intermediate. */
function rootOnly(json: string): string {
  const document = JSON.parse(json) as { certificateAuthorities: { certChain: { certificates: unknown[] } }[] };
  for (const ca of document.certificateAuthorities) ca.certChain.certificates = ca.certChain.certificates.slice(1);
  return JSON.stringify(document);
}

const roots = TrustedRoots.fromSettings([
  { name: 'corp', json: pki.trustedRootJson() },
  { name: 'corp-root', json: rootOnly(pki.trustedRootJson()) },
]);

function keyless(data: Record<string, unknown> = {}, trustedRoot = 'corp'): KeylessAuthority {
  const section = { authorities: [{ name: 'corp-ca', keyless: { identities: [{ issuer: ISSUER, subject: SUBJECT }], trustedRoot, ...data } }] };
  assert.deepEqual(checkSignatures(section), []);
  const [authority] = toSignaturePolicy(section).authorities;
  assert.ok(authority?.kind === 'keyless');
  return authority;
}

const RELAXED = { tlog: 'optional', ctlog: 'optional', signingTime: 'certificateValidity' };
const corpLeaf = (options: Parameters<typeof pki.issueLeaf>[0] = {}): Leaf => pki.issueLeaf({ issuer: ISSUER, email: SUBJECT, sct: false, ...options });

/** A v0.3 bundle; `chain` replaces the single certificate by an x509CertificateChain (leaf first), as cosign v3 --certificate-chain writes. */
function bundle(leaf: Leaf, options: { chain?: readonly Buffer[]; rekor?: boolean; rekorKey?: ReturnType<typeof newRekor> } = {}): Buffer {
  const tlog = options.rekor === true || options.rekorKey !== undefined ? { rekor: options.rekorKey ?? pki.rekor } : undefined;
  const json = JSON.parse(bundleSignature({ kind: 'keyless', leaf }, cosignStatement(DIGEST), tlog)) as { verificationMaterial: Record<string, unknown> };
  if (options.chain !== undefined) {
    delete json.verificationMaterial['certificate'];
    json.verificationMaterial['x509CertificateChain'] = { certificates: [leaf.der, ...options.chain].map((der) => ({ rawBytes: der.toString('base64') })) };
  }
  return Buffer.from(JSON.stringify(json));
}

const check = (authority: KeylessAuthority, bytes: Buffer) => verifyKeyless(authority, parseBundle(bytes), roots);

function refused(result: ReturnType<typeof check>): string {
  assert.equal(result.ok, false, result.ok ? result.detail : '');
  return result.ok ? '' : result.reason;
}

describe('keyless authorities: evidence choices (private PKI)', () => {
  it('defaults deny a certificate without Rekor entry, signing time or SCT, listing all three', () => {
    const reason = refused(check(keyless(), bundle(corpLeaf())));
    assert.equal(
      reason,
      'no transparency-log entry (tlog: required); no verified signing time: a Rekor entry with a signed timestamp or an RFC 3161 timestamp is required (signingTime: tlog, timestampAuthority); no SCT in the certificate (ctlog: required)',
    );
  });

  it('tlog optional, ctlog optional, signingTime certificateValidity: passes, and says what was not checked', () => {
    const result = check(keyless(RELAXED), bundle(corpLeaf()));
    assert.ok(result.ok, result.ok ? '' : result.reason);
    assert.match(result.detail, /certificate for release@corp\.example \(issuer https:\/\/idp\.corp\.example\), chained to corp;/);
    assert.match(result.detail, /no transparency-log entry \(tlog: optional\)/);
    assert.match(result.detail, /certificate valid now \(signingTime: certificateValidity\)/);
    assert.match(result.detail, /SCT not checked \(ctlog: optional\)/);
  });

  it('each relaxation alone leaves the other requirements in force', () => {
    assert.match(
      refused(check(keyless({ tlog: 'optional' }), bundle(corpLeaf()))),
      /^no verified signing time: .*; no SCT in the certificate \(ctlog: required\)$/,
    );
    assert.equal(
      refused(check(keyless({ ctlog: 'optional', signingTime: 'certificateValidity' }), bundle(corpLeaf()))),
      'no transparency-log entry (tlog: required)',
    );
    // A Rekor entry proves the time; only the SCT is waived.
    const logged = check(keyless({ ctlog: 'optional' }), bundle(corpLeaf(), { rekor: true }));
    assert.ok(logged.ok, logged.ok ? '' : logged.reason);
    assert.match(logged.detail, /signed at \d{4}-/);
  });

  it('tlog optional ignores an entry of an unknown log (its time is not used); tlog required names it', () => {
    const bytes = bundle(corpLeaf(), { rekorKey: newRekor() });
    const relaxed = check(keyless(RELAXED), bytes);
    assert.ok(relaxed.ok, relaxed.ok ? '' : relaxed.reason);
    assert.match(relaxed.detail, /transparency-log entry ignored/);
    assert.match(relaxed.detail, /signing time not proven/);
    assert.match(
      refused(check(keyless({ ctlog: 'optional', signingTime: 'certificateValidity' }), bytes)),
      /its transparency-log entry does not verify against trusted root corp: .*\(tlog: required\)/,
    );
  });

  it('certificateValidity means valid now: an expired certificate is denied, with its validity and the time used', () => {
    const start = new Date(Date.now() - 7_200_000);
    const expired = corpLeaf({ notBefore: start, notAfter: new Date(start.getTime() + 600_000) });
    assert.match(refused(check(keyless(RELAXED), bundle(expired))), /^its certificate is valid from \S+Z to \S+Z, not at the signing time \S+Z$/);
  });

  it('still checks code signing and the identity, and reports them with the evidence', () => {
    const other = pki.issueLeaf({ issuer: ISSUER, email: 'intruder@corp.example', sct: false });
    assert.match(refused(check(keyless(RELAXED), bundle(other))), /subject is "intruder@corp\.example"/);
    const reason = refused(check(keyless(), bundle(other)));
    assert.match(reason, /no transparency-log entry \(tlog: required\);.*; the certificate's subject is "intruder@corp\.example"/);
  });

  it('a key-based bundle is never accepted by a keyless authority, relaxed or not', () => {
    const json = JSON.parse(bundle(corpLeaf()).toString()) as { verificationMaterial: Record<string, unknown> };
    delete json.verificationMaterial['certificate'];
    json.verificationMaterial['publicKey'] = { hint: 'x' };
    assert.match(refused(check(keyless(RELAXED), Buffer.from(JSON.stringify(json)))), /signed with a key/);
  });
});

describe('certificate chains in bundles (v0.3 x509CertificateChain)', () => {
  it('accepts a v0.3 bundle carrying leaf and intermediate, and the intermediate completes a path to a root-only trusted root', () => {
    const leaf = corpLeaf();
    const chained = bundle(leaf, { chain: [pki.intermediate.der] });
    const parsed = parseBundle(chained);
    assert.equal(parsed.bundle.verificationMaterial.content.$case, 'x509CertificateChain');
    const result = check(keyless(RELAXED, 'corp-root'), chained);
    assert.ok(result.ok, result.ok ? '' : result.reason);
    assert.match(refused(check(keyless(RELAXED, 'corp-root'), bundle(leaf))), /does not verify against trusted root corp-root: it does not chain/);
  });

  it('a forged intermediate of the same name in the bundle never makes an outside leaf trusted', () => {
    const rogue = createRogueCa();
    const outsider = corpLeaf({ issuingCa: rogue });
    for (const root of ['corp', 'corp-root'])
      assert.match(
        refused(check(keyless(RELAXED, root), bundle(outsider, { chain: [rogue.der] }))),
        new RegExp(`does not verify against trusted root ${root}: it does not chain`),
      );
  });

  it('bounds the chain a bundle may bring', () => {
    const chained = bundle(corpLeaf(), { chain: Array.from({ length: 9 }, () => pki.intermediate.der) });
    assert.match(refused(check(keyless(RELAXED), chained)), /carries 9 chain certificates \(at most 8\)/);
  });
});

describe('refused bundles say what is wrong', () => {
  const base = (): Record<string, unknown> & { verificationMaterial: Record<string, unknown> } =>
    JSON.parse(bundle(corpLeaf(), { rekor: true }).toString()) as Record<string, unknown> & { verificationMaterial: Record<string, unknown> };
  function message(json: unknown): string {
    try {
      parseBundle(Buffer.from(JSON.stringify(json)));
    } catch (error) {
      return (error as Error).message;
    }
    assert.fail('the bundle was accepted');
  }

  it('refuses a bundle carrying more transparency-log entries or timestamps than are read, before verifying any', () => {
    const many = base();
    const entries = many.verificationMaterial['tlogEntries'] as unknown[];
    many.verificationMaterial['tlogEntries'] = Array.from({ length: 300 }, () => entries[0]);
    assert.equal(
      message(many),
      'the bundle is not a valid sigstore bundle: verificationMaterial.tlogEntries holds 300 entries; at most 4 are read (cosign writes one)',
    );
    const stamps = base();
    stamps.verificationMaterial['timestampVerificationData'] = { rfc3161Timestamps: Array.from({ length: 5 }, () => ({ signedTimestamp: 'AA==' })) };
    assert.match(message(stamps), /rfc3161Timestamps holds 5 entries; at most 4 are read/);
    const four = base();
    four.verificationMaterial['tlogEntries'] = Array.from({ length: 4 }, () => entries[0]);
    assert.doesNotThrow(() => parseBundle(Buffer.from(JSON.stringify(four))), 'four entries are within the bound');
  });

  it('names the field and what was expected', () => {
    const both = base();
    both.verificationMaterial['x509CertificateChain'] = { certificates: [] };
    assert.equal(
      message(both),
      'the bundle is not a valid sigstore bundle: verificationMaterial holds both certificate and x509CertificateChain; it must hold only one of publicKey, certificate, x509CertificateChain',
    );
    const noProof = base();
    const entries = noProof.verificationMaterial['tlogEntries'] as Record<string, unknown>[];
    delete entries[0]?.['inclusionProof'];
    assert.equal(
      message(noProof),
      'the bundle is not a valid sigstore bundle: verificationMaterial.tlogEntries[0].inclusionProof is missing: from bundle v0.2 on every tlog entry needs an inclusion proof',
    );
    const emptyChain = base();
    delete emptyChain.verificationMaterial['certificate'];
    emptyChain.verificationMaterial['x509CertificateChain'] = { certificates: [] };
    assert.match(message(emptyChain), /verificationMaterial\.x509CertificateChain\.certificates is empty: it must hold the leaf certificate first/);
    const noMaterial = base();
    delete noMaterial.verificationMaterial['certificate'];
    assert.match(message(noMaterial), /verificationMaterial holds none of publicKey, certificate or x509CertificateChain/);
    assert.match(message({ ...base(), mediaType: 'application/json' }), /mediaType must be a sigstore bundle media type/);
  });
});

describe('policy: keyless evidence choices', () => {
  const messages = (keylessData: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] =>
    checkSignatures({ authorities: [{ name: 'c', keyless: { identities: [{ issuer: 'i', subject: 's' }], ...keylessData }, ...extra }] }).map(
      (error) => `${error.path}: ${error.message}`,
    );

  it('accepts the choices, one source or a list, in any order', () => {
    assert.deepEqual(messages({ tlog: 'optional', ctlog: 'optional', signingTime: ['certificateValidity', 'timestampAuthority'] }), []);
    assert.deepEqual(keyless({ signingTime: ['certificateValidity', 'tlog'] }).signingTime, ['tlog', 'certificateValidity']);
    assert.deepEqual(keyless({ signingTime: 'timestampAuthority' }).signingTime, ['timestampAuthority']);
  });

  it('refuses unknown values, repeated sources, contradictions and the fields in the wrong place', () => {
    assert.match(messages({ ctlog: 'ignore' }).join('\n'), /keyless\.ctlog/);
    assert.match(messages({ signingTime: ['now'] }).join('\n'), /keyless\.signingTime/);
    assert.deepEqual(messages({ signingTime: ['tlog', 'tlog'] }), ['spec.signatures.authorities[0].keyless.signingTime: lists a source twice']);
    assert.deepEqual(messages({ tlog: 'optional', signingTime: 'tlog' }), [
      'spec.signatures.authorities[0].keyless.signingTime: is only tlog while tlog is optional: a signature without a Rekor entry could never pass; add timestampAuthority or certificateValidity, or make tlog required',
    ]);
    assert.deepEqual(messages({}, { tlog: 'optional' }), [
      'spec.signatures.authorities[0].tlog: only applies to key authorities (keyless authorities set keyless.tlog)',
    ]);
    assert.ok(messages({}, { ctlog: 'optional' }).length > 0, 'ctlog beside keyless is refused');
  });

  it('the choices are part of the cache key; equal choices in another order are not', () => {
    const key = (data: Record<string, unknown>) => signatureCacheKey({ threshold: 1, authorities: [keyless(data)], signedIdentity: MATCH_REPOSITORY }, roots);
    const keys = [{}, { tlog: 'optional', signingTime: ['tlog', 'certificateValidity'] }, { ctlog: 'optional' }, { signingTime: 'certificateValidity' }].map(
      key,
    );
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(key({ signingTime: ['timestampAuthority', 'tlog'] }), key({}));
  });
});
