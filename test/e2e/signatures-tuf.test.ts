// The public-good trusted root kept current through TUF (spec.publicGood), against a real TUF
// repository: tools/tuf-repo (go-tuf v2) publishes a Sigstore trusted_root.json as a target,
// serves it on loopback, rotates its targets/snapshot/timestamp key and tampers with its own
// metadata. modelgate (`serve`, run from the sources) is told the repository's 1.root.json as
// the start of trust instead of Sigstore's (spec.publicGood.tufRoot) and the mirror's loopback
// URL (spec.publicGood.tufMirror: named in the Config, so allowed on an internal address).
//
// The signatures are keyless sigstore bundles (Fulcio-shaped certificate with an embedded SCT,
// Rekor SET) made with test/support/sigstore from two test CAs, attached as OCI 1.1 referrers
// with oras to the referrers registry; reviews are POSTed to modelgate's /validate as the API
// server would. No cluster is needed: modelgate's verdict is what is under test.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleSignature, cosignStatement } from '../support/sigstore/cosign.ts';
import { createTestPki } from '../support/sigstore/pki.ts';
import type { TestPki } from '../support/sigstore/pki.ts';
import { admissionReview, podSpec } from '../support/objects.ts';
import { guardedClientEnv } from './lib/processes.ts';
import { orasRemoteFlags } from './lib/clients.ts';
import { makeModelgateCerts, startModelgate, writeConfigFile, writePolicyDirectory } from './lib/modelgate.ts';
import type { Modelgate, ModelgateCerts } from './lib/modelgate.ts';
import { freePort } from './lib/ports.ts';
import { runCommand, startProcess } from './lib/processes.ts';
import type { ManagedProcess } from './lib/processes.ts';
import { startReferrersRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : 'test bed not installed: run bash test/e2e/tools/install.sh';
const ISSUER = 'https://token.actions.githubusercontent.com';
const SUBJECT = 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

type Json = Record<string, unknown>;

function post(gate: Modelgate, body: Json): Promise<Json> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(
      gate.url,
      { method: 'POST', ca: gate.certs.caPem, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

function get(gate: Modelgate, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`https://127.0.0.1:${gate.port}${path}`, { ca: gate.certs.caPem }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('public-good trusted root refreshed through a real TUF repository (go-tuf)', { skip: SKIP, timeout: 240_000 }, () => {
  let registry: Registry;
  let certs: ModelgateCerts;
  let repoDir = '';
  let mirror = '';
  let tufServer: ManagedProcess | undefined;
  let gate: Modelgate | undefined;
  let pkiA: TestPki;
  let pkiB: TestPki;
  let signedByA = '';
  let signedByB = '';
  let policyDir = '';
  let dir = '';

  const tufRepo = (...args: string[]) => runCommand(loadTools().paths.TUF_REPO, args);
  const trustedRootFile = (name: string, json: string): string => {
    const file = join(dir, name);
    writeFileSync(file, json);
    return file;
  };

  async function pushSigned(tag: string, pki: TestPki): Promise<string> {
    const file = join(dir, `${tag}.bin`);
    writeFileSync(file, `model ${tag}`);
    const env = guardedClientEnv();
    const { stdout } = await runCommand(
      loadTools().paths.ORAS,
      ['push', ...orasRemoteFlags(registry), `${registry.host}/acme/model:${tag}`, '--artifact-type', 'application/vnd.example.model', `${tag}.bin`],
      { env, cwd: dir },
    );
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(stdout)?.[1];
    assert.ok(digest !== undefined, stdout);
    // Both CAs' leaves carry an SCT from A's CT log and are logged in A's Rekor: only the CA differs.
    const leaf = pki.issueLeaf({ issuer: ISSUER, uri: SUBJECT, ctLog: pkiA.ctLog });
    writeFileSync(join(dir, `${tag}.bundle.json`), bundleSignature({ kind: 'keyless', leaf }, cosignStatement(digest), { rekor: pkiA.rekor }));
    await runCommand(
      loadTools().paths.ORAS,
      ['attach', ...orasRemoteFlags(registry), `${registry.host}/acme/model@${digest}`, '--artifact-type', BUNDLE_TYPE, `${tag}.bundle.json:${BUNDLE_TYPE}`],
      { env, cwd: dir },
    );
    return `${registry.host}/acme/model@${digest}`;
  }

  async function admitted(reference: string): Promise<{ allowed: boolean; message: string }> {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'llm', namespace: 'team-a' }, spec: podSpec([{ name: 'model', reference }]) };
    const review = await post(gate as Modelgate, admissionReview(pod));
    const response = review['response'] as { allowed: boolean; status?: { message?: string } };
    return { allowed: response.allowed, message: response.status?.message ?? '' };
  }

  const readyz = (): Promise<string> => get(gate as Modelgate, '/readyz');

  async function startGate(publicGood: Json, cacheDir: string): Promise<Modelgate> {
    const configFile = writeConfigFile({
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'Config',
      spec: { registries: [{ host: registry.host, insecure: true }], publicGood },
    });
    return startModelgate({ certs, policyPaths: [policyDir], configFile, extraArgs: ['--cache-dir', cacheDir] });
  }

  before(async () => {
    dir = scratchDir('modelgate-tuf');
    pkiA = createTestPki();
    pkiB = createTestPki();
    [registry, certs] = await Promise.all([startReferrersRegistry(), makeModelgateCerts()]);
    [signedByA, signedByB] = await Promise.all([pushSigned('a', pkiA), pushSigned('b', pkiB)]);
    repoDir = join(dir, 'tuf');
    await tufRepo('init', '-dir', repoDir, '-trusted-root', trustedRootFile('root-a.json', pkiA.trustedRootJson()));
    const port = await freePort();
    mirror = `http://127.0.0.1:${port}`;
    tufServer = await startProcess({
      name: 'tuf-repo',
      command: loadTools().paths.TUF_REPO,
      args: ['serve', '-dir', repoDir, '-addr', `127.0.0.1:${port}`],
      ready: { kind: 'http', url: `${mirror}/root.json` },
    });
    policyDir = writePolicyDirectory({
      'signed.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'keyless-release' },
          spec: {
            mode: 'enforce',
            match: { references: [`${registry.host}/**`] },
            signatures: { authorities: [{ name: 'ci', keyless: { identities: [{ issuer: ISSUER, subject: SUBJECT }], trustedRoot: 'public-good' } }] },
          },
        },
      ],
    });
  });

  after(async () => {
    await gate?.stop();
    await tufServer?.stop();
    await registry?.stop();
  });

  it('refreshes from the mirror in the background, follows a CA and key rotation, and refuses tampered metadata', async () => {
    const cacheDir = join(dir, 'cache');
    mkdirSync(cacheDir);
    const tufRoot = readFileSync(join(repoDir, 'repository', '1.root.json'), 'utf8');
    gate = await startGate({ tufMirror: mirror, tufRoot, refreshIntervalSeconds: 5 }, cacheDir);

    // The first refresh runs after startup: the repository's root (CA A) replaces the embedded public one.
    await waitFor('the first TUF refresh', async () => /trusted root public-good: tuf/.test(await readyz()));
    const first = await readyz();
    assert.match(first, /^ok \(policy revision [0-9a-f]+\)\ntrusted root public-good: tuf \(refresh tuf\), \d+ s old, sha256 [0-9a-f]{12}$/);
    assert.equal((await admitted(signedByA)).allowed, true);
    const before = await admitted(signedByB);
    assert.equal(before.allowed, false, 'CA B is not in the published root yet');
    assert.match(before.message, /certificate does not verify against trusted root public-good/);
    const metrics = await get(gate, '/metrics');
    assert.match(metrics, /modelgate_trusted_root_age_seconds\{root="public-good",source="tuf"\} \d/);
    assert.match(metrics, /modelgate_trusted_root_refresh_failures\{root="public-good"\} 0/);

    // Sigstore rotates: a new Fulcio CA in trusted_root.json, a new targets/snapshot/timestamp key (root v2).
    const fingerprint = (text: string): string => /sha256 ([0-9a-f]{12})/.exec(text)?.[1] ?? '';
    await tufRepo(
      'publish',
      '-dir',
      repoDir,
      '-rotate-online-key',
      '-trusted-root',
      trustedRootFile('root-b.json', pkiB.trustedRootJson({ rekor: pkiA.rekor, ctLog: pkiA.ctLog })),
    );
    await waitFor('the rotated root', async () => fingerprint(await readyz()) !== fingerprint(first));
    // The failed verdict for B (cached for 30 s) is not reused: the cache key has the root's fingerprint.
    assert.equal((await admitted(signedByB)).allowed, true, 'CA B verifies after the refresh, without a restart');
    assert.equal((await admitted(signedByA)).allowed, false, 'CA A left the root');
    const rotated = fingerprint(await readyz());
    // One more publication with the new key, seen by modelgate, so that an older timestamp signed by that key exists.
    await tufRepo('publish', '-dir', repoDir, '-trusted-root', join(dir, 'root-b.json'));
    await new Promise((resolve) => setTimeout(resolve, 6_500));

    // A rollback to an older, validly signed timestamp, then a timestamp whose signature does not match.
    for (const mode of ['rollback', 'bad-signature']) {
      const failuresBefore = Number(/(\d+) refresh\(es\) failed/.exec(await readyz())?.[1] ?? 0);
      await tufRepo('tamper', '-dir', repoDir, '-mode', mode);
      await waitFor(`a refused ${mode}`, async () => Number(/(\d+) refresh\(es\) failed/.exec(await readyz())?.[1] ?? 0) > failuresBefore);
      const status = await readyz();
      assert.match(status, mode === 'rollback' ? /timestamp version \d+ is less than current version/ : /timestamp was signed by 0\/1 keys/);
      assert.equal(fingerprint(status), rotated, 'the last good root stays');
      assert.equal((await admitted(signedByB)).allowed, true);
    }
    assert.match(await get(gate, '/metrics'), /modelgate_trusted_root_refresh_failures\{root="public-good"\} [1-9]/);
    // One warning for the whole streak of failures, not one per attempt.
    const warnings = gate.logLines().filter((line) => line['msg'] === 'public-good trusted root refresh failed; keeping the last good root');
    assert.equal(warnings.length, 1);

    // A good publication ends the streak; then the target's bytes are swapped under the signed metadata.
    await tufRepo('publish', '-dir', repoDir, '-trusted-root', join(dir, 'root-b.json'));
    await waitFor('recovery', async () => !/failed/.test(await readyz()));
    assert.ok(gate.logLines().some((line) => line['msg'] === 'public-good trusted root refresh works again'));
    await tufRepo('tamper', '-dir', repoDir, '-mode', 'forged-target');
    // Served with the same metadata, the forged bytes are not even read by a client that holds the target: start afresh.
    await gate.stop();
    const freshCache = join(dir, 'fresh-cache');
    mkdirSync(freshCache);
    gate = await startGate({ tufMirror: mirror, tufRoot, refreshIntervalSeconds: 5 }, freshCache);
    await waitFor('a refused forged target', async () => /refresh\(es\) failed, last: .*trusted_root\.json/.test(await readyz()));
    assert.match(await readyz(), /trusted root public-good: embedded/);
    assert.equal((await admitted(signedByB)).allowed, false, 'nothing from the forged target is used');
    await gate.stop();

    // Restarted with the first cache and the mirror gone: the cached root serves at once.
    await tufServer?.stop();
    gate = await startGate({ tufMirror: mirror, tufRoot, refreshIntervalSeconds: 5 }, cacheDir);
    assert.match(await readyz(), /trusted root public-good: cache \(refresh tuf\)/);
    assert.equal(fingerprint(await readyz()), rotated);
    assert.equal((await admitted(signedByB)).allowed, true, 'the cached root verifies while the mirror is down');
    await gate.stop();
  });

  it('offline: no refresh at all, the embedded root', async () => {
    const cacheDir = join(dir, 'offline-cache');
    mkdirSync(cacheDir);
    gate = await startGate({ refresh: 'offline', tufMirror: mirror }, cacheDir);
    assert.match(await readyz(), /trusted root public-good: embedded \(refresh offline\), at least \d+ s old/);
    assert.equal((await admitted(signedByA)).allowed, false);
    assert.deepEqual(readdirSync(cacheDir), [], 'nothing written, nothing fetched');
    await gate.stop();
  });
});
