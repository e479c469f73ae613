// Smoke test of the e2e test bed itself: every later e2e test stands on
// these facts, so they are checked with the real binaries.
//
//   node --test --test-concurrency=1 test/e2e/testbed.test.ts
//
// Needs `bash test/e2e/tools/install.sh` first.

import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { registryClientEnv } from './lib/clients.ts';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';
import { COSIGN_SIMPLESIGNING_MEDIA_TYPE, cosignVerify, generateSigningKeys, SIGSTORE_BUNDLE_ARTIFACT_TYPE } from './lib/cosign.ts';
import type { SigningKeys } from './lib/cosign.ts';
import { ANNOTATION, buildFixtures, buildModelKit, KITOPS, MODELPACK, OCI_IMAGE, pushArtifact } from './lib/fixtures.ts';
import type { Fixtures } from './lib/fixtures.ts';
import { fetchManifest, listReferrers, listTags, referrersFallbackTag, registryRequest } from './lib/oci.ts';
import type { OciIndex, OciManifest } from './lib/oci.ts';
import { createCA, issueLoopbackServerCert } from '../support/pki.ts';
import { runCommand, stopAll } from './lib/processes.ts';
import { startDockerRegistry, startReferrersRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { loadTools } from './lib/tools.ts';
import { scratchDir } from './lib/workdir.ts';

interface AdmissionReview {
  apiVersion: string;
  kind: string;
  request?: {
    uid: string;
    dryRun?: boolean;
    object?: { metadata?: { labels?: Record<string, string> }; spec?: { volumes?: Array<{ name: string; image?: { reference?: string } }> } };
  };
}

/** A pod that mounts `modelRef` as an image volume. */
function podWithImageVolume(name: string, namespace: string, containerImage: string, modelRef: string, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      containers: [{ name: 'app', image: containerImage, volumeMounts: [{ name: 'model', mountPath: '/models/tiny', readOnly: true }] }],
      volumes: [{ name: 'model', image: { reference: modelRef, pullPolicy: 'IfNotPresent' } }],
    },
  };
}

describe('e2e test bed', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let plain: Registry; // docker-registry 2.8, HTTP, no referrers API
  let secure: Registry; // docker-registry 2.8, HTTPS + htpasswd
  let referrers: Registry; // OCI 1.1 registry with the referrers API
  let keys: SigningKeys;
  let onPlain: Fixtures;
  let onReferrers: Fixtures;
  let onSecure: Fixtures;

  before(async () => {
    loadTools(); // fails fast with "run install.sh" when the test bed is missing
    [cluster, plain, secure, referrers, keys] = await Promise.all([
      startCluster(),
      startDockerRegistry(),
      startDockerRegistry({ tls: true, auth: true }),
      startReferrersRegistry(),
      generateSigningKeys(),
    ]);
    onPlain = await buildFixtures({ registry: plain, keys });
    onReferrers = await buildFixtures({ registry: referrers, keys });
    // Legacy signatures only, so that cosign v2 can verify them (see cosignVerify).
    onSecure = await buildFixtures({ registry: secure, keys, signing: { modelpack: [2], modelkit: [2], image: [] } });
  });

  after(async () => {
    // Each stop on its own: one failure must not leave the others running.
    const stops = [cluster, plain, secure, referrers].filter((x) => x !== undefined).map((x) => x.stop());
    await Promise.allSettled(stops);
    await stopAll();
  });

  describe('cluster', () => {
    it('kube-apiserver answers /readyz with ok and is v1.36', async () => {
      const ready = await cluster.request('GET', '/readyz');
      assert.equal(ready.status, 200);
      assert.equal(ready.body.trim(), 'ok');
      const version = JSON.parse((await cluster.request('GET', '/version')).body) as { gitVersion: string };
      assert.match(version.gitVersion, /^v1\.36\./);
    });

    it('kubectl works with the generated kubeconfig', async () => {
      const { stdout } = await cluster.kubectl(['version', '-o', 'json']);
      const v = JSON.parse(stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
      assert.equal(v.serverVersion.gitVersion, loadTools().versions.KUBE_APISERVER);
      assert.equal(v.clientVersion.gitVersion, loadTools().versions.KUBECTL);
      const whoami = JSON.parse((await cluster.kubectl(['auth', 'whoami', '-o', 'json'])).stdout) as {
        status: { userInfo: { username: string; groups: string[] } };
      };
      assert.equal(whoami.status.userInfo.username, 'modelgate-e2e-admin');
      assert.ok(whoami.status.userInfo.groups.includes('system:masters'));
    });

    it('accepts a Pod with an image volume (ImageVolume on): dry-run=server and a real create', async () => {
      const pod = podWithImageVolume('model-consumer', 'default', onPlain.image.ref, onPlain.modelpack.ref);
      const dry = await cluster.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(pod) });
      const echoed = JSON.parse(dry.stdout) as typeof pod;
      // Had the ImageVolume gate been off, the apiserver would drop `image`
      // and reject the volume for having no source.
      assert.equal(echoed.spec.volumes.find((v) => v.name === 'model')?.image.reference, onPlain.modelpack.ref);

      await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
      const stored = JSON.parse((await cluster.kubectl(['get', 'pod', 'model-consumer', '-o', 'json'])).stdout) as {
        spec: { volumes: Array<{ name: string; image?: { reference: string } }> };
        status: { phase: string };
      };
      assert.equal(stored.status.phase, 'Pending'); // no nodes: nothing schedules it
      assert.equal(stored.spec.volumes.find((v) => v.name === 'model')?.image?.reference, onPlain.modelpack.ref);
    });

    it('calls a validating webhook served on https://127.0.0.1 (dry-run included)', async () => {
      const dir = scratchDir('webhook');
      const ca = await createCA(dir, 'webhook-ca');
      const serving = await issueLoopbackServerCert(ca, dir, 'webhook');
      const seen: AdmissionReview[] = [];
      const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          const review = JSON.parse(body) as AdmissionReview;
          seen.push(review);
          const deny = review.request?.object?.metadata?.labels?.['modelgate-e2e/deny'] === 'true';
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: { uid: review.request?.uid, allowed: !deny, ...(deny ? { status: { code: 403, message: 'denied by the smoke-test webhook' } } : {}) },
            }),
          );
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        await cluster.createNamespace('webhook-smoke');
        const config = {
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'ValidatingWebhookConfiguration',
          metadata: { name: 'modelgate-e2e-smoke' },
          webhooks: [
            {
              name: 'smoke.modelgate.e2e',
              admissionReviewVersions: ['v1'],
              // Required for the apiserver to send dry-run requests to the webhook.
              sideEffects: 'None',
              failurePolicy: 'Fail',
              timeoutSeconds: 5,
              clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle: Buffer.from(ca.certPem).toString('base64') },
              rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'webhook-smoke' } },
            },
          ],
        };
        await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(config) });
        const denied = podWithImageVolume('denied', 'webhook-smoke', onPlain.image.ref, onPlain.modelpack.ref, { 'modelgate-e2e/deny': 'true' });
        // A new webhook configuration reaches the admission chain through an
        // informer: retry until the denial shows up (normally < 1 s).
        let last = '';
        for (let i = 0; i < 50; i++) {
          const r = await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(denied), allowFailure: true });
          last = r.stderr;
          if (r.code !== 0 && r.stderr.includes('denied by the smoke-test webhook')) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.match(last, /admission webhook "smoke\.modelgate\.e2e" denied the request: denied by the smoke-test webhook/);
        const allowed = podWithImageVolume('allowed', 'webhook-smoke', onPlain.image.ref, onPlain.modelpack.ref);
        await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(allowed) });
        const last2 = seen.at(-1);
        assert.equal(last2?.request?.dryRun, true);
        assert.equal(last2?.request?.object?.spec?.volumes?.find((v) => v.name === 'model')?.image?.reference, onPlain.modelpack.ref);
      } finally {
        await cluster.kubectl(['delete', 'validatingwebhookconfiguration', 'modelgate-e2e-smoke', '--ignore-not-found']);
        server.close();
      }
    });
  });

  describe('registries and fixtures', () => {
    const cases = (): Array<[string, Fixtures]> => [
      ['docker-registry (HTTP)', onPlain],
      ['referrers-registry', onReferrers],
      ['docker-registry (HTTPS + htpasswd)', onSecure],
    ];

    it('serve the ModelPack manifest with its artifactType, config and layer annotations', async () => {
      for (const [label, f] of cases()) {
        const got = await fetchManifest(f.registry, f.modelpack.repository, f.modelpack.tag);
        assert.equal(got.digest, f.modelpack.digest, label);
        assert.deepEqual(got.bytes, f.modelpack.manifest, label);
        const m = got.json as OciManifest;
        assert.equal(m.artifactType, MODELPACK.artifactType, label);
        assert.equal(m.config.mediaType, MODELPACK.config, label);
        assert.deepEqual(
          m.layers.map((l) => [l.mediaType, l.annotations?.[ANNOTATION.filepath], l.annotations?.[ANNOTATION.title]]),
          [
            [MODELPACK.weightRaw, 'model.safetensors', 'model.safetensors'],
            [MODELPACK.weightConfigRaw, 'config.json', 'config.json'],
            [MODELPACK.docRaw, 'README.md', 'README.md'],
            [MODELPACK.docRaw, 'LICENSE', 'LICENSE'],
          ],
          label,
        );
        const cfg = await registryRequest(f.registry, 'GET', `/v2/${f.modelpack.repository}/blobs/${m.config.digest}`);
        assert.equal(cfg.status, 200, label);
        const config = JSON.parse(cfg.body.toString('utf8')) as { config: { format: string }; modelfs: { type: string; diffIds: string[] } };
        assert.equal(config.config.format, 'safetensors');
        assert.equal(config.modelfs.type, 'layers');
        assert.deepEqual(
          config.modelfs.diffIds,
          m.layers.map((l) => l.digest),
        );
      }
    });

    it('serve the ModelKit and the plain image with their media types', async () => {
      for (const [label, f] of cases()) {
        const kit = (await fetchManifest(f.registry, f.modelkit.repository, f.modelkit.tag)).json as OciManifest;
        assert.equal(kit.artifactType, KITOPS.artifactType, label);
        assert.equal(kit.config.mediaType, KITOPS.config, label);
        assert.deepEqual(
          kit.layers.map((l) => l.mediaType),
          [KITOPS.model, KITOPS.docs],
          label,
        );
        const image = (await fetchManifest(f.registry, f.image.repository, f.image.tag)).json as OciManifest;
        assert.equal(image.artifactType, undefined, label);
        assert.equal(image.config.mediaType, OCI_IMAGE.config, label);
      }
    });

    it('skopeo pushes an OCI layout verbatim and reads the artifacts back byte for byte', async () => {
      for (const registry of [referrers, secure]) {
        const pushed = await pushArtifact(registry, buildModelKit(), 'e2e/skopeo-modelkit', 'v1', 'skopeo');
        assert.equal(pushed.digest, onPlain.modelkit.digest, registry.kind);
      }
      const raw = await runCommand(loadTools().paths.SKOPEO, ['inspect', '--raw', '--tls-verify=false', `docker://${onPlain.modelpack.tagRef}`], {
        env: registryClientEnv(plain),
      });
      assert.equal(raw.stdout, onPlain.modelpack.manifest.toString('utf8'));
      const secureRaw = await runCommand(loadTools().paths.SKOPEO, ['inspect', '--raw', `docker://${onSecure.modelpack.tagRef}`], {
        env: registryClientEnv(secure),
      });
      assert.equal(secureRaw.stdout, onSecure.modelpack.manifest.toString('utf8'));
    });

    it('have the cosign v2 signature under the sha256-<hex>.sig tag', async () => {
      for (const [label, f] of cases()) {
        const sigTag = `${f.modelpack.digest.replace(':', '-')}.sig`;
        assert.equal(f.modelpack.cosign2?.tag, sigTag, label);
        assert.ok((await listTags(f.registry, f.modelpack.repository)).includes(sigTag), label);
        const sig = (await fetchManifest(f.registry, f.modelpack.repository, sigTag)).json as OciManifest;
        assert.equal(sig.layers[0]?.mediaType, COSIGN_SIMPLESIGNING_MEDIA_TYPE, label);
        assert.ok((sig.layers[0]?.annotations?.['dev.cosignproject.cosign/signature'] ?? '').length > 0, label);
      }
    });

    it('list the cosign v3 bundle through the referrers API on the OCI 1.1 registry', async () => {
      const { modelpack } = onReferrers;
      const all = await listReferrers(referrers, modelpack.repository, modelpack.digest);
      assert.equal(all.status, 200);
      const bundles = all.index?.manifests.filter((d) => d.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE) ?? [];
      assert.equal(bundles.length, 1);
      assert.equal(bundles[0]?.digest, modelpack.cosign3?.bundleManifestDigest);
      assert.equal(modelpack.cosign3?.discoveredVia, 'referrers-api');

      const filtered = await listReferrers(referrers, modelpack.repository, modelpack.digest, SIGSTORE_BUNDLE_ARTIFACT_TYPE);
      assert.equal(filtered.filtersApplied, 'artifactType');
      assert.equal(filtered.index?.manifests.length, 1);

      const bundleManifest = (await fetchManifest(referrers, modelpack.repository, bundles[0]?.digest ?? '')).json as OciManifest;
      assert.equal(bundleManifest.subject?.digest, modelpack.digest);
      assert.equal(bundleManifest.layers[0]?.mediaType, SIGSTORE_BUNDLE_ARTIFACT_TYPE);
      // No tag-schema fallback where the registry indexes referrers itself.
      assert.ok(!(await listTags(referrers, modelpack.repository)).includes(referrersFallbackTag(modelpack.digest)));
    });

    it('fall back to the sha256-<hex> index tag on docker-registry (no referrers API)', async () => {
      const { modelpack } = onPlain;
      assert.equal((await listReferrers(plain, modelpack.repository, modelpack.digest)).status, 404);
      const fallback = referrersFallbackTag(modelpack.digest);
      assert.equal(modelpack.cosign3?.fallbackTag, fallback);
      const index = (await fetchManifest(plain, modelpack.repository, fallback)).json as OciIndex;
      assert.equal(index.manifests.filter((d) => d.artifactType === SIGSTORE_BUNDLE_ARTIFACT_TYPE).length, 1);
    });

    it("cosign verifies the signatures offline with the run's key and rejects another key", async () => {
      const other = await generateSigningKeys();
      for (const [label, f, major] of [
        ['referrers-registry v3', onReferrers, 3],
        ['docker-registry v3', onPlain, 3],
        ['docker-registry TLS v2', onSecure, 2],
      ] as const) {
        const ok = await cosignVerify(major, f.registry, f.modelpack.ref, f.keys.publicKeyFile, { allowFailure: true });
        assert.equal(ok.code, 0, `${label}: ${ok.stderr}`);
        const bad = await cosignVerify(major, f.registry, f.modelpack.ref, other.publicKeyFile, { allowFailure: true });
        assert.notEqual(bad.code, 0, label);
      }
      assert.match(onReferrers.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    });
  });
});
