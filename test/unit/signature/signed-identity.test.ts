/**
 * signatures.signedIdentity: the prefix and repository grammar, the matcher (as
 * containers/image's policy_reference_match.go defines it), the policy rules, the cache key,
 * and what a verification over a mirror reports (FakeRegistry; the real cosign and registries
 * are in test/e2e/signatures-mirrors.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertBinding, parseInTotoStatement, parseSimpleSigning } from '../../../src/signature/binding.ts';
import { signatureCacheKey } from '../../../src/signature/cache-key.ts';
import { BindingError } from '../../../src/signature/errors.ts';
import { signatureFinding } from '../../../src/signature/finding.ts';
import { checkSignatures } from '../../../src/signature/policy-checks.ts';
import { toSignaturePolicy, toSignedIdentity } from '../../../src/signature/policy-convert.ts';
import type { SignedIdentity } from '../../../src/signature/signed-identity.ts';
import { parseIdentityPrefix, parseSignedRepository, suggestedRemap } from '../../../src/signature/signed-identity.ts';
import { TrustedRoots } from '../../../src/signature/trust.ts';
import { verifySignatures } from '../../../src/signature/verify.ts';
import { FakeRegistry } from '../../support/fake-registry.ts';
import { bundleSignature, cosignStatement, legacySignature, simpleSigningPayload } from '../../support/sigstore/cosign.ts';
import { newEcKey, publicPem } from '../../support/sigstore/pki.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const MATCH_DIGEST: SignedIdentity = { type: 'matchDigest' };
const exact = (repository: string): SignedIdentity => toSignedIdentity({ type: 'exactRepository', repository });
const remap = (prefix: string, signedPrefix: string): SignedIdentity => toSignedIdentity({ type: 'remapIdentity', prefix, signedPrefix });
const MATCH_REPOSITORY: SignedIdentity = { type: 'matchRepository' };

describe('signedIdentity grammar', () => {
  it('normalises remapIdentity prefixes: host[:port][/path], host lower case, Docker Hub hosts as docker.io, no library/ added', () => {
    const table: [string, string][] = [
      ['ghcr.io', 'ghcr.io'],
      ['GHCR.io/acme', 'ghcr.io/acme'],
      ['mirror.internal:5000/models/acme', 'mirror.internal:5000/models/acme'],
      ['ghcr.io:443/acme', 'ghcr.io/acme'],
      ['localhost', 'localhost'],
      ['localhost:5000/x', 'localhost:5000/x'],
      ['index.docker.io/acme', 'docker.io/acme'],
      ['docker.io/library', 'docker.io/library'],
      ['[::1]:5000/m', '[::1]:5000/m'],
    ];
    for (const [input, expected] of table) assert.equal(parseIdentityPrefix(input), expected, input);
  });

  it('refuses prefixes with a tag, a digest, a short name or an invalid component, saying why', () => {
    const table: [string, RegExp][] = [
      ['ghcr.io/acme/model:v1', /without a tag \("v1"\)/],
      [`ghcr.io/acme/model@${DIGEST}`, /without a digest/],
      ['busybox', /must start with a registry host .* docker\.io\/library\/busybox, not "busybox"/],
      ['acme/models', /must start with a registry host/],
      ['', /must start with a registry host/],
      ['ghcr.io/', /path component "" is not valid/],
      ['ghcr.io/Acme', /repository names must be lowercase/],
      ['ghcr.io:99999', /registry port "99999" is not a valid port number/],
      ['-bad-.io/x', /registry host "-bad-\.io" is not a valid host name/],
    ];
    for (const [input, pattern] of table) assert.throws(() => parseIdentityPrefix(input), pattern, input);
  });

  it('normalises exactRepository names as references are, and refuses tags and digests', () => {
    assert.equal(parseSignedRepository('ghcr.io/acme/model'), 'ghcr.io/acme/model');
    assert.equal(parseSignedRepository('busybox'), 'docker.io/library/busybox');
    assert.equal(parseSignedRepository('index.docker.io/acme/model'), 'docker.io/acme/model');
    assert.throws(() => parseSignedRepository('ghcr.io/acme/model:v1'), /without a tag/);
    assert.throws(() => parseSignedRepository(`ghcr.io/acme/model@${DIGEST}`), /without a digest/);
    assert.throws(() => parseSignedRepository('ghcr.io/Acme/model'), /is not a repository name: .*lowercase/);
  });
});

describe('signedIdentity matcher (simple-signing docker-reference)', () => {
  // [pulled registry/repository, signed docker-reference, identity, passes]
  const table: [string, string, SignedIdentity, boolean][] = [
    // matchRepository: the pulled repository, any tag; docker.io normalisation.
    ['ghcr.io/acme/model', 'ghcr.io/acme/model:v1', MATCH_REPOSITORY, true],
    ['mirror.internal/acme/model', 'ghcr.io/acme/model', MATCH_REPOSITORY, false],
    ['docker.io/library/busybox', 'busybox', MATCH_REPOSITORY, true],
    ['docker.io/library/busybox', 'index.docker.io/library/busybox:latest', MATCH_REPOSITORY, true],
    // exactRepository: that repository, whatever was pulled.
    ['mirror.internal/x/y', 'ghcr.io/acme/model', exact('ghcr.io/acme/model'), true],
    ['ghcr.io/acme/model', 'ghcr.io/acme/model', exact('ghcr.io/acme/other'), false],
    ['mirror.internal/x/y', 'busybox:1.36', exact('docker.io/library/busybox'), true],
    // remapIdentity: prefix replaced at a path-component boundary, else matchRepository.
    ['example.com/foo/model', 'ghcr.io/acme/model', remap('example.com/foo', 'ghcr.io/acme'), true],
    ['example.com/foobar/model', 'ghcr.io/acme/model', remap('example.com/foo', 'ghcr.io/acme'), false],
    ['example.com/foobar/model', 'ghcr.io/acmebar/model', remap('example.com/foo', 'ghcr.io/acme'), false],
    ['example.com/foobar/model', 'example.com/foobar/model', remap('example.com/foo', 'ghcr.io/acme'), true],
    ['example.com/foo', 'ghcr.io/acme', remap('example.com/foo', 'ghcr.io/acme'), true],
    ['example.com:5000/foo/model', 'ghcr.io/acme/model', remap('example.com/foo', 'ghcr.io/acme'), false],
    ['mirror.internal:5000/hub/model', 'model', remap('mirror.internal:5000/hub', 'docker.io'), true],
    ['mirror.internal:5000/hub/library/model', 'docker.io/library/model', remap('mirror.internal:5000/hub', 'docker.io'), true],
    ['mirror.internal/acme/model', 'ghcr.io/acme/model', remap('mirror.internal', 'ghcr.io'), true],
    ['mirror.internal/acme/model', 'ghcr.io/acme/other', remap('mirror.internal', 'ghcr.io'), false],
    ['docker.io/library/busybox', 'mirror.internal/hub/library/busybox', remap('docker.io', 'mirror.internal/hub'), true],
    // matchDigest: the signed repository is ignored.
    ['mirror.internal/x/y', 'ghcr.io/acme/model', MATCH_DIGEST, true],
  ];
  for (const [pulled, signed, identity, passes] of table) {
    it(`${JSON.stringify(identity)}: ${pulled} signed as ${signed} ${passes ? 'passes' : 'fails'}`, () => {
      const [registry = '', ...path] = pulled.split('/');
      const locator = { registry, repository: path.join('/') };
      const bind = (): void => assertBinding(parseSimpleSigning(simpleSigningPayload(signed, DIGEST)), DIGEST, locator, identity);
      if (passes) bind();
      else assert.throws(bind, (error: unknown) => error instanceof BindingError && error.code === 'REPOSITORY_MISMATCH');
    });
  }

  it('says what was required and why', () => {
    const locator = { registry: 'example.com', repository: 'foo/model' };
    const claims = parseSimpleSigning(simpleSigningPayload('ghcr.io/acme/model', DIGEST));
    assert.throws(() => assertBinding(claims, DIGEST, locator), /signed for repository "ghcr\.io\/acme\/model", not example\.com\/foo\/model$/);
    assert.throws(
      () => assertBinding(claims, DIGEST, locator, remap('example.com/foo', 'ghcr.io/other')),
      /not ghcr\.io\/other\/model \(example\.com\/foo\/model remapped by signedIdentity remapIdentity\)$/,
    );
    assert.throws(
      () => assertBinding(claims, DIGEST, locator, remap('example.com/bar', 'ghcr.io/acme')),
      /not example\.com\/foo\/model \(signedIdentity remapIdentity: not under example\.com\/bar\)$/,
    );
    assert.throws(() => assertBinding(claims, DIGEST, locator, exact('ghcr.io/acme/x')), /not ghcr\.io\/acme\/x \(signedIdentity exactRepository\)$/);
  });

  it('the digest binding holds under every identity, matchDigest included', () => {
    const claims = parseSimpleSigning(simpleSigningPayload('ghcr.io/acme/model', `sha256:${'b'.repeat(64)}`));
    for (const identity of [MATCH_REPOSITORY, MATCH_DIGEST, exact('ghcr.io/acme/model'), remap('ghcr.io', 'ghcr.io')]) {
      assert.throws(() => assertBinding(claims, DIGEST, { registry: 'ghcr.io', repository: 'acme/model' }, identity), /not the admitted/);
    }
  });

  it('matchDigest accepts a payload without docker-reference; the others refuse it', () => {
    const payload = Buffer.from(
      JSON.stringify({ critical: { identity: {}, image: { 'docker-manifest-digest': DIGEST }, type: 'cosign container image signature' } }),
    );
    const locator = { registry: 'ghcr.io', repository: 'acme/model' };
    assertBinding(parseSimpleSigning(payload), DIGEST, locator, MATCH_DIGEST);
    assert.throws(() => assertBinding(parseSimpleSigning(payload), DIGEST, locator, exact('ghcr.io/acme/model')), /names no critical\.identity/);
  });

  it('in-toto statements (cosign v3) name no repository: only their digest binds, under every identity', () => {
    const claims = parseInTotoStatement('application/vnd.in-toto+json', cosignStatement(DIGEST));
    for (const identity of [MATCH_REPOSITORY, exact('ghcr.io/acme/model'), remap('mirror.internal', 'ghcr.io')]) {
      assertBinding(claims, DIGEST, { registry: 'mirror.internal', repository: 'elsewhere/model' }, identity);
    }
  });

  it('suggests the remap that cuts the common trailing path off both', () => {
    assert.deepEqual(suggestedRemap('mirror.internal:5000/models/acme/model', 'ghcr.io/acme/model'), {
      prefix: 'mirror.internal:5000/models',
      signedPrefix: 'ghcr.io',
    });
    assert.deepEqual(suggestedRemap('mirror.internal/a/model-v2', 'ghcr.io/acme/model'), {
      prefix: 'mirror.internal/a/model-v2',
      signedPrefix: 'ghcr.io/acme/model',
    });
    assert.deepEqual(suggestedRemap('a.io/model', 'b.io/model'), { prefix: 'a.io', signedPrefix: 'b.io' });
    assert.deepEqual(suggestedRemap('a.io/model', 'model.io/model'), { prefix: 'a.io', signedPrefix: 'model.io' });
  });
});

describe('signedIdentity in a policy', () => {
  const authorities = [{ name: 'k', static: 'pass' }];
  const problems = (signedIdentity: unknown): string[] => checkSignatures({ authorities, signedIdentity }).map((error) => `${error.path}: ${error.message}`);

  it('accepts each type with its fields', () => {
    for (const identity of [
      { type: 'matchRepository' },
      { type: 'matchDigest' },
      { type: 'exactRepository', repository: 'ghcr.io/acme/model' },
      { type: 'remapIdentity', prefix: 'mirror.internal:5000/models', signedPrefix: 'ghcr.io/acme' },
    ]) {
      assert.deepEqual(problems(identity), [], JSON.stringify(identity));
    }
  });

  it('refuses missing fields, fields of another type, unknown types and invalid names, each precisely', () => {
    assert.deepEqual(problems({ type: 'exactRepository' }), ['spec.signatures.signedIdentity: type exactRepository needs repository']);
    assert.deepEqual(problems({ type: 'remapIdentity', prefix: 'a.io' }), ['spec.signatures.signedIdentity: type remapIdentity needs signedPrefix']);
    assert.deepEqual(problems({ type: 'matchDigest', repository: 'ghcr.io/a/b', prefix: 'a.io' }), [
      'spec.signatures.signedIdentity.repository: only applies to type exactRepository, not matchDigest',
      'spec.signatures.signedIdentity.prefix: only applies to type remapIdentity, not matchDigest',
    ]);
    const unknown = problems({ type: 'matchExact' });
    assert.equal(unknown.length, 1);
    assert.match(unknown[0] ?? '', /^spec\.signatures\.signedIdentity\.type: .*matchRepository/);
    assert.match(
      problems({ type: 'remapIdentity', prefix: 'busybox', signedPrefix: 'ghcr.io' }).join('\n'),
      /signedIdentity\.prefix: must start with a registry host/,
    );
    assert.match(problems({ type: 'remapIdentity', prefix: 'a.io', signedPrefix: 'ghcr.io/x:v1' }).join('\n'), /signedIdentity\.signedPrefix: .*without a tag/);
    assert.match(problems({ type: 'exactRepository', repository: 'ghcr.io/A/b' }).join('\n'), /signedIdentity\.repository: is not a repository name/);
    assert.match(problems({ repository: 'ghcr.io/a/b' }).join('\n'), /signedIdentity\.type: is required/);
    assert.match(problems({ type: 'matchDigest', dockerRepository: 'x' }).join('\n'), /dockerRepository/);
  });

  it('defaults to matchRepository and converts to normal form', () => {
    assert.deepEqual(toSignaturePolicy({ authorities }).signedIdentity, { type: 'matchRepository' });
    assert.deepEqual(
      toSignaturePolicy({ authorities, signedIdentity: { type: 'remapIdentity', prefix: 'Mirror.io:443/m', signedPrefix: 'index.docker.io' } }).signedIdentity,
      {
        type: 'remapIdentity',
        prefix: 'mirror.io/m',
        signedPrefix: 'docker.io',
      },
    );
    assert.deepEqual(toSignaturePolicy({ authorities, signedIdentity: { type: 'exactRepository', repository: 'busybox' } }).signedIdentity, {
      type: 'exactRepository',
      repository: 'docker.io/library/busybox',
    });
  });

  it('is part of the cache key: each identity its own key, equal spellings one key', () => {
    const key = (signedIdentity?: unknown): string =>
      signatureCacheKey(toSignaturePolicy({ authorities, ...(signedIdentity === undefined ? {} : { signedIdentity }) }));
    const keys = [
      key(),
      key({ type: 'matchDigest' }),
      key({ type: 'exactRepository', repository: 'ghcr.io/acme/model' }),
      key({ type: 'exactRepository', repository: 'ghcr.io/acme/other' }),
      key({ type: 'remapIdentity', prefix: 'a.io', signedPrefix: 'b.io' }),
      key({ type: 'remapIdentity', prefix: 'b.io', signedPrefix: 'a.io' }),
    ];
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(key({ type: 'matchRepository' }), key());
    assert.equal(key({ type: 'exactRepository', repository: 'busybox' }), key({ type: 'exactRepository', repository: 'docker.io/library/busybox' }));
    assert.equal(
      key({ type: 'remapIdentity', prefix: 'A.io:443', signedPrefix: 'b.io' }),
      key({ type: 'remapIdentity', prefix: 'a.io', signedPrefix: 'b.io' }),
    );
  });
});

describe('verification over a mirror', () => {
  const release = newEcKey();
  const other = newEcKey();
  const mirror = { registry: 'mirror.test:5000', repository: 'models/acme/model' };
  const trustedRoots = TrustedRoots.fromSettings();
  const policy = (signedIdentity?: unknown) =>
    toSignaturePolicy({
      authorities: [{ name: 'release-key', key: publicPem(release.publicKey), tlog: 'optional' }],
      ...(signedIdentity === undefined ? {} : { signedIdentity }),
    });

  async function verify(signer: ReturnType<typeof newEcKey>, signedIdentity?: unknown) {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    const payload = simpleSigningPayload('ghcr.io/acme/model', digest);
    registry.attachLegacy(digest, [legacySignature({ kind: 'key', privateKey: signer.privateKey, publicKey: signer.publicKey }, payload)]);
    return verifySignatures({ policy: policy(signedIdentity), registry, locator: mirror, digest, deadline: Date.now() + 10_000, trustedRoots });
  }

  it('matchRepository: a signature by the key for the upstream repository is a repository mismatch, with a Fix about mirrors', async () => {
    const result = await verify(release);
    assert.equal(result.passed, false);
    assert.match(result.summary, /it was signed for repository "ghcr\.io\/acme\/model", not mirror\.test:5000\/models\/acme\/model$/m);
    assert.deepEqual(result.repositoryMismatch, { pulled: 'mirror.test:5000/models/acme/model', signed: 'ghcr.io/acme/model' });
    assert.deepEqual(result.authorities[0]?.repositoryMismatch, result.repositoryMismatch);
    const finding = signatureFinding({ name: 'models', mode: 'enforce', onError: 'deny' }, result);
    assert.equal(
      finding?.fix,
      'if mirror.test:5000/models/acme/model is a mirror of ghcr.io/acme/model, set spec.signatures.signedIdentity to ' +
        '{type: remapIdentity, prefix: mirror.test:5000/models, signedPrefix: ghcr.io} or {type: exactRepository, repository: ghcr.io/acme/model}; ' +
        'otherwise sign this digest for mirror.test:5000/models/acme/model',
    );
  });

  it('a signature by another key for another repository fails on the key: no mirror Fix', async () => {
    const result = await verify(other);
    assert.equal(result.passed, false);
    assert.match(result.summary, /does not verify with release-key's key/);
    assert.equal(result.repositoryMismatch, undefined);
    assert.match(signatureFinding({ name: 'models', mode: 'enforce', onError: 'deny' }, result)?.fix ?? '', /^sign this digest .*keys and identities$/);
  });

  it('remapIdentity, exactRepository and matchDigest admit the mirrored signature; a wrong remap does not', async () => {
    for (const identity of [
      { type: 'remapIdentity', prefix: 'mirror.test:5000/models', signedPrefix: 'ghcr.io' },
      { type: 'exactRepository', repository: 'ghcr.io/acme/model' },
      { type: 'matchDigest' },
    ]) {
      const result = await verify(release, identity);
      assert.equal(result.passed, true, `${JSON.stringify(identity)}: ${result.summary}`);
    }
    const wrong = await verify(release, { type: 'remapIdentity', prefix: 'mirror.test:5000/models', signedPrefix: 'ghcr.io/other' });
    assert.equal(wrong.passed, false);
    assert.match(wrong.summary, /not ghcr\.io\/other\/acme\/model \(mirror\.test:5000\/models\/acme\/model remapped by signedIdentity remapIdentity\)/);
    assert.deepEqual(wrong.repositoryMismatch, { pulled: 'mirror.test:5000/models/acme/model', signed: 'ghcr.io/acme/model' });
  });

  it('a cosign v3 bundle names no repository: it passes on the mirror under matchRepository', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    registry.attachBundle(digest, bundleSignature({ kind: 'key', privateKey: release.privateKey, publicKey: release.publicKey }, cosignStatement(digest)));
    const result = await verifySignatures({ policy: policy(), registry, locator: mirror, digest, deadline: Date.now() + 10_000, trustedRoots });
    assert.equal(result.passed, true, result.summary);
  });
});
