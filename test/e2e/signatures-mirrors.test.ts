// Signatures of mirrored models: spec.signatures.signedIdentity, judged by the real
// `modelgate check` (src/cli/main.ts, the engine with its registry client) over artifacts
// that real cosign signed and real mirroring tools copied.
//
// Two directions, so that each registry is both upstream and mirror:
//  - up: the referrers-registry (OCI 1.1 referrers API), repository acme/model; cosign v2
//    signs one artifact (legacy .sig), cosign v3 another (bundle referrer), cosign v2 a third.
//    Mirror: the docker-registry (no referrers API), repository mirror/acme/model, with
//    `oras cp -r` (copies the v3 bundle into the sha256-<hex> fallback tag; a .sig tag is no
//    referrer, so it is copied by its tag with `oras cp`) and `cosign copy` (v2: image and .sig).
//  - back: the docker-registry as upstream, mirrored into the referrers-registry with
//    `skopeo sync`, which copies every tag: the .sig tag and the v3 fallback index, whose
//    bundle manifests (with their subject) the referrers API then lists.
// A cosign v3 attestation (no signature) is not accepted as a signature anywhere, while
// `cosign verify` (v3) accepts it.
//
// cosign v2 signatures name the repository they were signed in (docker-reference); cosign v3
// bundles name only the digest. So by default (matchRepository) a mirrored v2 signature is
// denied with a Fix about mirrors, and a mirrored v3 bundle passes.

import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { kubeObject } from '../support/objects.ts';
import { cosignRegistryFlags, orasRemoteFlags, registryClientEnv } from './lib/clients.ts';
import { cosignVerify, generateSigningKeys } from './lib/cosign.ts';
import type { SigningKeys } from './lib/cosign.ts';
import { buildModelKit, buildModelPack, buildPlainImage, pushArtifact, signCosign2, signCosign3 } from './lib/fixtures.ts';
import type { PushedArtifact } from './lib/fixtures.ts';
import { checkManifests } from './lib/check-cli.ts';
import type { CheckRow } from './lib/check-cli.ts';
import { writeConfigFile, writePolicyDirectory } from './lib/modelgate.ts';
import { cosignSignatureTag, fetchManifest, listReferrers, manifestExists, referrersFallbackTag } from './lib/oci.ts';
import type { OciIndex } from './lib/oci.ts';
import { runCommand, stopAll } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { loadTools, testbedCacheDir } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';

const READY = existsSync(join(testbedCacheDir(), 'tools.json'));
const SKIP = READY ? false : `test bed not installed (${join(testbedCacheDir(), 'tools.json')} is missing): run bash test/e2e/tools/install.sh`;
const UPSTREAM = 'acme/model';
const MIRROR = 'mirror/acme/model';
const EVALUATED = 'acme/evaluated';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const ATTESTATION_TYPE = 'https://example.com/evaluation/v1';

/** The two directions: where the artifacts are signed and where they are mirrored to. */
interface Direction {
  readonly name: 'up' | 'back';
  readonly upstream: Registry;
  readonly mirror: Registry;
  /** Signed with cosign v2 in the upstream, mirrored (.sig included). */
  v2: PushedArtifact;
  /** Signed with cosign v3 in the upstream, mirrored (bundle included). */
  v3: PushedArtifact;
}

describe('signatures of mirrored models (signedIdentity) with real cosign, oras, skopeo', { skip: SKIP, timeout: 600_000 }, () => {
  let referrers: Registry;
  let docker: Registry;
  let keys: SigningKeys;
  let up: Direction;
  let back: Direction;
  /** Signed with cosign v2 in the referrers-registry, mirrored with `cosign copy`. */
  let copied: PushedArtifact;
  /** Only attested (cosign v3 attest) in the referrers-registry, and mirrored with `oras cp -r`. */
  let attested: PushedArtifact;
  let configFile = '';
  let manifests = '';

  const tools = () => loadTools().paths;
  const ref = (registry: Registry, repository: string, artifact: PushedArtifact): string => `${registry.host}/${repository}@${artifact.digest}`;

  async function oras(args: readonly string[], from: Registry, to: Registry): Promise<void> {
    await runCommand(tools().ORAS, [...args, ...orasRemoteFlags(from, 'from-'), ...orasRemoteFlags(to, 'to-')], { env: registryClientEnv(to) });
  }

  async function attest(registry: Registry, artifact: PushedArtifact): Promise<void> {
    const predicate = join(scratchDir('predicate'), 'evaluation.json');
    writeFileSync(predicate, JSON.stringify({ benchmark: 'mmlu', score: 0.71 }));
    await runCommand(
      tools().COSIGN3,
      [
        'attest',
        '--key',
        keys.privateKeyFile,
        '--predicate',
        predicate,
        '--type',
        ATTESTATION_TYPE,
        '--use-signing-config=false',
        '--tlog-upload=false',
        ...cosignRegistryFlags(registry),
        '--yes',
        artifact.ref,
      ],
      { env: registryClientEnv(registry, { COSIGN_PASSWORD: keys.password, TUF_ROOT: scratchDir('tuf') }) },
    );
  }

  /** A ModelPolicy per direction (by namespace), each with the given signedIdentity. */
  function policies(identity: (direction: Direction) => unknown): string {
    return writePolicyDirectory({
      'mirrors.yaml': [up, back].map((direction) => ({
        apiVersion: 'modelgate.dev/v1alpha1',
        kind: 'ModelPolicy',
        metadata: { name: `signed-${direction.name}` },
        spec: {
          mode: 'enforce',
          match: { namespaces: [direction.name], references: [`${direction.upstream.host}/**`, `${direction.mirror.host}/**`] },
          requireDigest: true,
          signatures: {
            authorities: [{ name: 'release', key: keys.publicKeyPem, tlog: 'optional' }],
            ...(identity(direction) === undefined ? {} : { signedIdentity: identity(direction) }),
          },
        },
      })),
    });
  }

  /** `modelgate check -o json` of every pod below under the policy directory. */
  function check(policyDir: string): Promise<Map<string, CheckRow>> {
    return checkManifests(manifests, policyDir, configFile);
  }

  /** The pods, by name: `<direction>-<what>`. */
  function pods(): Record<string, { namespace: string; reference: string }> {
    const out: Record<string, { namespace: string; reference: string }> = {};
    for (const direction of [up, back]) {
      out[`${direction.name}-v2-mirror`] = { namespace: direction.name, reference: ref(direction.mirror, MIRROR, direction.v2) };
      out[`${direction.name}-v3-mirror`] = { namespace: direction.name, reference: ref(direction.mirror, MIRROR, direction.v3) };
      out[`${direction.name}-v2-upstream`] = { namespace: direction.name, reference: ref(direction.upstream, UPSTREAM, direction.v2) };
    }
    out['up-v2-cosign-copy'] = { namespace: 'up', reference: ref(docker, MIRROR, copied) };
    out['up-attested'] = { namespace: 'up', reference: ref(referrers, EVALUATED, attested) };
    out['up-attested-mirror'] = { namespace: 'up', reference: ref(docker, 'mirror/acme/evaluated', attested) };
    return out;
  }

  before(async () => {
    [referrers, docker, keys] = await Promise.all([startReferrersRegistry(), startDockerRegistry(), generateSigningKeys()]);
    // The same three artifacts in each upstream (registries are separate stores).
    const push = async (registry: Registry) => ({
      v2: await pushArtifact(registry, buildPlainImage(), UPSTREAM, 'v2'),
      v3: await pushArtifact(registry, buildModelPack(), UPSTREAM, 'v3'),
    });
    up = { name: 'up', upstream: referrers, mirror: docker, ...(await push(referrers)) };
    back = { name: 'back', upstream: docker, mirror: referrers, ...(await push(docker)) };
    copied = await pushArtifact(referrers, buildModelKit(), UPSTREAM, 'copied');
    attested = await pushArtifact(referrers, buildModelKit(), EVALUATED, 'attested');
    for (const direction of [up, back]) {
      await signCosign2(direction.upstream, direction.v2, keys);
      await signCosign3(direction.upstream, direction.v3, keys);
    }
    await signCosign2(referrers, copied, keys);
    await attest(referrers, attested);

    // up: oras cp -r (the v3 bundle follows as a referrer; the v2 .sig tag by its name), cosign copy.
    for (const artifact of [up.v2, up.v3]) {
      await oras(['cp', '-r', `${referrers.host}/${UPSTREAM}:${artifact.tag}`, `${docker.host}/${MIRROR}:${artifact.tag}`], referrers, docker);
    }
    const sig = cosignSignatureTag(up.v2.digest);
    await oras(['cp', `${referrers.host}/${UPSTREAM}:${sig}`, `${docker.host}/${MIRROR}:${sig}`], referrers, docker);
    await oras(['cp', '-r', `${referrers.host}/${EVALUATED}:attested`, `${docker.host}/mirror/acme/evaluated:attested`], referrers, docker);
    await runCommand(tools().COSIGN2, ['copy', ...cosignRegistryFlags(docker), `${referrers.host}/${UPSTREAM}@${copied.digest}`, `${docker.host}/${MIRROR}`], {
      env: registryClientEnv(docker, { TUF_ROOT: scratchDir('tuf') }),
    });
    // back: skopeo sync copies every tag of the repository into <destination>/model.
    await runCommand(
      tools().SKOPEO,
      [
        'sync',
        '--src',
        'docker',
        '--dest',
        'docker',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `${docker.host}/${UPSTREAM}`,
        `${referrers.host}/mirror/acme`,
      ],
      { env: registryClientEnv(referrers) },
    );

    configFile = writeConfigFile({
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'Config',
      spec: { registries: [referrers, docker].map((registry) => ({ host: registry.host, insecure: true })) },
    });
    manifests = join(scratchDir('mirror-manifests'), 'pods.yaml');
    writeFileSync(
      manifests,
      Object.entries(pods())
        .map(([name, pod]) => stringify(kubeObject('Pod', [{ name: 'model', reference: pod.reference }], { name, namespace: pod.namespace })))
        .join('---\n'),
    );
  });

  after(async () => {
    await Promise.allSettled([referrers?.stop(), docker?.stop()]);
    await stopAll();
  });

  it('the mirrors hold what the tools copied: the .sig tags, the v3 bundle in the fallback tag or the referrers API', async () => {
    const fallback = (await fetchManifest(docker, MIRROR, referrersFallbackTag(up.v3.digest))).json as OciIndex;
    assert.equal(fallback.manifests[0]?.artifactType, BUNDLE_TYPE, 'oras cp -r wrote the bundle into the referrers tag of the docker-registry');
    for (const artifact of [up.v2, copied]) {
      assert.ok(
        await manifestExists(docker, MIRROR, cosignSignatureTag(artifact.digest)),
        `${cosignSignatureTag(artifact.digest)} in the docker-registry mirror`,
      );
    }
    const listed = await listReferrers(referrers, MIRROR, back.v3.digest, BUNDLE_TYPE);
    assert.equal(listed.index?.manifests[0]?.artifactType, BUNDLE_TYPE, 'skopeo sync: the referrers API lists the copied bundle');
    assert.ok(await manifestExists(referrers, MIRROR, cosignSignatureTag(back.v2.digest)), 'skopeo sync copied the .sig tag');
  });

  it('matchRepository (the default): mirrored v2 signatures are denied with a Fix about mirrors; v3 bundles pass', async () => {
    const rows = await check(policies(() => undefined));
    for (const direction of [up, back]) {
      const name = `${direction.name}-v2-mirror`;
      const row = rows.get(name);
      assert.equal(row?.verdict, 'deny', `${name}: ${JSON.stringify(row)}`);
      const pulled = `${direction.mirror.host}/${MIRROR}`;
      const signed = `${direction.upstream.host}/${UPSTREAM}`;
      assert.ok(row.denial.includes(`it was signed for repository "${signed}", not ${pulled}`), row.denial);
      assert.ok(
        row.denial.includes(
          `Fix: if ${pulled} is a mirror of ${signed}, set spec.signatures.signedIdentity to {type: remapIdentity, prefix: ${direction.mirror.host}/mirror, signedPrefix: ${direction.upstream.host}} or {type: exactRepository, repository: ${signed}}`,
        ),
        row.denial,
      );
      assert.ok(!row.denial.includes('fix the policy’s keys'), row.denial);
      assert.equal(rows.get(`${direction.name}-v3-mirror`)?.verdict, 'allow', JSON.stringify(rows.get(`${direction.name}-v3-mirror`)));
      assert.equal(rows.get(`${direction.name}-v2-upstream`)?.verdict, 'allow');
    }
    const cosignCopy = rows.get('up-v2-cosign-copy');
    assert.equal(cosignCopy?.verdict, 'deny');
    assert.match(cosignCopy.denial, /Fix: if .* is a mirror of /);
  });

  it('remapIdentity (mirror prefix → upstream prefix), exactRepository and matchDigest admit every mirrored signature', async () => {
    const variants: [string, (direction: Direction) => unknown][] = [
      ['remapIdentity', (direction) => ({ type: 'remapIdentity', prefix: `${direction.mirror.host}/mirror`, signedPrefix: direction.upstream.host })],
      ['exactRepository', (direction) => ({ type: 'exactRepository', repository: `${direction.upstream.host}/${UPSTREAM}` })],
      ['matchDigest', () => ({ type: 'matchDigest' })],
    ];
    for (const [label, identity] of variants) {
      const rows = await check(policies(identity));
      for (const name of ['up-v2-mirror', 'up-v3-mirror', 'up-v2-cosign-copy', 'back-v2-mirror', 'back-v3-mirror', 'up-v2-upstream', 'back-v2-upstream']) {
        assert.equal(rows.get(name)?.verdict, 'allow', `${label}, ${name}: ${JSON.stringify(rows.get(name))}`);
      }
    }
  });

  it('a remap to the wrong upstream denies the v2 mirrors, saying what the remap asked for; v3 bundles name no repository', async () => {
    const rows = await check(
      policies((direction) => ({ type: 'remapIdentity', prefix: `${direction.mirror.host}/mirror`, signedPrefix: `${direction.upstream.host}/other` })),
    );
    for (const direction of [up, back]) {
      const row = rows.get(`${direction.name}-v2-mirror`);
      assert.equal(row?.verdict, 'deny');
      const pulled = `${direction.mirror.host}/${MIRROR}`;
      assert.ok(row.denial.includes(`not ${direction.upstream.host}/other/acme/model (${pulled} remapped by signedIdentity remapIdentity)`), row.denial);
      assert.ok(row.denial.includes(`Fix: if ${pulled} is a mirror of ${direction.upstream.host}/${UPSTREAM}`), row.denial);
      assert.equal(rows.get(`${direction.name}-v3-mirror`)?.verdict, 'allow');
      // Not under the prefix: matchRepository, as before.
      assert.equal(rows.get(`${direction.name}-v2-upstream`)?.verdict, 'allow');
    }
  });

  it('an attestation is not a signature, upstream or mirrored, whatever signedIdentity says', async () => {
    for (const identity of [undefined, { type: 'matchDigest' }]) {
      const rows = await check(policies(() => identity));
      for (const name of ['up-attested', 'up-attested-mirror']) {
        const row = rows.get(name);
        assert.equal(row?.verdict, 'deny', `${name}: ${JSON.stringify(row)}`);
        assert.ok(row.denial.includes(`the statement is an attestation of predicate type "${ATTESTATION_TYPE}", not a cosign signature`), row.denial);
      }
    }
  });

  it('cross-check: cosign verify ignores the signed repository (matchDigest), and accepts an attestation as a signature', async () => {
    const verified = [
      await cosignVerify(2, docker, ref(docker, MIRROR, up.v2), keys.publicKeyFile, { allowFailure: true }),
      await cosignVerify(2, docker, ref(docker, MIRROR, copied), keys.publicKeyFile, { allowFailure: true }),
      await cosignVerify(2, referrers, ref(referrers, MIRROR, back.v2), keys.publicKeyFile, { allowFailure: true }),
      await cosignVerify(3, docker, ref(docker, MIRROR, up.v3), keys.publicKeyFile, { allowFailure: true }),
      await cosignVerify(3, referrers, ref(referrers, MIRROR, back.v3), keys.publicKeyFile, { allowFailure: true }),
    ];
    for (const run of verified) assert.equal(run.code, 0, run.stderr);
    // The v2 payload still names the upstream repository: what matchRepository compares.
    assert.ok(verified[0]?.stdout.includes(`"docker-reference":"${referrers.host}/${UPSTREAM}"`), verified[0]?.stdout);
    const attestation = await cosignVerify(3, referrers, attested.ref, keys.publicKeyFile, { allowFailure: true });
    assert.equal(attestation.code, 0, `cosign v3 verify accepts the attestation-only bundle: ${attestation.stderr}`);
    assert.ok(attestation.stdout.includes(ATTESTATION_TYPE), attestation.stdout);
  });
});
