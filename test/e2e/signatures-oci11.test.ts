// cosign v2's OCI 1.1 layout against real registries: the real cosign v2.6.5 signs with
// `COSIGN_EXPERIMENTAL=1 cosign sign --registry-referrers-mode=oci-1-1 --tlog-upload=false`, the
// webhook's own RegistryClient reads what it wrote, verifySignatures judges it, and the verdict is
// cross-checked with `cosign verify --experimental-oci11`.
//
// What cosign v2.6.5 writes in that mode (asserted below): one referrer manifest per `cosign sign`,
// an OCI image manifest with artifactType and config.mediaType
// application/vnd.dev.cosign.artifact.sig.v1+json, simple-signing layers (the `.sig` tag's layers
// copied, then the new signature) and `subject` = the artifact. The registry with the referrers
// API lists it; on distribution 2.8 go-containerregistry inside cosign writes the `sha256-<hex>`
// index tag. `cosign verify --experimental-oci11` reads only the last referrer listed, then falls
// back to the `.sig` tag.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/oci/client.ts';
import type { ManifestOptions, Registry, RepositoryLocator } from '../../src/oci/types.ts';
import { toSignaturePolicy } from '../../src/signature/policy-convert.ts';
import type { SignaturePolicy } from '../../src/signature/policy-schema.ts';
import { TrustedRoots } from '../../src/signature/trust.ts';
import { verifySignatures } from '../../src/signature/verify.ts';
import type { SignatureResult } from '../../src/signature/verify.ts';
import { buildArtifact } from './lib/artifacts.ts';
import { cosignRegistryFlags, registryClientEnv } from './lib/clients.ts';
import { pushArtifact } from './lib/fixtures.ts';
import type { PushedArtifact } from './lib/fixtures.ts';
import { fetchManifest, listReferrers, referrersFallbackTag } from './lib/oci.ts';
import type { OciIndex, OciManifest } from './lib/oci.ts';
import { runCommand } from './lib/processes.ts';
import type { RunResult } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry as TestRegistry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : `test bed not installed (${join(testbedCacheDir(), 'tools.json')} is missing): run bash test/e2e/tools/install.sh`;
const PASSWORD = 'modelgate-e2e';
const REPOSITORY = 'acme/model';
const SIGNATURE_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The webhook's registry, counting manifest reads (referrer manifests and the .sig tag). */
class CountingRegistry implements Registry {
  manifests = 0;
  readonly #inner: Registry;
  constructor(inner: Registry) {
    this.#inner = inner;
  }
  fetchManifest(locator: RepositoryLocator, digest: string, options?: ManifestOptions) {
    this.manifests++;
    return this.#inner.fetchManifest(locator, digest, options);
  }
  fetchManifestByTag(...args: Parameters<Registry['fetchManifestByTag']>) {
    return this.#inner.fetchManifestByTag(...args);
  }
  fetchBlob(...args: Parameters<Registry['fetchBlob']>) {
    return this.#inner.fetchBlob(...args);
  }
  fetchReferrers(...args: Parameters<Registry['fetchReferrers']>) {
    return this.#inner.fetchReferrers(...args);
  }
}

describe("cosign v2's OCI 1.1 signatures on real registries", { skip: SKIP, timeout: 300_000 }, () => {
  let dir = '';
  let registries: TestRegistry[] = [];
  let client: RegistryClient;
  let env: (registry: TestRegistry) => NodeJS.ProcessEnv;
  const trustedRoots = TrustedRoots.fromSettings();
  const keyPolicy = (key: string): SignaturePolicy =>
    toSignaturePolicy({ authorities: [{ name: `${key}-key`, key: readFileSync(join(dir, `${key}.pub`), 'utf8'), tlog: 'optional' }] });

  /** A one-layer model artifact, pushed with oras (test/e2e/lib). */
  function push(registry: TestRegistry, content: string, tag: string): Promise<PushedArtifact> {
    const artifact = buildArtifact({
      artifactType: 'application/vnd.example.model',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', data: Buffer.from('{}') },
      layers: [{ mediaType: 'application/octet-stream', data: Buffer.from(content) }],
    });
    return pushArtifact(registry, artifact, REPOSITORY, tag);
  }

  /** cosign v2 sign with a key, offline; `oci-1-1` writes the OCI 1.1 referrer, `legacy` the .sig tag. */
  async function sign(registry: TestRegistry, digest: string, key: string, mode: 'oci-1-1' | 'legacy' = 'oci-1-1'): Promise<void> {
    await runCommand(
      loadTools().paths.COSIGN2,
      [
        'sign',
        '--key',
        join(dir, `${key}.key`),
        '--tlog-upload=false',
        `--registry-referrers-mode=${mode}`,
        '-y',
        ...cosignRegistryFlags(registry),
        `${registry.host}/${REPOSITORY}@${digest}`,
      ],
      { env: env(registry), cwd: dir },
    );
  }

  function cosignVerify(registry: TestRegistry, digest: string, key: string): Promise<RunResult> {
    return runCommand(
      loadTools().paths.COSIGN2,
      [
        'verify',
        '--experimental-oci11',
        '--key',
        join(dir, `${key}.pub`),
        '--insecure-ignore-tlog=true',
        ...cosignRegistryFlags(registry),
        `${registry.host}/${REPOSITORY}@${digest}`,
      ],
      { env: env(registry), cwd: dir, allowFailure: true },
    );
  }

  function verify(registry: TestRegistry, digest: string, policy: SignaturePolicy, via: Registry = client): Promise<SignatureResult> {
    return verifySignatures({
      policy,
      registry: via,
      locator: { registry: registry.host, repository: REPOSITORY },
      digest,
      deadline: Date.now() + 15_000,
      trustedRoots,
    });
  }

  /** The descriptors of the artifact's cosign signature referrers, through the API or the tag fallback. */
  async function signatureReferrers(registry: TestRegistry, digest: string): Promise<OciIndex['manifests']> {
    if (registry.referrersApi) {
      const answer = await listReferrers(registry, REPOSITORY, digest);
      assert.equal(answer.status, 200);
      return (answer.index?.manifests ?? []).filter((descriptor) => descriptor.artifactType === SIGNATURE_TYPE);
    }
    assert.equal((await listReferrers(registry, REPOSITORY, digest)).status, 404, 'distribution 2.8 has no referrers API');
    const index = (await fetchManifest(registry, REPOSITORY, referrersFallbackTag(digest))).json as OciIndex;
    return index.manifests.filter((descriptor) => descriptor.artifactType === SIGNATURE_TYPE);
  }

  async function put(registry: TestRegistry, path: string, body: Buffer, contentType: string): Promise<void> {
    const response = await fetch(new URL(path, registry.url), { method: 'PUT', body, headers: { 'content-type': contentType } });
    assert.equal(response.status, 201, `PUT ${path}: HTTP ${response.status} ${await response.text()}`);
  }

  /** A blob pushed as the distribution spec says: POST an upload session, PUT the bytes to its Location. */
  async function pushBlob(registry: TestRegistry, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const session = await fetch(new URL(`/v2/${REPOSITORY}/blobs/uploads/`, registry.url), { method: 'POST' });
    assert.equal(session.status, 202, `POST blobs/uploads: HTTP ${session.status}`);
    await session.arrayBuffer();
    const location = new URL(session.headers.get('location') ?? '', registry.url);
    location.searchParams.set('digest', digest);
    await put(registry, `${location.pathname}${location.search}`, bytes, 'application/octet-stream');
    return digest;
  }

  /**
   * `count` junk signature referrers of `digest`, shaped as cosign writes them, each with a
   * signature no key made; on a registry without the API, also the `sha256-<hex>` index listing them.
   */
  async function flood(registry: TestRegistry, digest: string, subjectSize: number, count: number): Promise<void> {
    const payload = Buffer.from(
      `{"critical":{"identity":{"docker-reference":"${registry.host}/${REPOSITORY}"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const config = Buffer.from('{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}');
    const [payloadDigest, configDigest] = [await pushBlob(registry, payload), await pushBlob(registry, config)];
    const listed: OciIndex['manifests'] = [];
    for (let i = 0; i < count; i++) {
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: SIGNATURE_TYPE, size: config.length, digest: configDigest },
          layers: [
            {
              mediaType: SIMPLE_SIGNING,
              size: payload.length,
              digest: payloadDigest,
              annotations: { 'dev.cosignproject.cosign/signature': randomBytes(70).toString('base64') },
            },
          ],
          subject: { mediaType: OCI_MANIFEST, size: subjectSize, digest },
          artifactType: SIGNATURE_TYPE,
        }),
      );
      await put(registry, `/v2/${REPOSITORY}/manifests/${sha256(manifest)}`, manifest, OCI_MANIFEST);
      listed.push({ mediaType: OCI_MANIFEST, digest: sha256(manifest), size: manifest.length, artifactType: SIGNATURE_TYPE });
    }
    if (!registry.referrersApi) {
      const current = (await fetchManifest(registry, REPOSITORY, referrersFallbackTag(digest)).catch(() => undefined))?.json as OciIndex | undefined;
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...listed, ...(current?.manifests ?? [])] }));
      await put(registry, `/v2/${REPOSITORY}/manifests/${referrersFallbackTag(digest)}`, index, OCI_INDEX);
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-e2e-oci11-'));
    registries = await Promise.all([startReferrersRegistry(), startDockerRegistry()]);
    client = new RegistryClient({
      registries: registries.map((registry) => ({ host: registry.host, insecure: true, ca: undefined })),
      requestTimeoutMs: 5_000,
    });
    // The oci-1-1 mode is experimental in cosign v2: it refuses it without COSIGN_EXPERIMENTAL=1.
    env = (registry) => registryClientEnv(registry, { HOME: dir, TUF_ROOT: join(dir, 'tuf'), COSIGN_PASSWORD: PASSWORD, COSIGN_EXPERIMENTAL: '1' });
    for (const name of ['release', 'other']) {
      await runCommand(loadTools().paths.COSIGN2, ['generate-key-pair', '--output-key-prefix', name], { env: env(registries[0] as TestRegistry), cwd: dir });
    }
  });

  after(async () => {
    await client?.close();
    await Promise.all(registries.map((registry) => registry.stop()));
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  for (const index of [0, 1]) {
    const label = index === 0 ? 'registry with the referrers API' : 'docker-registry (no referrers API: sha256-<hex> index tag)';
    describe(label, () => {
      const registry = (): TestRegistry => registries[index] as TestRegistry;

      it('passes a model signed by the trusted key, denies another key, and agrees with cosign verify --experimental-oci11', async () => {
        const { digest } = await push(registry(), `oci-1-1 weights ${index}`, 'oci11');
        await sign(registry(), digest, 'release');

        // What cosign v2 wrote.
        const [descriptor, ...more] = await signatureReferrers(registry(), digest);
        assert.equal(more.length, 0);
        assert.ok(descriptor !== undefined, 'a cosign signature referrer is listed');
        const manifest = (await fetchManifest(registry(), REPOSITORY, descriptor.digest)).json as OciManifest;
        assert.equal(manifest.mediaType, OCI_MANIFEST);
        assert.equal(manifest.artifactType, SIGNATURE_TYPE);
        assert.equal(manifest.config.mediaType, SIGNATURE_TYPE);
        assert.equal(manifest.subject?.digest, digest);
        assert.equal(manifest.annotations, undefined);
        assert.deepEqual(
          manifest.layers.map((layer) => [layer.mediaType, Object.keys(layer.annotations ?? {})]),
          [[SIMPLE_SIGNING, ['dev.cosignproject.cosign/signature']]],
        );
        assert.equal((await cosignVerify(registry(), digest, 'release')).code, 0);
        assert.notEqual((await cosignVerify(registry(), digest, 'other')).code, 0);

        const trusted = await verify(registry(), digest, keyPolicy('release'));
        assert.equal(trusted.passed, true, trusted.summary);
        assert.equal(trusted.authorities[0]?.signature, `cosign referrer ${descriptor.digest.slice(0, 19)}… layer 1`);
        assert.equal(trusted.complete, true, trusted.summary);
        const wrong = await verify(registry(), digest, keyPolicy('other'));
        assert.equal(wrong.passed, false, wrong.summary);
        assert.equal(wrong.complete, true, wrong.summary);
        assert.match(wrong.summary, /cosign referrer sha256:.* layer 1: the signature does not verify with other-key's key/);
      });

      it('reads every referrer: a .sig signature copied into the referrer once, and two signers separately', async () => {
        const { digest } = await push(registry(), `two signers ${index}`, 'two');
        await sign(registry(), digest, 'other', 'legacy');
        await sign(registry(), digest, 'release');
        const [descriptor] = await signatureReferrers(registry(), digest);
        const manifest = (await fetchManifest(registry(), REPOSITORY, descriptor?.digest ?? '')).json as OciManifest;
        assert.equal(manifest.layers.length, 2, 'cosign copied the .sig layer into the referrer');
        const policy = toSignaturePolicy({
          threshold: 2,
          authorities: ['release', 'other'].map((key) => ({ name: key, key: readFileSync(join(dir, `${key}.pub`), 'utf8'), tlog: 'optional' })),
        });
        const result = await verify(registry(), digest, policy);
        assert.equal(result.passed, true, result.summary);
        assert.equal(result.signatures, 2, 'the copied layer is read once');
        // cosign agrees for each key (it reads the newest referrer, which holds both).
        assert.equal((await cosignVerify(registry(), digest, 'release')).code, 0);
        assert.equal((await cosignVerify(registry(), digest, 'other')).code, 0);
      });

      it('stays bounded with 300 signature referrers, and a .sig signature is still found', async () => {
        const { digest, manifest } = await push(registry(), `flooded ${index}`, 'flood');
        await sign(registry(), digest, 'release', 'legacy');
        await flood(registry(), digest, manifest.length, 300);
        assert.ok((await signatureReferrers(registry(), digest)).length >= 300);

        const counting = new CountingRegistry(client);
        const started = performance.now();
        const result = await verify(registry(), digest, keyPolicy('release'), counting);
        const elapsed = performance.now() - started;
        assert.equal(result.passed, true, result.summary);
        assert.match(result.authorities[0]?.signature ?? '', /\.sig layer 1$/);
        assert.equal(result.truncated, true, result.summary);
        assert.match(result.summary, /more signatures exist than were read/);
        assert.ok(result.signatures <= 16, `read ${result.signatures} signatures`);
        assert.ok(counting.manifests <= 16, `read ${counting.manifests} manifests`);
        assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
        // cosign agrees: the newest referrer fails, and it falls back to the .sig tag.
        assert.equal((await cosignVerify(registry(), digest, 'release')).code, 0);
        const wrong = await verify(registry(), digest, keyPolicy('other'));
        assert.equal(wrong.passed, false, wrong.summary);
        assert.notEqual((await cosignVerify(registry(), digest, 'other')).code, 0);
      });
    });
  }
});
