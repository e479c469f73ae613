/**
 * verifySignatures end to end over an in-memory registry (FakeRegistry, a fake: the real
 * client and registries with real cosign signatures are in test/e2e/signatures.test.ts).
 * Signatures are made here with local keys and a local test PKI (fixtures/pki.ts): a Fulcio-
 * shaped CA, a CT log and a Rekor key named by a local trusted_root.json. Nothing leaves the process.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkSignatures } from '../../../src/signature/policy-checks.ts';
import { toSignaturePolicy } from '../../../src/signature/policy-convert.ts';
import type { SignaturePolicy } from '../../../src/signature/policy-schema.ts';
import { TrustedRoots } from '../../../src/signature/trust.ts';
import { verifySignatures } from '../../../src/signature/verify.ts';
import type { SignatureResult } from '../../../src/signature/verify.ts';
import { BUNDLE_TYPE, bundleSignature, cosignStatement, legacySignature, simpleSigningPayload } from '../../support/sigstore/cosign.ts';
import type { LegacyLayer, Signer } from '../../support/sigstore/cosign.ts';
import { FakeRegistry } from '../../support/fake-registry.ts';
import { OID_SERVER_AUTH, createRogueCa, createTestPki, newCtLog, newEcKey, newRekor, publicPem } from '../../support/sigstore/pki.ts';

const pki = createTestPki();
const trustedRoots = TrustedRoots.fromSettings([{ name: 'test', json: pki.trustedRootJson() }]);
const locator = { registry: 'registry.test', repository: 'acme/model' };
const REFERENCE = 'registry.test/acme/model';
const ISSUER = 'https://token.actions.githubusercontent.com';
const WORKFLOW = 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1.2.0';
const WORKFLOW_PATTERN = '^https://github\\.com/acme/models/\\.github/workflows/release\\.yml@refs/tags/v';

const releaseKey = newEcKey();
const otherKey = newEcKey();
const keySigner = (pair = releaseKey): Signer => ({ kind: 'key', privateKey: pair.privateKey, publicKey: pair.publicKey });
const now = (): number => Math.floor(Date.now() / 1000);

function policy(data: Record<string, unknown>): SignaturePolicy {
  assert.deepEqual(checkSignatures(data), []);
  return toSignaturePolicy(data);
}

const keyAuthority = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'release-key',
  key: publicPem(releaseKey.publicKey),
  ...extra,
});
const keylessAuthority = (identities: Record<string, unknown>[] = [{ issuer: ISSUER, subjectRegExp: WORKFLOW_PATTERN }]): Record<string, unknown> => ({
  name: 'ci',
  keyless: { identities, trustedRoot: 'test' },
});

async function verify(
  registry: FakeRegistry,
  digest: string,
  signaturePolicy: SignaturePolicy,
  options: { deadline?: number; maxCandidates?: number } = {},
): Promise<SignatureResult> {
  return verifySignatures({
    policy: signaturePolicy,
    registry,
    locator,
    digest,
    deadline: options.deadline ?? Date.now() + 10_000,
    trustedRoots,
    ...(options.maxCandidates === undefined ? {} : { limits: { maxCandidates: options.maxCandidates, maxBlobBytes: 256 * 1024 } }),
  });
}

function denied(result: SignatureResult, pattern: RegExp): void {
  assert.equal(result.passed, false, result.summary);
  assert.match(result.summary, pattern);
}

function setup(options: { referrersApi?: boolean } = {}): { registry: FakeRegistry; digest: string } {
  const registry = new FakeRegistry(options);
  return { registry, digest: registry.pushArtifact() };
}

describe('key-based signatures', () => {
  it('passes a cosign v2 legacy signature made with the key when tlog is optional', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest))]);
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.authorities[0]?.signature, `sha256-${digest.slice(7, 19)}….sig layer 1`);
    assert.match(result.summary, /release-key \(key\): passed: .*no transparency-log entry \(tlog: optional\)/);
    assert.equal(result.complete, true);
    assert.equal(result.cacheable, true);
  });

  it('passes a cosign v3 bundle referrer made with the key when tlog is optional', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)));
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    assert.equal(result.passed, true, result.summary);
    assert.match(result.authorities[0]?.signature ?? '', /^bundle sha256:/);
  });

  it('denies a signature without a tlog entry when tlog is required (the default), saying so', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest))]);
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority()] }));
    denied(result, /verifies with the key but has no transparency-log entry \(set tlog: optional/);
  });

  it('passes with tlog required when the legacy signature carries a Rekor SET from a trusted log', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest), { rekor: pki.rekor })]);
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ trustedRoot: 'test' })] }));
    assert.equal(result.passed, true, result.summary);
    assert.match(result.summary, /verified with the key and its transparency-log entry \(test\)/);
  });

  it('passes with tlog required for a bundle whose entry has only an inclusion proof (no SET)', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest), { rekor: pki.rekor, promise: false }));
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ trustedRoot: 'test' })] }));
    assert.equal(result.passed, true, result.summary);
  });

  it('denies a SET from a log the trusted root does not know when tlog is required, and ignores it when optional', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest), { rekor: newRekor() })]);
    denied(
      await verify(registry, digest, policy({ authorities: [keyAuthority({ trustedRoot: 'test' })] })),
      /transparency-log entry does not verify against trusted root test/,
    );
    const relaxed = await verify(registry, digest, policy({ authorities: [keyAuthority({ trustedRoot: 'test', tlog: 'optional' })] }));
    assert.equal(relaxed.passed, true, relaxed.summary);
    assert.match(relaxed.summary, /transparency-log entry ignored/);
  });

  it('denies a signature made with another key', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(otherKey), simpleSigningPayload(REFERENCE, digest))]);
    registry.attachBundle(digest, bundleSignature(keySigner(otherKey), cosignStatement(digest)));
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    denied(result, /none of 2 signatures verified: .*the signature does not verify with release-key's key/);
  });

  it('denies a signature made with the key but with a Rekor entry under another key (tlog required)', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(otherKey), simpleSigningPayload(REFERENCE, digest), { rekor: pki.rekor })]);
    denied(await verify(registry, digest, policy({ authorities: [keyAuthority({ trustedRoot: 'test' })] })), /does not verify with release-key's key/);
  });

  for (const [label, pair, hash] of [
    ['Ed25519', generateKeyPairSync('ed25519'), null],
    ['RSA 2048', generateKeyPairSync('rsa', { modulusLength: 2048 }), 'sha256'],
    ['ECDSA P-384 (sha256, as cosign hashes)', generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'sha256'],
    ['ECDSA P-384 (sha384)', generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'sha384'],
  ] as const) {
    it(`verifies ${label} keys, legacy and bundle`, async () => {
      const { registry, digest } = setup();
      const signer: Signer = { kind: 'key', privateKey: pair.privateKey, publicKey: pair.publicKey, hash };
      registry.attachLegacy(digest, [legacySignature(signer, simpleSigningPayload(REFERENCE, digest))]);
      registry.attachBundle(digest, bundleSignature(signer, cosignStatement(digest)));
      const data = { authorities: [{ name: 'k', key: publicPem(pair.publicKey), tlog: 'optional' }] };
      const result = await verify(registry, digest, policy(data));
      assert.equal(result.passed, true, result.summary);
      // Both signatures verify on their own.
      const legacyOnly = setup();
      legacyOnly.registry.attachLegacy(legacyOnly.digest, [legacySignature(signer, simpleSigningPayload(REFERENCE, legacyOnly.digest))]);
      assert.equal((await verify(legacyOnly.registry, legacyOnly.digest, policy(data))).passed, true);
    });
  }
});

describe('keyless signatures', () => {
  const leaf = (options: Parameters<typeof pki.issueLeaf>[0] = {}) => pki.issueLeaf({ uri: WORKFLOW, issuer: ISSUER, ...options });

  it('passes a cosign v3 keyless bundle: Fulcio-shaped certificate, SCT, Rekor SET and inclusion proof', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: leaf() }, cosignStatement(digest), { rekor: pki.rekor }));
    const result = await verify(registry, digest, policy({ authorities: [keylessAuthority()] }));
    assert.equal(result.passed, true, result.summary);
    assert.match(result.summary, new RegExp(`certificate for ${WORKFLOW.replace(/[.?]/g, '\\$&')} \\(issuer ${ISSUER.replace(/\./g, '\\.')}\\)`));
  });

  it('passes a cosign v2 keyless legacy signature (certificate, chain and Rekor bundle annotations)', async () => {
    const { registry, digest } = setup();
    const layer = legacySignature({ kind: 'keyless', leaf: leaf() }, simpleSigningPayload(REFERENCE, digest), { rekor: pki.rekor });
    layer.annotations['dev.sigstore.cosign/chain'] =
      `${pki.intermediate.der.toString('base64').replace(/^/, '-----BEGIN CERTIFICATE-----\n')}\n-----END CERTIFICATE-----\n`;
    registry.attachLegacy(digest, [layer]);
    const result = await verify(registry, digest, policy({ authorities: [keylessAuthority([{ issuer: ISSUER, subject: WORKFLOW }])] }));
    assert.equal(result.passed, true, result.summary);
  });

  it('matches e-mail subjects and issuerRegExp, and only v1 or only v2 issuer extensions', async () => {
    for (const issuerExtension of ['v1', 'v2'] as const) {
      const { registry, digest } = setup();
      const cert = pki.issueLeaf({ email: 'release@acme.example', issuer: 'https://accounts.google.com', issuerExtension });
      registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: cert }, cosignStatement(digest), { rekor: pki.rekor }));
      const result = await verify(
        registry,
        digest,
        policy({ authorities: [keylessAuthority([{ issuerRegExp: 'https://accounts\\.google\\.com$', subject: 'release@acme.example' }])] }),
      );
      assert.equal(result.passed, true, `${issuerExtension}: ${result.summary}`);
    }
  });

  it('denies another subject', async () => {
    const { registry, digest } = setup();
    const cert = leaf({ uri: 'https://github.com/acme/models/.github/workflows/release.yml@refs/heads/main' });
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: cert }, cosignStatement(digest), { rekor: pki.rekor }));
    denied(
      await verify(registry, digest, policy({ authorities: [keylessAuthority()] })),
      /subject is "https:\/\/github\.com\/acme\/models\/\.github\/workflows\/release\.yml@refs\/heads\/main", not subjectRegExp/,
    );
  });

  it('denies a subject that only contains the expected one (patterns are anchored at the start)', async () => {
    const { registry, digest } = setup();
    const cert = leaf({ uri: `https://evil.example/?${WORKFLOW}` });
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: cert }, cosignStatement(digest), { rekor: pki.rekor }));
    denied(
      await verify(registry, digest, policy({ authorities: [keylessAuthority([{ issuer: ISSUER, subjectRegExp: 'https://github\\.com/acme/' }])] })),
      /SUBJECT|subject is/,
    );
  });

  it('denies another issuer', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(
      digest,
      bundleSignature({ kind: 'keyless', leaf: leaf({ issuer: 'https://gitlab.com' }) }, cosignStatement(digest), { rekor: pki.rekor }),
    );
    denied(
      await verify(registry, digest, policy({ authorities: [keylessAuthority()] })),
      /issued for OIDC issuer "https:\/\/gitlab\.com", not issuer "https:\/\/token\.actions\.githubusercontent\.com"/,
    );
  });

  it('denies an expired certificate: the Rekor integrated time is outside its validity', async () => {
    const { registry, digest } = setup();
    const start = new Date(Date.now() - 3_600_000);
    const cert = leaf({ notBefore: start, notAfter: new Date(start.getTime() + 600_000) });
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: cert }, cosignStatement(digest), { rekor: pki.rekor, integratedTime: now() }));
    registry.attachLegacy(digest, [
      legacySignature({ kind: 'keyless', leaf: cert }, simpleSigningPayload(REFERENCE, digest), { rekor: pki.rekor, integratedTime: now() }),
    ]);
    denied(
      await verify(registry, digest, policy({ authorities: [keylessAuthority()] })),
      /none of 2 signatures verified: .*its certificate is valid from \S+ to \S+, not at the signing time \S+Z$/,
    );
  });

  it('denies a certificate from a CA outside the trusted root', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(
      digest,
      bundleSignature({ kind: 'keyless', leaf: leaf({ issuingCa: createRogueCa() }) }, cosignStatement(digest), { rekor: pki.rekor }),
    );
    denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /certificate does not verify against trusted root test/);
  });

  it('denies the test PKI under the public-good root (its CAs are not Sigstore’s)', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: leaf() }, cosignStatement(digest), { rekor: pki.rekor }));
    const data = { authorities: [{ name: 'ci', keyless: { identities: [{ issuer: ISSUER, subjectRegExp: WORKFLOW_PATTERN }] } }] };
    denied(await verify(registry, digest, policy(data)), /trusted root public-good/);
  });

  it('denies a certificate without an SCT, or with an SCT from an unknown CT log', async () => {
    for (const options of [{ sct: false }, { ctLog: newCtLog() }]) {
      const { registry, digest } = setup();
      registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: leaf(options) }, cosignStatement(digest), { rekor: pki.rekor }));
      denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /SCT/);
    }
  });

  it('denies a certificate that is not for code signing', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(
      digest,
      bundleSignature({ kind: 'keyless', leaf: leaf({ extendedKeyUsage: [OID_SERVER_AUTH] }) }, cosignStatement(digest), { rekor: pki.rekor }),
    );
    denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /not a code-signing certificate/);
  });

  it('denies a keyless signature without a Rekor entry, or with an entry of an unknown log', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: leaf() }, cosignStatement(digest)));
    denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /no verified signing time|expected 1/);
    const second = setup();
    second.registry.attachBundle(second.digest, bundleSignature({ kind: 'keyless', leaf: leaf() }, cosignStatement(second.digest), { rekor: newRekor() }));
    denied(await verify(second.registry, second.digest, policy({ authorities: [keylessAuthority()] })), /transparency-log entry does not verify|inclusion/);
  });

  it('denies a keyless bundle whose Rekor entry has only an inclusion proof (no signed time to check the certificate against)', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf: leaf() }, cosignStatement(digest), { rekor: pki.rekor, promise: false }));
    denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /no verified signing time/);
  });

  it('denies a key-based signature under a keyless authority and the reverse', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)));
    denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /signed with a key, not a keyless \(Fulcio\) certificate/);
    const second = setup();
    second.registry.attachBundle(second.digest, bundleSignature({ kind: 'keyless', leaf: leaf() }, cosignStatement(second.digest), { rekor: pki.rekor }));
    denied(
      await verify(second.registry, second.digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })),
      /does not verify with release-key's key/,
    );
  });
});

describe('binding to the admitted artifact', () => {
  it('denies a valid signature over another digest (legacy and bundle), whoever signed it', async () => {
    const { registry, digest } = setup();
    const other = registry.pushArtifact('other weights');
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, other))]);
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(other)));
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    denied(result, new RegExp(`it signs ${other.slice(0, 19)}…, not the admitted ${digest.slice(0, 19)}…`));
    assert.match(result.summary, /and 1 more/);
  });

  it('denies a bundle listed in the referrers tag whose manifest names another subject', async () => {
    const { registry, digest } = setup({ referrersApi: false });
    const other = registry.pushArtifact('other weights');
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)), { subjectDigest: other });
    denied(await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })), /does not name the admitted digest as its subject/);
  });

  it('denies a legacy signature made for another repository, and tolerates docker.io normalisation', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload('registry.test/acme/other', digest))]);
    denied(
      await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })),
      /signed for repository "registry\.test\/acme\/other", not registry\.test\/acme\/model/,
    );

    const hub = new FakeRegistry();
    const hubDigest = hub.pushArtifact();
    hub.attachLegacy(hubDigest, [legacySignature(keySigner(), simpleSigningPayload('index.docker.io/library/model', hubDigest))]);
    const result = await verifySignatures({
      policy: policy({ authorities: [keyAuthority({ tlog: 'optional' })] }),
      registry: hub,
      locator: { registry: 'docker.io', repository: 'library/model' },
      digest: hubDigest,
      deadline: Date.now() + 5000,
      trustedRoots,
    });
    assert.equal(result.passed, true, result.summary);
  });

  it('denies a tampered payload: the signature no longer verifies', async () => {
    const { registry, digest } = setup();
    const layer = legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest));
    const tampered = { payload: simpleSigningPayload(REFERENCE, digest, { note: 'changed after signing' }), annotations: layer.annotations };
    registry.attachLegacy(digest, [tampered]);
    const bundle = JSON.parse(bundleSignature(keySigner(), cosignStatement(digest))) as { dsseEnvelope: { payload: string } };
    bundle.dsseEnvelope.payload = Buffer.from(cosignStatement(digest).toString().replace('"predicate":{}', '"predicate":{"x":1}')).toString('base64');
    registry.attachBundle(digest, JSON.stringify(bundle));
    denied(
      await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })),
      /none of 2 signatures verified: .*does not verify with release-key's key/,
    );
  });

  it('denies a tampered keyless payload', async () => {
    const { registry, digest } = setup();
    const cert = pki.issueLeaf({ uri: WORKFLOW, issuer: ISSUER });
    const layer = legacySignature({ kind: 'keyless', leaf: cert }, simpleSigningPayload(REFERENCE, digest), { rekor: pki.rekor });
    registry.attachLegacy(digest, [{ payload: simpleSigningPayload(REFERENCE, digest, { tampered: 'yes' }), annotations: layer.annotations }]);
    denied(await verify(registry, digest, policy({ authorities: [keylessAuthority()] })), /transparency-log entry does not verify|does not verify/);
  });

  it('denies a DSSE attestation of another predicate type, even by the right key', async () => {
    const { registry, digest } = setup();
    const statement = Buffer.from(cosignStatement(digest).toString().replace('https://sigstore.dev/cosign/sign/v1', 'https://slsa.dev/provenance/v1'));
    registry.attachBundle(digest, bundleSignature(keySigner(), statement));
    denied(
      await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })),
      /attestation of predicate type "https:\/\/slsa\.dev\/provenance\/v1", not a cosign signature/,
    );
  });
});

describe('malformed material', () => {
  it('denies an unsigned artifact, saying where it looked', async () => {
    const { registry, digest } = setup();
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' }), keylessAuthority()] }));
    denied(result, /release-key \(key\): failed: no signature found \(no sigstore bundle referrer, no cosign signature referrer, no cosign signature tag\)/);
    assert.match(result.summary, /^signatures: 0 of 2 authorities passed, threshold 1 not met/);
    assert.equal(result.complete, true);
    assert.equal(result.signatures, 0);
  });

  it('denies malformed bundles: not JSON, not a bundle, a v0.3 bundle without inclusion proof, a message signature', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, 'this is not json');
    registry.attachBundle(digest, '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
    registry.attachBundle(digest, '[1,2,3]');
    const withPromiseOnly = JSON.parse(bundleSignature(keySigner(), cosignStatement(digest), { rekor: pki.rekor, proof: false })) as unknown;
    registry.attachBundle(digest, JSON.stringify(withPromiseOnly));
    const messageBundle = {
      mediaType: BUNDLE_TYPE,
      verificationMaterial: { publicKey: { hint: 'x' }, tlogEntries: [] },
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: Buffer.alloc(32).toString('base64') },
        signature: Buffer.from('sig').toString('base64'),
      },
    };
    registry.attachBundle(digest, JSON.stringify(messageBundle));
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)), { layerMediaType: 'application/octet-stream' });
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    denied(result, /none of 6 signatures verified/);
    const reasons = result.authorities[0]?.reason ?? '';
    assert.match(reasons, /not valid JSON/);
    assert.match(reasons, /not a valid sigstore bundle/);
    assert.match(reasons, /other reason/);
    assert.equal(result.complete, true, 'malformed content is a verdict, not a registry problem');
  });

  it('reports the reasons of each malformed bundle', async () => {
    const cases: [string, RegExp][] = [
      [
        '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}',
        /not a valid sigstore bundle: it holds neither dsseEnvelope nor messageSignature; verificationMaterial is missing/,
      ],
      ['{}', /not a valid sigstore bundle/],
      ['null', /not a JSON object/],
    ];
    for (const [text, pattern] of cases) {
      const { registry, digest } = setup();
      registry.attachBundle(digest, text);
      denied(await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })), pattern);
    }
  });

  it('denies garbage annotations on legacy signatures without fetching their payloads', async () => {
    const { registry, digest } = setup();
    const good = legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest));
    const layers: LegacyLayer[] = [
      { payload: good.payload, annotations: {} },
      { payload: good.payload, annotations: { 'dev.cosignproject.cosign/signature': '***not base64***' } },
      { payload: good.payload, annotations: { ...good.annotations, 'dev.sigstore.cosign/certificate': 'not a certificate' } },
      {
        payload: good.payload,
        annotations: { ...good.annotations, 'dev.sigstore.cosign/certificate': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' },
      },
      { payload: good.payload, annotations: { ...good.annotations, 'dev.sigstore.cosign/bundle': '{"SignedEntryTimestamp":1}' } },
      { payload: good.payload, annotations: { ...good.annotations, 'dev.sigstore.cosign/bundle': 'garbage' } },
      { payload: good.payload, annotations: { 'dev.cosignproject.cosign/signature': Buffer.alloc(5000).toString('base64') } },
    ];
    registry.attachLegacy(digest, layers);
    const before = registry.requests.blob;
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    denied(result, /none of 7 signatures verified/);
    assert.equal(registry.requests.blob - before, 0, 'no payload of a garbage layer was fetched');
    const reason = result.authorities[0]?.reason ?? '';
    assert.match(reason, /has no dev\.cosignproject\.cosign\/signature annotation/);
    assert.match(reason, /not base64/);
  });

  it('denies a legacy signature whose payload is not simple signing, and a layer of another media type', async () => {
    const { registry, digest } = setup();
    const payload = Buffer.from('{"hello":"world"}');
    registry.attachLegacy(digest, [legacySignature(keySigner(), payload)]);
    denied(await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })), /no "critical" section/);
    const second = setup();
    second.registry.attachLegacy(
      second.digest,
      [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, second.digest))],
      'application/vnd.dsse.envelope.v1+json',
    );
    denied(await verify(second.registry, second.digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })), /not a cosign simple-signing payload/);
  });

  it('denies an oversized bundle without reading it', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, Buffer.alloc(300 * 1024, 0x20));
    const before = registry.requests.blob;
    denied(
      await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] })),
      /over the limit of 262144 bytes \(the Config.s spec\.signatureDiscovery\.maxBlobKiB sets it\)/,
    );
    assert.equal(registry.requests.blob, before);
  });
});

describe('discovery', () => {
  it('finds cosign v3 bundles through the referrers tag when the registry has no referrers API', async () => {
    const { registry, digest } = setup({ referrersApi: false });
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)));
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    assert.equal(result.passed, true, result.summary);
  });

  it('is bounded with 1,000 referrers: caps candidates before fetching, and finds a legacy signature all the same', async () => {
    const { registry, digest } = setup();
    for (let i = 0; i < 1000; i++) registry.attachBundle(digest, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","n":${i}}`);
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest))]);
    const memoryBefore = process.memoryUsage().heapUsed;
    const before = { ...registry.requests };
    const started = performance.now();
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }), { maxCandidates: 16 });
    const elapsed = performance.now() - started;
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.truncated, true);
    assert.match(result.summary, /more signatures exist than were read/);
    assert.ok(result.signatures <= 16, `read ${result.signatures} signatures`);
    // 15 referrer manifests and 1 legacy payload: the budget is shared, never exceeded.
    assert.equal(registry.requests.manifest - before.manifest, 15);
    // One listing for both referrer types (sigstore bundles and cosign v2 OCI 1.1 signatures), each capped on its own.
    assert.equal(registry.requests.referrers - before.referrers, 1);
    assert.ok(registry.requests.blob - before.blob <= 16, `fetched ${registry.requests.blob - before.blob} blobs`);
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
    assert.ok(process.memoryUsage().heapUsed - memoryBefore < 50 * 1024 * 1024);
  });

  it('with 1,000 junk referrers and no other signature, denies after reading only the capped number', async () => {
    const { registry, digest } = setup();
    for (let i = 0; i < 1000; i++) registry.attachBundle(digest, `{"n":${i}}`);
    const before = registry.requests.manifest;
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }), { maxCandidates: 10 });
    denied(result, /none of 10 signatures verified/);
    assert.equal(registry.requests.manifest - before, 10);
  });

  it('is bounded with a legacy .sig manifest of 1,000 layers', async () => {
    const { registry, digest } = setup();
    const junk = legacySignature(keySigner(otherKey), simpleSigningPayload(REFERENCE, digest));
    const layers: LegacyLayer[] = Array.from({ length: 1000 }, (_, i) => ({
      payload: simpleSigningPayload(REFERENCE, digest, { n: String(i) }),
      annotations: junk.annotations,
    }));
    registry.attachLegacy(digest, layers);
    const before = registry.requests.blob;
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }), { maxCandidates: 12 });
    denied(result, /none of 12 signatures verified/);
    assert.equal(result.truncated, true);
    assert.equal(registry.requests.blob - before, 12);
  });

  it('keeps the summary to a few lines', async () => {
    const { registry, digest } = setup();
    for (let i = 0; i < 50; i++) registry.attachBundle(digest, `{"n":${i}}`);
    const result = await verify(
      registry,
      digest,
      policy({ authorities: [keyAuthority({ tlog: 'optional' }), keylessAuthority(), { name: 'bg', static: 'fail' }] }),
    );
    const lines = result.summary.split('\n');
    assert.ok(lines.length <= 6, result.summary);
    assert.ok(
      lines.every((line) => line.length < 900),
      result.summary,
    );
  });

  it('reports registry failures as incomplete and not cacheable, and NOT_FOUND of the signature tag as unsigned', async () => {
    const { registry, digest } = setup();
    registry.failWith = (operation) => (operation === 'referrers' ? 'TIMEOUT' : undefined);
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    denied(result, /registry could not be read fully/);
    assert.equal(result.complete, false);
    assert.equal(result.cacheable, false);
    assert.match(result.summary, /registry: listing the signature referrers \(sigstore bundles, cosign signatures\) failed: .*injected TIMEOUT/);

    const unsigned = setup();
    const plain = await verify(unsigned.registry, unsigned.digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    assert.equal(plain.complete, true);
    assert.equal(plain.cacheable, true);
  });

  it('content anyone can push (malformed, oversized, missing) is a verdict, never "could not check"', async () => {
    for (const [operation, code] of [
      ['referrers', 'MALFORMED'],
      ['tag', 'TOO_LARGE'],
      ['tag', 'MALFORMED'],
      ['manifest', 'NOT_FOUND'],
      ['blob', 'TAMPERED'],
    ] as const) {
      const { registry, digest } = setup();
      registry.attachBundle(digest, bundleSignature(keySigner(otherKey), cosignStatement(digest)));
      registry.attachLegacy(digest, [legacySignature(keySigner(otherKey), simpleSigningPayload(REFERENCE, digest))]);
      registry.failWith = (op) => (op === operation ? code : undefined);
      const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
      assert.equal(result.passed, false, `${operation} ${code}`);
      assert.equal(result.complete, true, `${operation} ${code}: ${result.summary}`);
      assert.match(result.summary, new RegExp(`injected ${code}`));
    }
    const garbage = setup();
    garbage.registry.pushManifest(
      { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: 'nope' },
      `${garbage.digest.replace(':', '-')}.sig`,
    );
    const result = await verify(garbage.registry, garbage.digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    denied(result, /the only signature found did not verify: sha256-.*\.sig: the signature manifest .* has no layers/);
    assert.equal(result.complete, true);
  });

  it('registry-side failures (auth, 5xx, unreachable) are "could not check"', async () => {
    for (const code of ['UNAUTHORIZED', 'SERVER_ERROR', 'UNREACHABLE', 'RATE_LIMITED'] as const) {
      const { registry, digest } = setup();
      registry.attachLegacy(digest, [legacySignature(keySigner(otherKey), simpleSigningPayload(REFERENCE, digest))]);
      registry.failWith = (op) => (op === 'tag' ? code : undefined);
      const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
      assert.equal(result.complete, false, code);
      assert.equal(result.cacheable, false, code);
    }
  });

  it('a transient failure reading one signature does not hide another that verifies', async () => {
    const { registry, digest } = setup();
    const bundle = registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)));
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest))]);
    registry.failWith = (operation, reference) => (operation === 'manifest' && reference === bundle.digest ? 'SERVER_ERROR' : undefined);
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }));
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.complete, false);
    assert.equal(result.cacheable, false);
  });

  it('does nothing when the deadline has passed', async () => {
    const { registry, digest } = setup();
    registry.attachLegacy(digest, [legacySignature(keySigner(), simpleSigningPayload(REFERENCE, digest))]);
    const result = await verify(registry, digest, policy({ authorities: [keyAuthority({ tlog: 'optional' })] }), { deadline: Date.now() - 1 });
    assert.equal(result.passed, false);
    assert.equal(result.complete, false);
    assert.equal(registry.totalRequests, 0);
  });
});

describe('authorities and threshold', () => {
  it('counts distinct authorities: 2 of 3 needed', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(digest, bundleSignature(keySigner(), cosignStatement(digest)));
    registry.attachBundle(
      digest,
      bundleSignature({ kind: 'keyless', leaf: pki.issueLeaf({ uri: WORKFLOW, issuer: ISSUER }) }, cosignStatement(digest), { rekor: pki.rekor }),
    );
    const three = {
      threshold: 2,
      authorities: [keyAuthority({ tlog: 'optional' }), keylessAuthority(), { name: 'second-key', key: publicPem(otherKey.publicKey), tlog: 'optional' }],
    };
    const result = await verify(registry, digest, policy(three));
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.passedCount, 2);
    assert.deepEqual(
      result.authorities.map((outcome) => [outcome.name, outcome.passed]),
      [
        ['release-key', true],
        ['ci', true],
        ['second-key', false],
      ],
    );
    assert.match(
      result.summary,
      /^signatures: 2 of 3 authorities passed, threshold 2 met\n- release-key \(key\): passed: .*\n- ci \(keyless\): passed: .*\n- second-key \(key\): failed: none of 2 signatures verified/,
    );

    const needsThree = await verify(registry, digest, policy({ ...three, threshold: 3 }));
    denied(needsThree, /threshold 3 not met/);
  });

  it('one signature cannot count twice: the same key under two names is rejected at load time', () => {
    const problems = checkSignatures({
      threshold: 2,
      authorities: [keyAuthority({ tlog: 'optional' }), { name: 'copy', key: publicPem(releaseKey.publicKey) }],
    });
    assert.deepEqual(
      problems.map((problem) => `${problem.path}: ${problem.message}`),
      ['spec.signatures.authorities[1]: accepts the same signer as authority "release-key": the threshold counts distinct signers'],
    );
  });

  it('static pass is an explicit exception that needs no registry; static fail always fails', async () => {
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    const before = registry.totalRequests;
    const pass = await verify(registry, digest, policy({ authorities: [{ name: 'break-glass', static: 'pass' }] }));
    assert.equal(pass.passed, true);
    assert.match(pass.summary, /break-glass \(static\): passed: static pass: an explicit exception/);
    assert.equal(registry.totalRequests, before);
    const fail = await verify(registry, digest, policy({ authorities: [{ name: 'nope', static: 'fail' }] }));
    denied(fail, /nope \(static\): failed: static fail/);
  });

  it('an authority naming an unknown trusted root fails with a clear reason', async () => {
    const { registry, digest } = setup();
    registry.attachBundle(
      digest,
      bundleSignature({ kind: 'keyless', leaf: pki.issueLeaf({ uri: WORKFLOW, issuer: ISSUER }) }, cosignStatement(digest), { rekor: pki.rekor }),
    );
    const data = { authorities: [{ name: 'ci', keyless: { identities: [{ issuer: ISSUER, subject: WORKFLOW }], trustedRoot: 'corp' } }] };
    denied(await verify(registry, digest, policy(data)), /trusted root "corp" is not in the Config's spec\.trustedRoots \(known: public-good, test\)/);
  });
});
