/**
 * The registry client against a real distribution 2.8 registry (Debian's docker-registry)
 * over plain HTTP, and an in-process proxy in front of it for content altered in flight.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/oci/client.ts';
import type { RegistryClientOptions } from '../../../src/oci/client.ts';
import { DockerConfigCredentialProvider } from '../../../src/oci/credentials.ts';
import { referrersTag } from '../../../src/oci/digest.ts';
import type { RequestEvent } from '../../../src/oci/http.ts';
import {
  DOCKER_MANIFEST_V2,
  MODEL_ARTIFACT_TYPE,
  OCI_INDEX,
  OCI_MANIFEST,
  blob,
  dockerManifest,
  ociIndex,
  ociManifest,
  referrersIndex,
  sha256,
} from '../../support/artifacts.ts';
import { startDistribution } from '../../support/distribution.ts';
import type { RunningDistribution } from '../../support/distribution.ts';
import { startProxy, startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { skopeoCopy, writeOciLayout } from '../../support/oci-layout.ts';
import { closePushAgents, pushManifest, putManifest } from '../../support/push.ts';
import { rejectsWith } from '../../support/registry-errors.ts';

const SIGNATURE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM_TYPE = 'application/spdx+json';

describe('registry client against distribution over plain HTTP', { timeout: 180_000 }, () => {
  let dir: string;
  let registry: RunningDistribution;
  const clients: RegistryClient[] = [];
  const servers: RunningServer[] = [];

  const weights = blob('model weights '.repeat(100));
  const model = ociManifest({
    artifactType: MODEL_ARTIFACT_TYPE,
    layers: [weights, blob('tokenizer')],
    annotations: { 'org.opencontainers.image.title': 'tiny' },
  });
  const index = ociIndex([model]);
  const docker = dockerManifest();
  const signature1 = ociManifest({ artifactType: SIGNATURE_TYPE, layers: [blob('sig-1', SIGNATURE_TYPE)], subject: model.descriptor });
  const sbom = ociManifest({ artifactType: SBOM_TYPE, layers: [blob('{"spdxVersion":"SPDX-2.3"}', SBOM_TYPE)], subject: model.descriptor });
  const signature2 = ociManifest({ artifactType: SIGNATURE_TYPE, layers: [blob('sig-2', SIGNATURE_TYPE)], subject: model.descriptor });
  const cosignSignature = ociManifest({
    config: blob('{}', 'application/vnd.oci.image.config.v1+json'),
    layers: [blob('simple signing', 'application/vnd.dev.cosign.simplesigning.v1+json')],
  });
  const cosignTag = `sha256-${model.digest.slice(7)}.sig`;
  const lonely = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('no referrers')] });

  function client(registries: RegistryClientOptions['registries'], extra: RegistryClientOptions = {}): RegistryClient {
    const created = new RegistryClient({ registries, retryBaseDelayMs: 20, ...extra });
    clients.push(created);
    return created;
  }
  /** A client that may use plain HTTP to the registry (and the given extra hosts). */
  function plainClient(extra: RegistryClientOptions = {}, hosts: readonly string[] = []): RegistryClient {
    return client(
      [registry.host, ...hosts].map((host) => ({ host, insecure: true, ca: undefined })),
      extra,
    );
  }
  const at = (repository: string) => ({ registry: registry.host, repository });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-oci-plain-'));
    registry = await startDistribution({ dir: join(dir, 'registry') });
    const target = { url: registry.url };
    await pushManifest(target, 'acme/model', model, 'v1');
    await pushManifest(target, 'acme/model', index, 'multi');
    await pushManifest(target, 'acme/docker', docker, 'latest');
    await pushManifest(target, 'acme/model', lonely);
    // Referrers as a client writes them to a registry without the referrers API: the
    // manifests, then an index of them under the `<alg>-<hex>` tag of the subject.
    for (const referrer of [signature1, sbom, signature2]) await pushManifest(target, 'acme/model', referrer);
    const tagIndex = referrersIndex([signature1, sbom, signature2]);
    await pushManifest(target, 'acme/model', tagIndex, referrersTag(model.digest));
    await pushManifest(target, 'acme/model', cosignSignature, cosignTag);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
    await closePushAgents();
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('manifests by digest', () => {
    it('fetches and verifies an OCI manifest (artifact with artifactType)', async () => {
      const c = plainClient();
      const fetched = await c.fetchManifest(at('acme/model'), model.digest);
      assert.equal(fetched.digest, model.digest);
      assert.equal(fetched.mediaType, OCI_MANIFEST);
      assert.deepEqual(fetched.bytes, model.bytes);
      assert.equal(fetched.json['artifactType'], MODEL_ARTIFACT_TYPE);
      assert.equal(c.requestCount, 1);
    });

    it('fetches an OCI index', async () => {
      const fetched = await plainClient().fetchManifest(at('acme/model'), index.digest);
      assert.equal(fetched.mediaType, OCI_INDEX);
      assert.deepEqual(
        (fetched.json['manifests'] as { digest: string }[]).map((m) => m.digest),
        [model.digest],
      );
    });

    it('fetches a Docker v2 schema 2 manifest', async () => {
      const fetched = await plainClient().fetchManifest(at('acme/docker'), docker.digest);
      assert.equal(fetched.mediaType, DOCKER_MANIFEST_V2);
      assert.equal(fetched.digest, docker.digest);
    });

    it('fetches content pushed by skopeo from an OCI layout', async () => {
      const artifact = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('weights from an OCI layout')] });
      const layout = join(dir, 'layout');
      writeOciLayout(layout, { v2: artifact });
      await skopeoCopy(layout, 'v2', registry.host, 'acme/from-layout');
      const c = plainClient();
      assert.equal((await c.fetchManifest(at('acme/from-layout'), artifact.digest)).digest, artifact.digest);
      assert.equal((await c.fetchManifestByTag(at('acme/from-layout'), 'v2')).digest, artifact.digest);
    });

    it('answers NOT_FOUND with the registry, repository, digest and a hint', async () => {
      const missing = sha256(Buffer.from('not pushed'));
      const error = await rejectsWith(plainClient().fetchManifest(at('acme/model'), missing), 'NOT_FOUND');
      assert.equal(error.status, 404);
      assert.equal(error.registryCode, 'MANIFEST_UNKNOWN');
      assert.ok(error.message.includes(`${registry.host}/acme/model@${missing}`), error.message);
      assert.match(error.message, /check the digest and the repository name$/);
      assert.equal(error.retryable, false);
    });

    it('answers NOT_FOUND for an unknown repository', async () => {
      const error = await rejectsWith(plainClient().fetchManifest(at('acme/nothing-here'), model.digest), 'NOT_FOUND');
      assert.ok(error.message.includes(`${registry.host}/acme/nothing-here@`));
    });

    it('refuses an argument that is not a digest, without a request', async () => {
      const c = plainClient();
      await rejectsWith(c.fetchManifest(at('acme/model'), 'latest'), 'INVALID_ARGUMENT');
      await rejectsWith(c.fetchManifest(at('Acme/Model'), model.digest), 'INVALID_ARGUMENT');
      await rejectsWith(c.fetchManifest({ registry: 'evil.example/..', repository: 'x' }, model.digest), 'INVALID_ARGUMENT');
      assert.equal(c.requestCount, 0);
    });

    it('refuses plain HTTP to a registry not configured insecure', async () => {
      // Listed, but not insecure: HTTPS to a plain HTTP server fails like any connection.
      const c = client([{ host: registry.host, insecure: false, ca: undefined }]);
      const error = await rejectsWith(c.fetchManifest(at('acme/model'), model.digest), 'INSECURE_NOT_ALLOWED');
      assert.match(error.message, /could not connect to 127\.0\.0\.1:\d+ or get a complete answer in time/);
      assert.match(error.diagnostic ?? '', /does not speak TLS/);
    });

    it('never connects to an internal address the Config does not list (issue 9)', async () => {
      const c = client([]);
      const error = await rejectsWith(c.fetchManifest(at('acme/model'), model.digest), 'EGRESS_DENIED');
      assert.match(error.message, /refusing to connect to 127\.0\.0\.1:\d+: 127\.0\.0\.1 is an internal address/);
      assert.equal(c.requestCount, 0);
    });

    it('insecure applies to the exact host and port listed, not to other ports of the host (issue 9)', async () => {
      const other = await startServer((_req, res) => {
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        res.end(model.bytes);
      });
      servers.push(other);
      const c = client([
        { host: registry.host, insecure: true, ca: undefined },
        { host: '127.0.0.1', insecure: true, ca: undefined },
      ]);
      assert.equal((await c.fetchManifest(at('acme/model'), model.digest)).digest, model.digest);
      // 127.0.0.1 (no port) is listed insecure: that is port 80 only; another port gets HTTPS, which a plain server cannot speak.
      await rejectsWith(c.fetchManifest({ registry: other.host, repository: 'acme/model' }, model.digest), 'INSECURE_NOT_ALLOWED');
    });
  });

  describe('content altered in flight', () => {
    it('fails as TAMPERED when the bytes do not hash to the pinned digest, whatever Docker-Content-Digest says', async () => {
      const proxy = await startProxy(registry.url, {
        rewrite: (req, response) => {
          if (req.url?.includes('/manifests/') !== true || response.status !== 200) return response;
          const altered = Buffer.from(response.body.toString('utf8').replace('"tiny"', '"evil"'));
          return { ...response, body: altered, headers: { ...response.headers, 'docker-content-digest': model.digest } };
        },
      });
      servers.push(proxy);
      const c = plainClient({}, [proxy.host]);
      const error = await rejectsWith(c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest), 'TAMPERED');
      const actual = sha256(Buffer.from(model.bytes.toString('utf8').replace('"tiny"', '"evil"')));
      assert.ok(error.message.includes(`the registry returned content whose digest is ${actual}, not the pinned ${model.digest}`), error.message);
      assert.equal(error.retryable, false);
      assert.equal(c.requestCount, 1, 'a digest mismatch is not retried');
    });

    it('fails as TAMPERED for an altered blob', async () => {
      const proxy = await startProxy(registry.url, {
        rewrite: (req, response) =>
          req.url?.includes('/blobs/') === true && response.status === 200 ? { ...response, body: Buffer.from('poisoned weights') } : response,
      });
      servers.push(proxy);
      const c = plainClient({}, [proxy.host]);
      const error = await rejectsWith(c.fetchBlob({ registry: proxy.host, repository: 'acme/model' }, weights.digest), 'TAMPERED');
      assert.ok(error.message.includes(`not the pinned ${weights.digest}`));
    });

    it('fails as MALFORMED when the pinned bytes are not a manifest', async () => {
      const notJson = Buffer.from('<html>login page</html>');
      const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'acme/model', fsLayers: [] }));
      const server = await startServer((req, res) => {
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        res.end(req.url?.includes(sha256(notJson)) === true ? notJson : schema1);
      });
      servers.push(server);
      const c = plainClient({}, [server.host]);
      const where = { registry: server.host, repository: 'acme/model' };
      const error = await rejectsWith(c.fetchManifest(where, sha256(notJson)), 'MALFORMED');
      assert.match(error.message, /not valid JSON/);
      const old = await rejectsWith(c.fetchManifest(where, sha256(schema1)), 'MALFORMED');
      assert.match(old.message, /schemaVersion 1/);
    });
  });

  describe('manifest size limit', () => {
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [], annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } }));
    const bigDigest = sha256(big);

    it('refuses a manifest announced larger than 4 MiB without reading it', async () => {
      const server = await startServer((_req, res) => {
        res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': String(big.length) });
        res.end(big);
      });
      servers.push(server);
      const c = plainClient({}, [server.host]);
      const error = await rejectsWith(c.fetchManifest({ registry: server.host, repository: 'acme/big' }, bigDigest), 'TOO_LARGE');
      assert.match(error.message, /limit of 4194304 bytes/);
      assert.equal(c.requestCount, 1, 'TOO_LARGE is not retried');
    });

    it('stops reading a streamed (chunked) manifest at the limit', async () => {
      let written = 0;
      let finished = false;
      const total = 64 * 1024 * 1024;
      const server = await startServer(async (_req, res) => {
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        while (written < total && !res.destroyed) {
          const ok = res.write(chunk);
          written += chunk.length;
          if (!ok) {
            await new Promise<void>((resolve) => {
              const done = (): void => {
                res.off('drain', done);
                res.off('close', done);
                resolve();
              };
              res.on('drain', done);
              res.on('close', done);
            });
          }
        }
        finished = written >= total;
        res.end();
      });
      servers.push(server);
      const c = plainClient({}, [server.host]);
      await rejectsWith(c.fetchManifest({ registry: server.host, repository: 'acme/big' }, bigDigest), 'TOO_LARGE');
      // Give the server a moment to notice the closed connection.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(finished, false, 'the client kept reading a 64 MiB body');
      assert.ok(written < 32 * 1024 * 1024, `server wrote ${written} bytes`);
    });

    it('lets a call lower the limit', async () => {
      await rejectsWith(plainClient().fetchManifest(at('acme/model'), model.digest, { maxBytes: 64 }), 'TOO_LARGE');
    });
  });

  describe('manifests by tag', () => {
    it("fetches cosign's sha256-<hex>.sig tag and computes its digest from the bytes", async () => {
      const fetched = await plainClient().fetchManifestByTag(at('acme/model'), cosignTag);
      assert.equal(fetched.digest, cosignSignature.digest);
      assert.deepEqual(fetched.bytes, cosignSignature.bytes);
    });

    it('answers NOT_FOUND for a missing tag and refuses invalid tags', async () => {
      const c = plainClient();
      const error = await rejectsWith(c.fetchManifestByTag(at('acme/model'), `sha256-${'0'.repeat(64)}.sig`), 'NOT_FOUND');
      assert.ok(error.message.startsWith(`manifest ${registry.host}/acme/model:sha256-000`), error.message);
      await rejectsWith(c.fetchManifestByTag(at('acme/model'), '../../etc'), 'INVALID_ARGUMENT');
    });

    it('caps a tagged manifest too', async () => {
      await rejectsWith(plainClient().fetchManifestByTag(at('acme/model'), 'v1', { maxBytes: 100 }), 'TOO_LARGE');
    });
  });

  describe('blobs', () => {
    it('fetches a blob and verifies its digest and size', async () => {
      const fetched = await plainClient().fetchBlob(at('acme/model'), weights.digest, { expectedSize: weights.bytes.length });
      assert.deepEqual(fetched.bytes, weights.bytes);
      assert.equal(fetched.size, weights.bytes.length);
    });

    it('refuses a blob over the limit: before any request when the descriptor says so, else while reading', async () => {
      const c = plainClient();
      await rejectsWith(c.fetchBlob(at('acme/model'), weights.digest, { maxBytes: 100, expectedSize: weights.bytes.length }), 'TOO_LARGE');
      assert.equal(c.requestCount, 0);
      await rejectsWith(c.fetchBlob(at('acme/model'), weights.digest, { maxBytes: 100 }), 'TOO_LARGE');
      assert.equal(c.requestCount, 1);
    });

    it('flags a descriptor size that does not match the verified blob', async () => {
      await rejectsWith(plainClient().fetchBlob(at('acme/model'), weights.digest, { expectedSize: 3 }), 'MALFORMED');
    });

    it('answers NOT_FOUND for a missing blob', async () => {
      const error = await rejectsWith(plainClient().fetchBlob(at('acme/model'), sha256(Buffer.from('nope'))), 'NOT_FOUND');
      assert.equal(error.registryCode, 'BLOB_UNKNOWN');
    });

    it('follows a redirect to a storage backend without sending the registry credentials there', async () => {
      const storageAuth: (string | undefined)[] = [];
      const storage = await startServer((req, res) => {
        storageAuth.push(req.headers.authorization);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(weights.bytes);
      });
      servers.push(storage);
      const registryAuth: (string | undefined)[] = [];
      const proxy = await startProxy(registry.url, {
        intercept: (req, res) => {
          registryAuth.push(req.headers.authorization);
          if (req.headers.authorization === undefined) {
            res.writeHead(401, { 'www-authenticate': 'Basic realm="test"', 'content-type': 'application/json' });
            res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
            return true;
          }
          if (req.url?.includes('/blobs/') === true) {
            res.writeHead(307, { location: `${storage.url}/storage/${weights.digest.slice(7)}?X-Signature=abc` });
            res.end();
            return true;
          }
          return false;
        },
      });
      servers.push(proxy);
      const credentials = new DockerConfigCredentialProvider([JSON.stringify({ auths: { [proxy.host]: { username: 'alice', password: 's3cret' } } })]);
      const c = plainClient({ credentials }, [proxy.host, storage.host]);
      const fetched = await c.fetchBlob({ registry: proxy.host, repository: 'acme/model' }, weights.digest);
      assert.deepEqual(fetched.bytes, weights.bytes);
      assert.deepEqual(registryAuth, [undefined, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`]);
      assert.deepEqual(storageAuth, [undefined]);
      assert.deepEqual(storage.seen, [`GET /storage/${weights.digest.slice(7)}?X-Signature=abc`]);
    });

    it('refuses a redirect to plain HTTP on a host not configured insecure', async () => {
      const storage = await startServer((_req, res) => {
        res.writeHead(200);
        res.end(weights.bytes);
      });
      servers.push(storage);
      const proxy = await startProxy(registry.url, {
        intercept: (req, res) => {
          if (req.url?.includes('/blobs/') !== true) return false;
          res.writeHead(302, { location: `${storage.url}/blob` });
          res.end();
          return true;
        },
      });
      servers.push(proxy);
      const c = plainClient({}, [proxy.host]);
      await rejectsWith(c.fetchBlob({ registry: proxy.host, repository: 'acme/model' }, weights.digest), 'INSECURE_NOT_ALLOWED');
      assert.deepEqual(storage.seen, []);
    });

    it('stops after too many redirects', async () => {
      const loop = await startServer((_req, res) => {
        res.writeHead(302, { location: '/v2/acme/model/blobs/again' });
        res.end();
      });
      servers.push(loop);
      const c = plainClient({ maxRedirects: 3 }, [loop.host]);
      const error = await rejectsWith(c.fetchBlob({ registry: loop.host, repository: 'acme/model' }, weights.digest), 'UNEXPECTED_STATUS');
      assert.match(error.message, /more than 3 redirects/);
      assert.equal(loop.seen.length, 4);
    });
  });

  describe('referrers on a registry without the referrers API', () => {
    it('falls back to the referrers tag schema when the API answers 404', async () => {
      const events: RequestEvent[] = [];
      const c = plainClient({ onRequest: (event) => events.push(event) });
      const referrers = await c.fetchReferrers(at('acme/model'), model.digest);
      assert.equal(referrers.source, 'tag');
      assert.equal(referrers.truncated, false);
      assert.deepEqual(
        referrers.descriptors.map((d) => [d.digest, d.artifactType]),
        [
          [signature1.digest, SIGNATURE_TYPE],
          [sbom.digest, SBOM_TYPE],
          [signature2.digest, SIGNATURE_TYPE],
        ],
      );
      // Both in one round trip (the registry was not known), in whichever order they come back.
      assert.deepEqual(events.map((e) => [e.path, e.status]).sort(), [
        [`/v2/acme/model/manifests/${referrersTag(model.digest)}`, 200],
        [`/v2/acme/model/referrers/${model.digest}`, 404],
      ]);
    });

    it('remembers that the registry has no referrers API: the next lookups ask only the tag', async () => {
      const events: RequestEvent[] = [];
      const c = plainClient({ onRequest: (event) => events.push(event) });
      await c.fetchReferrers(at('acme/model'), lonely.digest);
      events.length = 0;
      const referrers = await c.fetchReferrers(at('acme/model'), model.digest);
      assert.equal(referrers.source, 'tag');
      assert.equal(referrers.descriptors.length, 3);
      assert.deepEqual(
        events.map((e) => [e.path, e.status]),
        [[`/v2/acme/model/manifests/${referrersTag(model.digest)}`, 200]],
      );
    });

    it('filters the tag index by artifactType on the client', async () => {
      const referrers = await plainClient().fetchReferrers(at('acme/model'), model.digest, { artifactType: SIGNATURE_TYPE });
      assert.deepEqual(
        referrers.descriptors.map((d) => d.digest),
        [signature1.digest, signature2.digest],
      );
    });

    it('caps the number of referrers returned', async () => {
      const referrers = await plainClient().fetchReferrers(at('acme/model'), model.digest, { maxResults: 2 });
      assert.equal(referrers.descriptors.length, 2);
      assert.equal(referrers.truncated, true);
      const byDefault = await plainClient({ maxReferrers: 1 }).fetchReferrers(at('acme/model'), model.digest, { artifactType: SBOM_TYPE });
      assert.deepEqual(
        byDefault.descriptors.map((d) => d.digest),
        [sbom.digest],
      );
      assert.equal(byDefault.truncated, false);
    });

    it('caps the size of the tag index', async () => {
      await rejectsWith(plainClient().fetchReferrers(at('acme/model'), model.digest, { maxBytes: 200 }), 'TOO_LARGE');
    });

    it('returns no referrers when neither the API nor the tag exist', async () => {
      const referrers = await plainClient().fetchReferrers(at('acme/model'), lonely.digest);
      assert.deepEqual(referrers, { subject: lonely.digest, descriptors: [], source: 'tag', truncated: false, audience: 'public' });
    });

    it('reads a referrers tag that holds no index as no referrers (distribution hides it from an index-only Accept)', async () => {
      const subject = sha256(Buffer.from('some subject'));
      await putManifest({ url: registry.url }, 'acme/model', referrersTag(subject), OCI_MANIFEST, model.bytes);
      const referrers = await plainClient().fetchReferrers(at('acme/model'), subject);
      assert.deepEqual(referrers.descriptors, []);
    });

    it('refuses a referrers tag answer that is not an index, and invalid descriptors in it', async () => {
      const subjects = { manifest: sha256(Buffer.from('a')), invalid: sha256(Buffer.from('b')) };
      const server = await startServer((req, res) => {
        if (req.url?.includes('/referrers/') === true) {
          res.writeHead(404);
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': OCI_INDEX });
        if (req.url?.includes(referrersTag(subjects.manifest)) === true) res.end(model.bytes);
        else res.end(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: 'sha256:short', size: 1 }] }));
      });
      servers.push(server);
      const c = plainClient({}, [server.host]);
      const where = { registry: server.host, repository: 'acme/model' };
      const error = await rejectsWith(c.fetchReferrers(where, subjects.manifest), 'MALFORMED');
      assert.match(error.message, /not an OCI image index/);
      const invalid = await rejectsWith(c.fetchReferrers(where, subjects.invalid), 'MALFORMED');
      assert.match(invalid.message, /descriptor #0 .* is not a valid OCI descriptor/);
    });
  });
});
