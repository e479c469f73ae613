// Signature verification against real registries with real cosign signatures.
//
// Test bed (test/e2e/tools/install.sh): cosign v2.6.5 and v3.1.3, oras, the
// go-containerregistry registry with the OCI 1.1 referrers API, and Debian's
// docker-registry (distribution 2.8, no referrers API). The webhook's own
// RegistryClient reads what cosign wrote; verifySignatures judges it.
//
// Offline signing, as it is done here:
//  - cosign v2: `cosign sign --key k.key --tlog-upload=false` writes the legacy
//    `sha256-<hex>.sig` tag (simple-signing layer, signature annotation).
//  - cosign v3: `--tlog-upload=false` is deprecated and refused together with a
//    signing config; the supported way is `--signing-config` with a config that
//    lists no Rekor/TSA services (`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
//    "rekorTlogConfig":{},"tsaConfig":{}}`, what `cosign signing-config create`
//    writes with no flags), plus `--trusted-root` so that it does not try to
//    fetch one from TUF. It attaches a sigstore bundle v0.3 (DSSE, in-toto
//    statement of predicate https://sigstore.dev/cosign/sign/v1) as an OCI 1.1
//    referrer, or on a registry without the API, in the `sha256-<hex>` index tag.
// Every tool runs with guardedClientEnv: anything but loopback goes to a dead
// proxy, so no Sigstore public service is ever reached.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/oci/client.ts';
import { toSignaturePolicy } from '../../src/signature/policy-convert.ts';
import type { SignaturePolicy } from '../../src/signature/policy-schema.ts';
import { TrustedRoots, embeddedPublicGoodJson } from '../../src/signature/trust.ts';
import { verifySignatures } from '../../src/signature/verify.ts';
import type { SignatureResult } from '../../src/signature/verify.ts';
import { orasRemoteFlags, registryClientEnv, cosignRegistryFlags } from './lib/clients.ts';
import { cosignSignatureTag, fetchManifest, listReferrers, referrersFallbackTag, registryRequest } from './lib/oci.ts';
import type { OciIndex, OciManifest } from './lib/oci.ts';
import { runCommand } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry as TestRegistry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : `test bed not installed (${join(testbedCacheDir(), 'tools.json')} is missing): run bash test/e2e/tools/install.sh`;
const PASSWORD = 'modelgate-e2e';
const REPOSITORY = 'acme/model';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const NO_TLOG_SIGNING_CONFIG = JSON.stringify({ mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json', rekorTlogConfig: {}, tsaConfig: {} });

describe('signatures from real cosign on real registries', { skip: SKIP, timeout: 300_000 }, () => {
  let dir = '';
  let referrersRegistry: TestRegistry;
  let dockerRegistry: TestRegistry;
  let client: RegistryClient;
  let env: (registry: TestRegistry) => NodeJS.ProcessEnv;
  const trustedRoots = TrustedRoots.fromSettings();
  let releaseKeyPem = '';
  let otherKeyPem = '';

  const keyPolicy = (pem: string, tlog: 'optional' | 'required' = 'optional'): SignaturePolicy =>
    toSignaturePolicy({ authorities: [{ name: 'release-key', key: pem, tlog }] });

  async function push(registry: TestRegistry, content: string, tag: string): Promise<string> {
    const file = join(dir, `${tag}.bin`);
    writeFileSync(file, content);
    const { stdout } = await runCommand(
      loadTools().paths.ORAS,
      [
        'push',
        ...orasRemoteFlags(registry),
        `${registry.host}/${REPOSITORY}:${tag}`,
        '--artifact-type',
        'application/vnd.example.model',
        `${tag}.bin:application/octet-stream`,
      ],
      { env: env(registry), cwd: dir },
    );
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    assert.ok(digest !== undefined, `no digest in oras output: ${stdout}`);
    return digest;
  }

  async function signV2(registry: TestRegistry, digest: string, key: string): Promise<void> {
    await runCommand(
      loadTools().paths.COSIGN2,
      ['sign', '--key', join(dir, `${key}.key`), '--tlog-upload=false', '-y', ...cosignRegistryFlags(registry), `${registry.host}/${REPOSITORY}@${digest}`],
      {
        env: env(registry),
        cwd: dir,
      },
    );
  }

  async function signV3(registry: TestRegistry, digest: string, key: string): Promise<void> {
    await runCommand(
      loadTools().paths.COSIGN3,
      [
        'sign',
        '--key',
        join(dir, `${key}.key`),
        '--signing-config',
        join(dir, 'signing-config.json'),
        '--trusted-root',
        join(dir, 'trusted_root.json'),
        '-y',
        ...cosignRegistryFlags(registry),
        `${registry.host}/${REPOSITORY}@${digest}`,
      ],
      { env: env(registry), cwd: dir },
    );
  }

  function verify(registry: TestRegistry, digest: string, policy: SignaturePolicy): Promise<SignatureResult> {
    return verifySignatures({
      policy,
      registry: client,
      locator: { registry: registry.host, repository: REPOSITORY },
      digest,
      deadline: Date.now() + 15_000,
      trustedRoots,
    });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-e2e-signatures-'));
    [referrersRegistry, dockerRegistry] = await Promise.all([startReferrersRegistry(), startDockerRegistry()]);
    client = new RegistryClient({
      registries: [referrersRegistry, dockerRegistry].map((registry) => ({ host: registry.host, insecure: true, ca: undefined })),
      requestTimeoutMs: 5_000,
    });
    // cosign keeps its TUF cache under HOME: give it an empty one of its own.
    env = (registry) => registryClientEnv(registry, { HOME: dir, TUF_ROOT: join(dir, 'tuf'), COSIGN_PASSWORD: PASSWORD });
    writeFileSync(join(dir, 'signing-config.json'), NO_TLOG_SIGNING_CONFIG);
    writeFileSync(join(dir, 'trusted_root.json'), embeddedPublicGoodJson());
    for (const name of ['release', 'other']) {
      await runCommand(loadTools().paths.COSIGN2, ['generate-key-pair', '--output-key-prefix', name], { env: env(referrersRegistry), cwd: dir });
    }
    releaseKeyPem = readFileSync(join(dir, 'release.pub'), 'utf8');
    otherKeyPem = readFileSync(join(dir, 'other.pub'), 'utf8');
  });

  after(async () => {
    await client?.close();
    await Promise.all([referrersRegistry?.stop(), dockerRegistry?.stop()]);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  describe('registry with the referrers API', () => {
    it('cosign v3: a bundle referrer, verified with the right key and tlog: optional', async () => {
      const digest = await push(referrersRegistry, 'v3 weights', 'v3');
      await signV3(referrersRegistry, digest, 'release');

      // What cosign v3 really wrote.
      const referrers = await listReferrers(referrersRegistry, REPOSITORY, digest);
      assert.equal(referrers.status, 200);
      const [descriptor] = referrers.index?.manifests ?? [];
      assert.equal(descriptor?.artifactType, BUNDLE_TYPE);
      assert.equal(descriptor?.annotations?.['dev.sigstore.bundle.predicateType'], 'https://sigstore.dev/cosign/sign/v1');
      const manifest = (await fetchManifest(referrersRegistry, REPOSITORY, descriptor?.digest ?? '')).json as OciManifest;
      assert.equal(manifest.artifactType, BUNDLE_TYPE);
      assert.equal(manifest.layers[0]?.mediaType, BUNDLE_TYPE);
      assert.equal(manifest.subject?.digest, digest);

      const result = await verify(referrersRegistry, digest, keyPolicy(releaseKeyPem));
      assert.equal(result.passed, true, result.summary);
      assert.match(result.authorities[0]?.signature ?? '', /^bundle sha256:/);
      assert.equal(result.complete, true, result.summary);
    });

    it('cosign v3: fails with another key, and without tlog: optional', async () => {
      const digest = await push(referrersRegistry, 'v3 weights, second', 'v3b');
      await signV3(referrersRegistry, digest, 'release');
      const wrongKey = await verify(referrersRegistry, digest, keyPolicy(otherKeyPem));
      assert.equal(wrongKey.passed, false);
      assert.match(wrongKey.summary, /does not verify with release-key's key/);
      const tlogRequired = await verify(referrersRegistry, digest, keyPolicy(releaseKeyPem, 'required'));
      assert.equal(tlogRequired.passed, false);
      assert.match(tlogRequired.summary, /no transparency-log entry/);
    });

    it('cosign v2: a legacy .sig signature, verified with the right key, not another', async () => {
      const digest = await push(referrersRegistry, 'v2 weights', 'v2');
      await signV2(referrersRegistry, digest, 'release');

      const sig = (await fetchManifest(referrersRegistry, REPOSITORY, cosignSignatureTag(digest))).json as OciManifest;
      assert.equal(sig.layers[0]?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
      assert.ok(sig.layers[0]?.annotations?.['dev.cosignproject.cosign/signature'] !== undefined);
      assert.equal(sig.layers[0]?.annotations?.['dev.sigstore.cosign/bundle'], undefined, '--tlog-upload=false: no Rekor bundle');

      const result = await verify(referrersRegistry, digest, keyPolicy(releaseKeyPem));
      assert.equal(result.passed, true, result.summary);
      assert.match(result.authorities[0]?.signature ?? '', /\.sig layer 1$/);
      const wrongKey = await verify(referrersRegistry, digest, keyPolicy(otherKeyPem));
      assert.equal(wrongKey.passed, false, wrongKey.summary);
    });

    it("a signature of another digest never passes, even copied under this digest's .sig tag", async () => {
      const signed = await push(referrersRegistry, 'signed weights', 'signed');
      const unsigned = await push(referrersRegistry, 'unsigned weights', 'unsigned');
      await signV2(referrersRegistry, signed, 'release');
      const plain = await verify(referrersRegistry, unsigned, keyPolicy(releaseKeyPem));
      assert.equal(plain.passed, false);
      assert.match(plain.summary, /no signature found/);

      // Re-tag the signature manifest of `signed` as the .sig tag of `unsigned`.
      const sig = await fetchManifest(referrersRegistry, REPOSITORY, cosignSignatureTag(signed));
      await runCommand(
        loadTools().paths.ORAS,
        ['tag', ...orasRemoteFlags(referrersRegistry), `${referrersRegistry.host}/${REPOSITORY}@${sig.digest}`, cosignSignatureTag(unsigned)],
        {
          env: env(referrersRegistry),
        },
      );
      const copied = await verify(referrersRegistry, unsigned, keyPolicy(releaseKeyPem));
      assert.equal(copied.passed, false, copied.summary);
      assert.match(copied.summary, new RegExp(`it signs ${signed.slice(0, 19)}…, not the admitted ${unsigned.slice(0, 19)}…`));
    });
  });

  describe('docker-registry (no referrers API)', () => {
    it('finds cosign v3 bundles through the sha256-<hex> tag fallback', async () => {
      const answer = await registryRequest(dockerRegistry, 'GET', `/v2/${REPOSITORY}/referrers/sha256:${'0'.repeat(64)}`);
      assert.equal(answer.status, 404, 'distribution 2.8 has no referrers API');
      const digest = await push(dockerRegistry, 'v3 on distribution', 'v3');
      await signV3(dockerRegistry, digest, 'release');
      const index = (await fetchManifest(dockerRegistry, REPOSITORY, referrersFallbackTag(digest))).json as OciIndex;
      assert.equal(index.manifests[0]?.artifactType, BUNDLE_TYPE);

      const result = await verify(dockerRegistry, digest, keyPolicy(releaseKeyPem));
      assert.equal(result.passed, true, result.summary);
      assert.match(result.authorities[0]?.signature ?? '', /^bundle sha256:/);
      const wrongKey = await verify(dockerRegistry, digest, keyPolicy(otherKeyPem));
      assert.equal(wrongKey.passed, false, wrongKey.summary);
    });

    it('verifies cosign v2 legacy signatures too, and both formats on one artifact', async () => {
      const digest = await push(dockerRegistry, 'both formats', 'both');
      await signV2(dockerRegistry, digest, 'release');
      await signV3(dockerRegistry, digest, 'other');
      const policy = toSignaturePolicy({
        threshold: 2,
        authorities: [
          { name: 'release-key', key: releaseKeyPem, tlog: 'optional' },
          { name: 'other-key', key: otherKeyPem, tlog: 'optional' },
        ],
      });
      const result = await verify(dockerRegistry, digest, policy);
      assert.equal(result.passed, true, result.summary);
      assert.match(result.authorities[0]?.signature ?? '', /\.sig layer 1$/);
      assert.match(result.authorities[1]?.signature ?? '', /^bundle sha256:/);
    });
  });
});
