import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { X509Certificate } from '@sigstore/core';
import { IdentityError } from '../../../src/signature/errors.ts';
import { assertCodeSigning, assertIdentity, compilePattern, patternProblem, signerIdentity } from '../../../src/signature/identity.ts';
import type { IdentityMatcher } from '../../../src/signature/identity.ts';
import { OID_SERVER_AUTH, createTestPki } from '../../support/sigstore/pki.ts';

const parseCertificate = (der: Buffer): X509Certificate => X509Certificate.parse(Buffer.from(der));
const GITHUB = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.0.0';

function identityError(identities: IdentityMatcher[], issuer: string | undefined, subject: string | undefined, code: IdentityError['code']): string {
  try {
    assertIdentity(identities, { issuer, subject });
  } catch (error) {
    assert.ok(error instanceof IdentityError);
    assert.equal(error.code, code);
    return error.message;
  }
  assert.fail('expected an IdentityError');
}

describe('identity matching', () => {
  it('matches exact issuer and subject', () => {
    assert.deepEqual(assertIdentity([{ issuer: GITHUB, subject: RELEASE }], { issuer: GITHUB, subject: RELEASE }), { issuer: GITHUB, subject: RELEASE });
    identityError([{ issuer: GITHUB, subject: RELEASE }], GITHUB, `${RELEASE}x`, 'SUBJECT_MISMATCH');
    identityError([{ issuer: GITHUB, subject: RELEASE }], `${GITHUB}/`, RELEASE, 'ISSUER_MISMATCH');
  });

  it('anchors patterns at the start, and at the end only with $', () => {
    const prefix = [{ issuer: GITHUB, subjectRegExp: '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/tags/v' }];
    assertIdentity(prefix, { issuer: GITHUB, subject: RELEASE });
    identityError(prefix, GITHUB, 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main', 'SUBJECT_MISMATCH');
    const unanchored = [{ issuer: GITHUB, subjectRegExp: 'https://github\\.com/acme/' }];
    identityError(unanchored, GITHUB, 'https://evil.example/?https://github.com/acme/x', 'SUBJECT_MISMATCH');
    const exact = [{ issuerRegExp: 'https://accounts\\.google\\.com$', subject: 'a@b.c' }];
    assertIdentity(exact, { issuer: 'https://accounts.google.com', subject: 'a@b.c' });
    identityError(exact, 'https://accounts.google.com.evil', 'a@b.c', 'ISSUER_MISMATCH');
    // An alternation cannot escape the anchor.
    identityError([{ issuer: GITHUB, subjectRegExp: 'a|b' }], GITHUB, 'xb', 'SUBJECT_MISMATCH');
    assert.equal(compilePattern('^abc').test('abcdef'), true);
    assert.equal(compilePattern('^abc').test('xabc'), false);
  });

  it('matches in linear time, RE2 syntax as Go and cosign read it (issue 9)', () => {
    const started = performance.now();
    assert.equal(compilePattern('(a+)+$').test(`${'a'.repeat(20_000)}b`), false);
    assert.ok(performance.now() - started < 2_000, 'a pattern that backtracks exponentially in JavaScript returns at once');
    assert.match(patternProblem('(?=lookahead)') ?? '', /not a valid RE2 regular expression/);
    assert.match(patternProblem('(a)\\1') ?? '', /not a valid RE2 regular expression/);
    assert.match(patternProblem('a'.repeat(1025)) ?? '', /at most 1024 characters/);
  });

  it('tries every identity and names what was expected', () => {
    const identities = [
      { issuer: 'https://accounts.google.com', subject: 'release@acme.example' },
      { issuer: GITHUB, subjectRegExp: '^https://github\\.com/acme/' },
    ];
    assertIdentity(identities, { issuer: GITHUB, subject: RELEASE });
    assertIdentity(identities, { issuer: 'https://accounts.google.com', subject: 'release@acme.example' });
    const message = identityError(identities, 'https://gitlab.com', RELEASE, 'ISSUER_MISMATCH');
    assert.match(message, /issued for OIDC issuer "https:\/\/gitlab\.com", not issuer "https:\/\/accounts\.google\.com" or issuer "https:\/\/token/);
    const subject = identityError(identities, GITHUB, 'https://github.com/evil/x', 'SUBJECT_MISMATCH');
    assert.match(subject, /subjectRegExp "\^https:\/\/github\\\\\.com\/acme\/"/);
  });

  it('requires an issuer and a subject in the certificate', () => {
    identityError([{ issuer: GITHUB, subject: RELEASE }], undefined, RELEASE, 'MISSING_IDENTITY');
    identityError([{ issuer: GITHUB, subject: RELEASE }], GITHUB, '', 'MISSING_IDENTITY');
  });

  it('reports invalid patterns', () => {
    assert.equal(patternProblem('^ok$'), undefined);
    assert.match(patternProblem('(') ?? '', /not a valid RE2 regular expression/);
    assert.equal(patternProblem(' '), 'must not be empty');
  });
});

describe('certificate identities', () => {
  const pki = createTestPki();

  it('reads the issuer from .1.8 (or .1.1) and the subject from the URI or e-mail SAN', () => {
    const both = parseCertificate(pki.issueLeaf({ uri: RELEASE, issuer: GITHUB }).der);
    assert.deepEqual(signerIdentity(both), { issuer: GITHUB, subject: RELEASE });
    const v1 = parseCertificate(pki.issueLeaf({ email: 'a@b.example', issuer: 'https://accounts.google.com', issuerExtension: 'v1' }).der);
    assert.deepEqual(signerIdentity(v1), { issuer: 'https://accounts.google.com', subject: 'a@b.example' });
    const none = parseCertificate(pki.issueLeaf({ issuerExtension: 'none' }).der);
    assert.deepEqual(signerIdentity(none), { issuer: undefined, subject: undefined });
  });

  it('requires the code-signing extended key usage', () => {
    assertCodeSigning(parseCertificate(pki.issueLeaf({ uri: RELEASE }).der));
    assert.throws(
      () => assertCodeSigning(parseCertificate(pki.issueLeaf({ uri: RELEASE, extendedKeyUsage: [OID_SERVER_AUTH] }).der)),
      /not a code-signing certificate/,
    );
    assert.throws(() => assertCodeSigning(parseCertificate(pki.root.der)), IdentityError);
  });
});
