// Private PKI (issue 12, items 2 and 3): signatures made with an enterprise's
// own CA, no Rekor and no CT log, by the real cosign v3 (`sign --key leaf
// --certificate leaf.pem --certificate-chain chain.pem`: a v0.3 bundle whose
// verificationMaterial is an x509CertificateChain, leaf then intermediate)
// and cosign v2 (the legacy .sig with certificate and chain annotations), on
// both registries of the test bed. The CA is made with openssl
// (lib/own-ca.ts); RFC 3161 timestamps come from sigstore's real
// timestamp-authority server (v2.1.3, in-memory signer, on loopback).
//
// What must hold:
// - keyless defaults (tlog, ctlog required; signing time from Rekor or a TSA)
//   deny, listing every unmet requirement;
// - `tlog: optional, ctlog: optional, signingTime: certificateValidity`
//   allows, also when the trusted root holds only the root CA (the bundle's
//   intermediate fills the gap; trust still comes from the trusted root);
// - a leaf of another CA, or an expired leaf, is denied;
// - a TSA timestamp proves the signing time (default signingTime) when the
//   TSA is in the trusted root, and is refused when it is not;
// - cosign itself agrees (`verify --trusted-root --allow-certificate-chain
//   --insecure-ignore-tlog --insecure-ignore-sct`, v2: `--certificate-chain`).

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/oci/client.ts';
import { toSignaturePolicy } from '../../src/signature/policy-convert.ts';
import type { SignaturePolicy } from '../../src/signature/policy-schema.ts';
import { TrustedRoots } from '../../src/signature/trust.ts';
import { verifySignatures } from '../../src/signature/verify.ts';
import type { SignatureResult } from '../../src/signature/verify.ts';
import { cosignRegistryFlags, orasRemoteFlags, registryClientEnv } from './lib/clients.ts';
import { fetchManifest, listReferrers, referrersFallbackTag, registryRequest } from './lib/oci.ts';
import type { OciIndex, OciManifest } from './lib/oci.ts';
import { createOwnCa, issueLeaf, ownTrustedRoot } from './lib/own-ca.ts';
import type { OwnCa, OwnLeaf } from './lib/own-ca.ts';
import { freePort } from './lib/ports.ts';
import { runCommand, startProcess } from './lib/processes.ts';
import type { ManagedProcess } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry as TestRegistry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : `test bed not installed (${join(testbedCacheDir(), 'tools.json')} is missing): run bash test/e2e/tools/install.sh`;
const PASSWORD = 'modelgate-e2e-pki';
const REPOSITORY = 'acme/private-model';
const ISSUER = 'https://idp.acme.example';
const SIGNER = 'release@acme.example';
const RELAXED = { tlog: 'optional', ctlog: 'optional', signingTime: 'certificateValidity' } as const;
const DAY = 86_400_000;

describe('private PKI: own CA, no transparency logs, real cosign on both registries', { skip: SKIP, timeout: 300_000 }, () => {
  let dir = '';
  let registries: { name: string; registry: TestRegistry }[] = [];
  let client: RegistryClient;
  let tsa: ManagedProcess;
  let tsaUrl = '';
  let acme: OwnCa;
  let rogue: OwnCa;
  let leaf: OwnLeaf;
  let rogueLeaf: OwnLeaf;
  let expiredLeaf: OwnLeaf;
  let roots: TrustedRoots;
  const rootFiles: Record<string, string> = {};
  let counter = 0;

  const env = (registry: TestRegistry): NodeJS.ProcessEnv => registryClientEnv(registry, { HOME: dir, TUF_ROOT: join(dir, 'tuf'), COSIGN_PASSWORD: PASSWORD });

  /** A keyless authority over the named trusted root, with evidence choices. */
  const authority = (trustedRoot: string, choices: Record<string, unknown> = {}): SignaturePolicy =>
    toSignaturePolicy({ authorities: [{ name: 'acme-ca', keyless: { identities: [{ issuer: ISSUER, subject: SIGNER }], trustedRoot, ...choices } }] });

  async function push(registry: TestRegistry): Promise<string> {
    counter += 1;
    const file = `weights-${counter}.bin`;
    writeFileSync(join(dir, file), `private model weights ${counter}`);
    const { stdout } = await runCommand(
      loadTools().paths.ORAS,
      [
        'push',
        ...orasRemoteFlags(registry),
        `${registry.host}/${REPOSITORY}:w${counter}`,
        '--artifact-type',
        'application/vnd.example.model',
        `${file}:application/octet-stream`,
      ],
      { env: env(registry), cwd: dir },
    );
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    assert.ok(digest !== undefined, `no digest in oras output: ${stdout}`);
    return digest;
  }

  /** cosign v3 with the leaf, its chain, no Rekor; with an RFC 3161 timestamp when `timestamp`. */
  async function signV3(registry: TestRegistry, digest: string, signer: OwnLeaf, chainFile: string, timestamp = false): Promise<void> {
    const tsaFlags = timestamp ? ['--timestamp-server-url', `${tsaUrl}/api/v1/timestamp`] : [];
    await runCommand(
      loadTools().paths.COSIGN3,
      [
        'sign',
        '--key',
        signer.cosignKeyFile,
        '--certificate',
        signer.certFile,
        '--certificate-chain',
        chainFile,
        '--use-signing-config=false',
        '--tlog-upload=false',
      ].concat(tsaFlags, ['-y', ...cosignRegistryFlags(registry), `${registry.host}/${REPOSITORY}@${digest}`]),
      { env: env(registry), cwd: dir },
    );
  }

  async function signV2(registry: TestRegistry, digest: string, signer: OwnLeaf, chainFile: string): Promise<void> {
    await runCommand(
      loadTools().paths.COSIGN2,
      ['sign', '--key', signer.cosignKeyFile, '--certificate', signer.certFile, '--certificate-chain', chainFile, '--tlog-upload=false', '-y'].concat(
        cosignRegistryFlags(registry),
        [`${registry.host}/${REPOSITORY}@${digest}`],
      ),
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
      trustedRoots: roots,
    });
  }

  /** cosign v3's own verdict with the same trusted root and the same relaxations. */
  function cosignV3Verify(registry: TestRegistry, digest: string, root: string, relax = ['--insecure-ignore-tlog', '--insecure-ignore-sct']) {
    return runCommand(
      loadTools().paths.COSIGN3,
      [
        'verify',
        '--trusted-root',
        rootFiles[root] ?? '',
        '--allow-certificate-chain',
        ...relax,
        '--certificate-identity',
        SIGNER,
        '--certificate-oidc-issuer',
        ISSUER,
      ].concat(cosignRegistryFlags(registry), [`${registry.host}/${REPOSITORY}@${digest}`]),
      { env: env(registry), allowFailure: true },
    );
  }

  /** The bundle JSON cosign v3 attached to `digest` (referrers API, else the tag fallback). */
  async function attachedBundle(registry: TestRegistry, digest: string): Promise<Record<string, unknown>> {
    const referrers = await listReferrers(registry, REPOSITORY, digest);
    const index =
      referrers.status === 200 && referrers.index !== undefined
        ? referrers.index
        : ((await fetchManifest(registry, REPOSITORY, referrersFallbackTag(digest))).json as OciIndex);
    const descriptor = index.manifests[0];
    assert.ok(descriptor !== undefined, 'cosign attached no bundle');
    const manifest = (await fetchManifest(registry, REPOSITORY, descriptor.digest)).json as OciManifest;
    const blob = await registryRequest(registry, 'GET', `/v2/${REPOSITORY}/blobs/${manifest.layers[0]?.digest ?? ''}`);
    return JSON.parse(blob.body.toString('utf8')) as Record<string, unknown>;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-e2e-pki-'));
    const [referrersRegistry, dockerRegistry] = await Promise.all([startReferrersRegistry(), startDockerRegistry()]);
    registries = [
      { name: 'referrers API', registry: referrersRegistry },
      { name: 'docker-registry, tag fallback', registry: dockerRegistry },
    ];
    client = new RegistryClient({
      registries: registries.map(({ registry }) => ({ host: registry.host, insecure: true, ca: undefined })),
      requestTimeoutMs: 5_000,
    });
    const port = await freePort();
    tsaUrl = `http://127.0.0.1:${port}`;
    // In-memory signer: a fresh TSA chain per start. No NTP monitoring: nothing leaves loopback.
    tsa = await startProcess({
      name: 'timestamp-server',
      command: loadTools().paths.TIMESTAMP_SERVER,
      args: ['serve', '--host', '127.0.0.1', '--port', String(port), '--timestamp-signer', 'memory', '--disable-ntp-monitoring'],
      ready: { kind: 'http', url: `${tsaUrl}/api/v1/timestamp/certchain` },
    });
    const tsaChain = await fetch(`${tsaUrl}/api/v1/timestamp/certchain`).then((answer) => answer.text());
    writeFileSync(join(dir, 'tsa-chain.pem'), tsaChain);

    for (const name of ['acme', 'rogue']) mkdirSync(join(dir, name));
    [acme, rogue] = await Promise.all([createOwnCa(join(dir, 'acme'), 'Acme'), createOwnCa(join(dir, 'rogue'), 'Rogue')]);
    const now = Date.now();
    const common = { issuer: ISSUER, email: SIGNER, cosign: loadTools().paths.COSIGN3, password: PASSWORD };
    leaf = await issueLeaf(acme, { ...common, name: 'release', notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY) });
    expiredLeaf = await issueLeaf(acme, { ...common, name: 'expired', notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) });
    rogueLeaf = await issueLeaf(rogue, { ...common, name: 'rogue', notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY) });

    const documents: Record<string, string> = {
      // The root alone: the path needs the bundle's intermediate.
      'acme-root-only': ownTrustedRoot([acme.rootFile]),
      'acme-with-tsa': ownTrustedRoot([acme.chainFile], join(dir, 'tsa-chain.pem')),
      'acme-no-tsa': ownTrustedRoot([acme.chainFile]),
      'rogue-only': ownTrustedRoot([rogue.chainFile]),
    };
    for (const [name, json] of Object.entries(documents)) {
      rootFiles[name] = join(dir, `${name}.json`);
      writeFileSync(rootFiles[name], json);
    }
    roots = TrustedRoots.fromSettings(Object.entries(documents).map(([name, json]) => ({ name, json })));
  });

  after(async () => {
    await client?.close();
    await Promise.all([tsa?.stop(), ...registries.map(({ registry }) => registry.stop())]);
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  for (const index of [0, 1]) {
    const at = () => registries[index] as { name: string; registry: TestRegistry };
    describe(`on the ${index === 0 ? 'registry with the referrers API' : 'docker-registry (tag fallback)'}`, () => {
      it('cosign v3 with --certificate-chain: the bundle carries the chain; defaults deny listing every unmet requirement; the relaxed authority allows', async () => {
        const { registry } = at();
        const digest = await push(registry);
        await signV3(registry, digest, leaf, acme.chainFile);
        const bundle = await attachedBundle(registry, digest);
        const material = bundle['verificationMaterial'] as { x509CertificateChain?: { certificates: unknown[] }; tlogEntries?: unknown[] };
        assert.equal(bundle['mediaType'], 'application/vnd.dev.sigstore.bundle.v0.3+json');
        assert.equal(material.x509CertificateChain?.certificates.length, 2, 'cosign v3 writes the leaf and the intermediate');
        assert.equal(material.tlogEntries?.length ?? 0, 0);

        const defaults = await verify(registry, digest, authority('acme-root-only'));
        assert.equal(defaults.passed, false, defaults.summary);
        const reason = defaults.authorities[0]?.reason ?? '';
        assert.match(reason, /no transparency-log entry \(tlog: required\)/);
        assert.match(reason, /no SCT in the certificate \(ctlog: required\)/);
        assert.match(reason, /no verified signing time: .*\(signingTime: tlog, timestampAuthority\)/);
        assert.doesNotMatch(reason, /does not verify against trusted root|not a valid sigstore bundle/);

        const relaxed = await verify(registry, digest, authority('acme-root-only', RELAXED));
        assert.equal(relaxed.passed, true, relaxed.summary);
        assert.match(relaxed.summary, /certificate for release@acme\.example \(issuer https:\/\/idp\.acme\.example\), chained to acme-root-only/);
        assert.match(relaxed.summary, /certificate valid now \(signingTime: certificateValidity\)/);

        // cosign agrees: it accepts with the same relaxations, and refuses without them.
        const cosignRelaxed = await cosignV3Verify(registry, digest, 'acme-root-only');
        assert.equal(cosignRelaxed.code, 0, cosignRelaxed.stderr);
        const cosignStrict = await cosignV3Verify(registry, digest, 'acme-root-only', []);
        assert.notEqual(cosignStrict.code, 0, 'cosign v3 without --insecure-ignore-tlog must refuse too');
      });

      it('denies a leaf of another CA, even with its own chain in the bundle; allows it only under its own trusted root', async () => {
        const { registry } = at();
        const digest = await push(registry);
        await signV3(registry, digest, rogueLeaf, rogue.chainFile);
        const result = await verify(registry, digest, authority('acme-root-only', RELAXED));
        assert.equal(result.passed, false, result.summary);
        assert.match(result.summary, /its certificate does not verify against trusted root acme-root-only: it does not chain to a certificate authority/);
        const cosign = await cosignV3Verify(registry, digest, 'acme-root-only');
        assert.notEqual(cosign.code, 0, 'cosign refuses it too');
        const own = await verify(registry, digest, authority('rogue-only', RELAXED));
        assert.equal(own.passed, true, own.summary);
      });

      it('denies an expired leaf: certificateValidity means valid now', async () => {
        const { registry } = at();
        const digest = await push(registry);
        await signV3(registry, digest, expiredLeaf, acme.chainFile);
        const result = await verify(registry, digest, authority('acme-root-only', RELAXED));
        assert.equal(result.passed, false, result.summary);
        assert.match(result.summary, /its certificate is valid from \S+ to \S+, not at the signing time \S+/);
        const cosign = await cosignV3Verify(registry, digest, 'acme-root-only');
        assert.notEqual(cosign.code, 0, 'cosign refuses the expired certificate too');
      });

      it('an RFC 3161 timestamp from a TSA of the trusted root proves the signing time (default signingTime); a TSA outside it does not', async () => {
        const { registry } = at();
        const digest = await push(registry);
        await signV3(registry, digest, leaf, acme.chainFile, true);
        const bundle = await attachedBundle(registry, digest);
        const stamps = (bundle['verificationMaterial'] as { timestampVerificationData?: { rfc3161Timestamps?: unknown[] } }).timestampVerificationData;
        assert.equal(stamps?.rfc3161Timestamps?.length, 1);

        const proven = await verify(registry, digest, authority('acme-with-tsa', { tlog: 'optional', ctlog: 'optional' }));
        assert.equal(proven.passed, true, proven.summary);
        assert.match(proven.summary, /signed at \d{4}-\d\d-\d\dT/);
        const strict = await verify(registry, digest, authority('acme-with-tsa'));
        assert.equal(strict.passed, false, strict.summary);
        assert.match(strict.summary, /no transparency-log entry \(tlog: required\); no SCT in the certificate \(ctlog: required\)$/m);

        const unknownTsa = await verify(registry, digest, authority('acme-no-tsa', { tlog: 'optional', ctlog: 'optional' }));
        assert.equal(unknownTsa.passed, false, unknownTsa.summary);
        assert.match(unknownTsa.summary, /its RFC 3161 timestamp does not verify against the timestamp authorities of trusted root acme-no-tsa/);

        const cosign = await cosignV3Verify(registry, digest, 'acme-with-tsa', ['--insecure-ignore-tlog', '--insecure-ignore-sct', '--use-signed-timestamps']);
        assert.equal(cosign.code, 0, cosign.stderr);
      });

      it('cosign v2 --certificate --certificate-chain (legacy .sig): denied by default, allowed relaxed, cross-checked with cosign v2 verify', async () => {
        const { registry } = at();
        const digest = await push(registry);
        await signV2(registry, digest, leaf, acme.chainFile);
        const defaults = await verify(registry, digest, authority('acme-root-only'));
        assert.equal(defaults.passed, false, defaults.summary);
        assert.match(defaults.summary, /no transparency-log entry \(tlog: required\).*no SCT in the certificate \(ctlog: required\)/);
        const relaxed = await verify(registry, digest, authority('acme-root-only', RELAXED));
        assert.equal(relaxed.passed, true, relaxed.summary);
        assert.match(relaxed.authorities[0]?.signature ?? '', /\.sig layer 1$/);

        const cosign = await runCommand(
          loadTools().paths.COSIGN2,
          ['verify', '--certificate-chain', acme.chainFile, '--insecure-ignore-tlog', '--insecure-ignore-sct', '--certificate-identity', SIGNER].concat([
            '--certificate-oidc-issuer',
            ISSUER,
            ...cosignRegistryFlags(registry),
            `${registry.host}/${REPOSITORY}@${digest}`,
          ]),
          { env: env(registry), allowFailure: true },
        );
        assert.equal(cosign.code, 0, cosign.stderr);
      });
    });
  }
});
