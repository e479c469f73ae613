/**
 * cosign v2's OCI 1.1 layout (`--registry-referrers-mode=oci-1-1`) through verifySignatures over
 * the in-memory FakeRegistry: referrer manifests shaped as cosign v2.6.5 writes them (captured
 * from the real binary, see the fixture below; the real runs are test/e2e/signatures-oci11.test.ts),
 * signed here with local keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RegistryErrorCode } from '../../../src/oci/errors.ts';
import { RegistryError } from '../../../src/oci/errors.ts';
import { artifactTypesOf } from '../../../src/oci/referrer-selection.ts';
import type { Referrers, ReferrersOptions, RepositoryLocator } from '../../../src/oci/types.ts';
import { splitBudget } from '../../../src/signature/discover.ts';
import { toSignaturePolicy } from '../../../src/signature/policy-convert.ts';
import type { SignaturePolicy } from '../../../src/signature/policy-schema.ts';
import { COSIGN_SIGNATURE_ARTIFACT_TYPE } from '../../../src/signature/signature-referrers.ts';
import { TrustedRoots } from '../../../src/signature/trust.ts';
import { verifySignatures } from '../../../src/signature/verify.ts';
import type { SignatureResult } from '../../../src/signature/verify.ts';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from '../../support/artifacts.ts';
import { FakeRegistry } from '../../support/fake-registry.ts';
import { COSIGN_SIGNATURE_TYPE, SIMPLE_SIGNING, legacySignature, simpleSigningPayload } from '../../support/sigstore/cosign.ts';
import type { LegacyLayer, Signer } from '../../support/sigstore/cosign.ts';
import { createTestPki, newEcKey, publicPem } from '../../support/sigstore/pki.ts';

const pki = createTestPki();
const trustedRoots = TrustedRoots.fromSettings([{ name: 'test', json: pki.trustedRootJson() }]);
const locator = { registry: 'registry.test', repository: 'acme/model' };
const REFERENCE = 'registry.test/acme/model';
const releaseKey = newEcKey();
const otherKey = newEcKey();
const signer = (pair = releaseKey): Signer => ({ kind: 'key', privateKey: pair.privateKey, publicKey: pair.publicKey });
const keyPolicy = (pair = releaseKey, extra: Record<string, unknown> = { tlog: 'optional' }): SignaturePolicy =>
  toSignaturePolicy({ authorities: [{ name: 'release-key', key: publicPem(pair.publicKey), ...extra }] });
const signed = (digest: string, pair = releaseKey): LegacyLayer => legacySignature(signer(pair), simpleSigningPayload(REFERENCE, digest));

function verify(registry: FakeRegistry, digest: string, policy: SignaturePolicy, maxCandidates?: number, at = locator): Promise<SignatureResult> {
  return verifySignatures({
    policy,
    registry,
    locator: at,
    digest,
    deadline: Date.now() + 10_000,
    trustedRoots,
    ...(maxCandidates === undefined ? {} : { limits: { maxCandidates, maxBlobBytes: 256 * 1024 } }),
  });
}

function setup(referrersApi = true): { registry: FakeRegistry; digest: string } {
  const registry = new FakeRegistry({ referrersApi });
  return { registry, digest: registry.pushArtifact() };
}

function denied(result: SignatureResult, pattern: RegExp): void {
  assert.equal(result.passed, false, result.summary);
  assert.match(result.summary, pattern);
}

describe("cosign v2's OCI 1.1 signature referrers", () => {
  it('uses the artifact type cosign v2 writes', () => {
    assert.equal(COSIGN_SIGNATURE_ARTIFACT_TYPE, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    assert.equal(COSIGN_SIGNATURE_ARTIFACT_TYPE, COSIGN_SIGNATURE_TYPE);
  });

  for (const referrersApi of [true, false]) {
    const how = referrersApi ? 'the referrers API' : 'the sha256-<hex> referrers tag';
    it(`passes a signature by the trusted key found through ${how}, and names where it was found`, async () => {
      const { registry, digest } = setup(referrersApi);
      const descriptor = registry.attachSignatureReferrer(digest, [signed(digest)]);
      const result = await verify(registry, digest, keyPolicy());
      assert.equal(result.passed, true, result.summary);
      assert.equal(result.authorities[0]?.signature, `cosign referrer ${descriptor.digest.slice(0, 19)}… layer 1`);
      assert.equal(result.complete, true);
    });

    it(`denies a signature by another key found through ${how}`, async () => {
      const { registry, digest } = setup(referrersApi);
      registry.attachSignatureReferrer(digest, [signed(digest, otherKey)]);
      denied(await verify(registry, digest, keyPolicy()), /cosign referrer sha256:.*layer 1: the signature does not verify with release-key's key/);
    });
  }

  it('reads the manifest cosign v2.6.5 wrote (captured bytes): the payload binds, the signature is judged', async () => {
    // Captured from `cosign sign --registry-referrers-mode=oci-1-1 --tlog-upload=false` on the test bed's referrers registry.
    const subject = 'sha256:253a84deba1f5ed282e6c8c3c75f1ee3519ef85a7b4bcfde69dc912f555c5320';
    const payload = Buffer.from(
      `{"critical":{"identity":{"docker-reference":"127.0.0.1:44403/acme/model"},"image":{"docker-manifest-digest":"${subject}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const manifest =
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.dev.cosign.artifact.sig.v1+json","size":233,"digest":"sha256:f09add2930533278e3bf573e87fc01a736243f3a049fc3d2653f19400accaa28"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":242,"digest":"sha256:0cfcfc10027f9987c835b92375f10e54f40004f561de7b6d1ee65d01682dfb1e","annotations":{"dev.cosignproject.cosign/signature":"MEUCIQCkAD93ex/iw9HEOtjPAuvdJLhfKbczoyj9uo95cUazIwIgeBoo3VVTMJ5k0rg7ZLQMnf3+da9ICZiy3kU4WkCGDHg="}}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":564,"digest":"sha256:253a84deba1f5ed282e6c8c3c75f1ee3519ef85a7b4bcfde69dc912f555c5320"},"artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json"}';
    const registry = new FakeRegistry();
    assert.equal(registry.pushBlob(payload, SIMPLE_SIGNING).digest, 'sha256:0cfcfc10027f9987c835b92375f10e54f40004f561de7b6d1ee65d01682dfb1e');
    const pushed = registry.pushManifest(JSON.parse(manifest) as Record<string, unknown>);
    assert.equal(pushed.digest, 'sha256:7959b64cf78ebed54968b6e8954f21691bf18f505ccdbe02bfe5e31ec6d32f16', 'the manifest bytes are the captured ones');
    // The fake writes the same shape as the capture.
    const shaped = new FakeRegistry();
    const own = shaped.attachSignatureReferrer(subject, [{ payload, annotations: { 'dev.cosignproject.cosign/signature': 'x' } }]);
    assert.deepEqual(Object.keys(shaped.manifests.get(own.digest)?.json ?? {}), Object.keys(JSON.parse(manifest) as object));

    const result = await verify(registry, subject, keyPolicy(), undefined, { registry: '127.0.0.1:44403', repository: 'acme/model' });
    denied(
      result,
      /the only signature found did not verify: cosign referrer sha256:7959b64cf78e… layer 1: the signature does not verify with release-key's key/,
    );
    const elsewhere = await verify(registry, subject, keyPolicy(), undefined, { registry: '127.0.0.1:44403', repository: 'acme/other' });
    // In another repository the key is still judged first: a repository mismatch is told only for a
    // signature that verifies (then with the mirror Fix line, signed-identity.test.ts).
    denied(elsewhere, /cosign referrer sha256:7959b64cf78e… layer 1: the signature does not verify with release-key's key/);
  });

  it('counts a signature in each referrer: two keys that signed separately meet a threshold of 2', async () => {
    const { registry, digest } = setup();
    registry.attachSignatureReferrer(digest, [signed(digest)]);
    registry.attachSignatureReferrer(digest, [signed(digest, otherKey)]);
    const policy = toSignaturePolicy({
      threshold: 2,
      authorities: [
        { name: 'release', key: publicPem(releaseKey.publicKey), tlog: 'optional' },
        { name: 'other', key: publicPem(otherKey.publicKey), tlog: 'optional' },
      ],
    });
    const result = await verify(registry, digest, policy);
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.passedCount, 2);
  });

  it('reads a layer that cosign copied from the .sig tag into the referrer once', async () => {
    const { registry, digest } = setup();
    const old = signed(digest, otherKey);
    registry.attachLegacy(digest, [old]);
    registry.attachSignatureReferrer(digest, [old, signed(digest)]);
    const before = registry.requests.blob;
    const result = await verify(registry, digest, keyPolicy());
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.signatures, 2, 'the copied layer is one signature');
    assert.equal(registry.requests.blob - before, 2);
    assert.match(result.authorities[0]?.signature ?? '', /^cosign referrer sha256:.* layer 2$/);
  });

  it('judges a referrer layer as a .sig layer: another digest, another repository, a Rekor SET', async () => {
    const { registry, digest } = setup();
    const otherDigest = registry.pushArtifact('other weights');
    registry.attachSignatureReferrer(digest, [legacySignature(signer(), simpleSigningPayload(REFERENCE, otherDigest))]);
    denied(await verify(registry, digest, keyPolicy()), /it signs sha256:.*, not the admitted/);

    const second = setup();
    second.registry.attachSignatureReferrer(second.digest, [legacySignature(signer(), simpleSigningPayload('registry.test/acme/elsewhere', second.digest))]);
    denied(await verify(second.registry, second.digest, keyPolicy()), /signed for repository "registry\.test\/acme\/elsewhere"/);

    const logged = setup();
    logged.registry.attachSignatureReferrer(logged.digest, [legacySignature(signer(), simpleSigningPayload(REFERENCE, logged.digest), { rekor: pki.rekor })]);
    const result = await verify(logged.registry, logged.digest, keyPolicy(releaseKey, { trustedRoot: 'test' }));
    assert.equal(result.passed, true, result.summary);
    assert.match(result.summary, /verified with the key and its transparency-log entry \(test\)/);
  });
});

describe('refusing what cosign does not write', () => {
  it('a listed referrer whose manifest names another subject, declares another type, or has no layers', async () => {
    const { registry, digest } = setup(false);
    const other = registry.pushArtifact('other');
    registry.attachSignatureReferrer(digest, [signed(other)], { subjectDigest: other });
    // Listed as a cosign signature in the tag index, but the manifest says it is something else.
    const otherTyped = registry.attachSignatureReferrer(digest, [signed(digest)], { artifactType: 'application/vnd.example.other' });
    registry.addToReferrersTag(digest, { ...otherTyped, artifactType: COSIGN_SIGNATURE_TYPE });
    const empty = registry.pushManifest({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: registry.pushBlob(Buffer.from('{}'), COSIGN_SIGNATURE_TYPE),
      layers: [],
      subject: { mediaType: OCI_MANIFEST, size: 0, digest },
      artifactType: COSIGN_SIGNATURE_TYPE,
    });
    registry.addToReferrersTag(digest, empty);
    const result = await verify(registry, digest, keyPolicy());
    denied(result, /none of 3 signatures verified/);
    const reason = result.authorities[0]?.reason ?? '';
    assert.match(reason, /does not name the admitted digest as its subject/);
    assert.match(reason, /declares artifactType "application\/vnd\.example\.other"/);
    assert.match(reason, /its manifest has no signature layers/);
    assert.equal(result.complete, true, 'content anyone can push is a verdict');
  });

  it('an index listed as a signature referrer, even one carrying simple-signing layers', async () => {
    const { registry, digest } = setup(false);
    const layer = registry.pushBlob(signed(digest).payload, SIMPLE_SIGNING, signed(digest).annotations);
    const index = registry.pushManifest({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [],
      layers: [layer],
      subject: { mediaType: OCI_MANIFEST, size: 0, digest },
      artifactType: COSIGN_SIGNATURE_TYPE,
    });
    registry.addToReferrersTag(digest, { ...index, artifactType: COSIGN_SIGNATURE_TYPE });
    denied(await verify(registry, digest, keyPolicy()), /it is a application\/vnd\.oci\.image\.index\.v1\+json, not an OCI image manifest/);
  });

  it('an oversized referrer manifest is refused without being fetched; an oversized or foreign layer too', async () => {
    const { registry, digest } = setup(false);
    registry.addToReferrersTag(digest, {
      mediaType: OCI_MANIFEST,
      digest: sha256(Buffer.from('x')),
      size: 5 * 1024 * 1024,
      artifactType: COSIGN_SIGNATURE_TYPE,
    });
    const before = registry.requests.manifest;
    denied(await verify(registry, digest, keyPolicy()), /its manifest is 5242880 bytes, over the limit of 1048576/);
    assert.equal(registry.requests.manifest, before);

    const second = setup();
    second.registry.attachSignatureReferrer(second.digest, [{ payload: Buffer.alloc(300 * 1024, 0x20), annotations: signed(second.digest).annotations }]);
    second.registry.attachSignatureReferrer(second.digest, [signed(second.digest)], { layerMediaType: 'application/vnd.dsse.envelope.v1+json' });
    const blobs = second.registry.requests.blob;
    const result = await verify(second.registry, second.digest, keyPolicy());
    denied(result, /over the limit of 262144/);
    assert.match(result.summary, /not a cosign simple-signing payload/);
    assert.equal(second.registry.requests.blob, blobs, 'neither payload was fetched');
  });
});

/** A FakeRegistry whose listing of one artifact type fails. */
class FailingListing extends FakeRegistry {
  readonly #code: RegistryErrorCode;
  constructor(code: RegistryErrorCode) {
    super();
    this.#code = code;
  }
  override async fetchReferrers(at: RepositoryLocator, subject: string, options: ReferrersOptions = {}): Promise<Referrers> {
    const types = artifactTypesOf(options.artifactType) ?? [];
    if (!types.includes(COSIGN_SIGNATURE_TYPE)) return super.fetchReferrers(at, subject, options);
    throw new RegistryError(
      this.#code,
      { operation: 'referrers', registry: at.registry, repository: at.repository, reference: subject },
      `injected ${this.#code}`,
    );
  }
}

/** A registry whose referrers listing waits until the test releases it. */
class SlowListing extends FakeRegistry {
  release: () => void = () => undefined;
  readonly #gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  override async fetchReferrers(at: RepositoryLocator, subject: string, options: ReferrersOptions = {}): Promise<Referrers> {
    await this.#gate;
    return super.fetchReferrers(at, subject, options);
  }
}

const turns = async (count: number): Promise<void> => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('bounds and registry failures', () => {
  it('1,000 signature referrers: reads only its share of manifests and signatures, and still finds the .sig signature', async () => {
    const { registry, digest } = setup();
    const junk = signed(digest, otherKey);
    for (let i = 0; i < 1000; i++)
      registry.attachSignatureReferrer(digest, [{ payload: simpleSigningPayload(REFERENCE, digest, { n: String(i) }), annotations: junk.annotations }]);
    registry.attachLegacy(digest, [signed(digest)]);
    const before = { ...registry.requests };
    const started = performance.now();
    const result = await verify(registry, digest, keyPolicy(), 16);
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.truncated, true);
    assert.ok(result.signatures <= 16, `read ${result.signatures}`);
    assert.equal(registry.requests.manifest - before.manifest, 15, 'the referrers take what the one .sig layer leaves');
    assert.ok(registry.requests.blob - before.blob <= 16);
    assert.ok(performance.now() - started < 2000);
  });

  it('a referrer of 1,000 layers and 1,000 bundle referrers share the budget', async () => {
    const { registry, digest } = setup();
    const junk = signed(digest, otherKey);
    const layers = Array.from({ length: 1000 }, (_, i) => ({
      payload: simpleSigningPayload(REFERENCE, digest, { n: String(i) }),
      annotations: junk.annotations,
    }));
    registry.attachSignatureReferrer(digest, [...layers, signed(digest)]);
    for (let i = 0; i < 1000; i++) registry.attachBundle(digest, `{"n":${i}}`);
    const before = { ...registry.requests };
    const result = await verify(registry, digest, keyPolicy(), 12);
    denied(result, /none of 12 signatures verified/);
    assert.equal(result.truncated, true);
    assert.match(result.summary, /more signatures exist than were read/);
    // One referrer manifest, then six bundle referrers and six of its layers.
    assert.equal(registry.requests.manifest - before.manifest, 7);
    assert.equal(registry.requests.blob - before.blob, 12);
  });

  it('a transient failure listing the signature referrers is "could not check"; malformed listing content is a verdict', async () => {
    const transient = new FailingListing('TIMEOUT');
    const digest = transient.pushArtifact();
    const result = await verify(transient, digest, keyPolicy());
    denied(result, /registry: listing the signature referrers \(sigstore bundles, cosign signatures\) failed: .*injected TIMEOUT/);
    assert.equal(result.complete, false);
    assert.equal(result.cacheable, false);

    const garbage = new FailingListing('MALFORMED');
    const other = garbage.pushArtifact();
    garbage.attachLegacy(other, [signed(other)]);
    const judged = await verify(garbage, other, keyPolicy());
    assert.equal(judged.passed, true, 'a signature elsewhere still counts');
    assert.equal(judged.complete, true);
  });

  it('reads the .sig layers while the referrers listing is pending (a third of the budget), the rest of its share after', async () => {
    const registry = new SlowListing();
    const digest = registry.pushArtifact();
    const junk = signed(digest, otherKey);
    const layers = Array.from({ length: 100 }, (_, i) => ({
      payload: simpleSigningPayload(REFERENCE, digest, { n: String(i) }),
      annotations: junk.annotations,
    }));
    registry.attachLegacy(digest, [...layers.slice(0, 3), signed(digest), ...layers.slice(3)]);
    for (let i = 0; i < 1000; i++) registry.attachBundle(digest, `{"n":${i}}`);
    const before = { ...registry.requests };
    const verifying = verify(registry, digest, keyPolicy(), 12);
    await turns(20);
    assert.equal(registry.requests.blob - before.blob, 4, 'a third of 12 read before the listing arrived');
    registry.release();
    const result = await verifying;
    assert.equal(result.passed, true, result.summary);
    assert.equal(result.truncated, true);
    // splitBudget(12, [1000 bundles, 0, 100 .sig layers]) = [6, 0, 6]: six bundle referrers, six .sig layers, as before.
    assert.equal(registry.requests.manifest - before.manifest, 6);
    assert.equal(registry.requests.blob - before.blob, 12);
  });

  it('splits the budget fairly between the layouts', () => {
    assert.deepEqual(splitBudget(16, [1000, 1000, 1000]), [6, 5, 5]);
    assert.deepEqual(splitBudget(16, [1000, 0, 1]), [15, 0, 1]);
    assert.deepEqual(splitBudget(15, [1000, 0, 1000]), [8, 0, 7]);
    assert.deepEqual(splitBudget(16, [2, 3, 4]), [2, 3, 4]);
    assert.deepEqual(splitBudget(10, [1000, 2, 1000]), [4, 2, 4]);
  });

  it('gives the .sig tag at least maxCandidates / 3 of what it wants, whatever the others want (its layers are read before the listing arrives)', () => {
    for (const max of [0, 1, 2, 3, 7, 16, 17])
      for (const bundles of [0, 1, 5, 100])
        for (const referrers of [0, 2, 100])
          for (const legacy of [0, 1, 4, 100]) {
            const [, , share = 0] = splitBudget(max, [bundles, referrers, legacy]);
            assert.ok(share >= Math.min(legacy, Math.floor(max / 3)), `max ${max}, demands ${bundles}/${referrers}/${legacy}: share ${share}`);
          }
  });
});
