/**
 * The OCI 1.1 referrers API against a registry that implements it (the test bed's
 * referrers-registry, go-containerregistry based; distribution 2.8 has no referrers API),
 * and proxies in front of it that lie about filtering or page the listing.
 * Skipped when no Go toolchain is installed to build that registry.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/oci/client.ts';
import type { RegistryClientOptions } from '../../../src/oci/client.ts';
import { referrersTag } from '../../../src/oci/digest.ts';
import type { RequestEvent } from '../../../src/oci/http.ts';
import { ReferrersCapabilities } from '../../../src/oci/referrers-capability.ts';
import { MODEL_ARTIFACT_TYPE, OCI_INDEX, blob, ociManifest, sha256 } from '../../support/artifacts.ts';
import type { TestManifest } from '../../support/artifacts.ts';
import { startProxy } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { closePushAgents, pushManifest } from '../../support/push.ts';
import { hasGo, startReferrersRegistry } from '../../support/referrers-registry.ts';
import type { RunningReferrersRegistry } from '../../support/referrers-registry.ts';
import { rejectsWith } from '../../support/registry-errors.ts';

const SIGNATURE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM_TYPE = 'application/spdx+json';

const skip = hasGo() ? false : 'no Go toolchain to build test/e2e/tools/referrers-registry';

describe('referrers API (OCI 1.1)', { timeout: 600_000, skip }, () => {
  let registry: RunningReferrersRegistry;
  const clients: RegistryClient[] = [];
  const servers: RunningServer[] = [];
  const model = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('weights with referrers')] });
  const referrers: TestManifest[] = [
    ociManifest({ artifactType: SIGNATURE_TYPE, layers: [blob('sig a', SIGNATURE_TYPE)], subject: model.descriptor }),
    ociManifest({ artifactType: SBOM_TYPE, layers: [blob('sbom', SBOM_TYPE)], subject: model.descriptor }),
    ociManifest({ artifactType: SIGNATURE_TYPE, layers: [blob('sig b', SIGNATURE_TYPE)], subject: model.descriptor }),
    ociManifest({ artifactType: SIGNATURE_TYPE, layers: [blob('sig c', SIGNATURE_TYPE)], subject: model.descriptor }),
  ];
  const signatures = referrers
    .filter((r) => r.artifactType === SIGNATURE_TYPE)
    .map((r) => r.digest)
    .sort();
  const allDigests = referrers.map((r) => r.digest).sort();

  function client(hosts: readonly string[], extra: RegistryClientOptions = {}): RegistryClient {
    const created = new RegistryClient({ registries: hosts.map((host) => ({ host, insecure: true, ca: undefined })), ...extra });
    clients.push(created);
    return created;
  }

  before(async () => {
    registry = await startReferrersRegistry();
    await pushManifest({ url: registry.url }, 'acme/model', model, 'v1');
    for (const referrer of referrers) await pushManifest({ url: registry.url }, 'acme/model', referrer);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
    await closePushAgents();
    await registry?.stop();
  });

  it('lists referrers with their artifactType through the API', async () => {
    const events: RequestEvent[] = [];
    const c = client([registry.host], { onRequest: (e) => events.push(e) });
    const result = await c.fetchReferrers({ registry: registry.host, repository: 'acme/model' }, model.digest);
    assert.equal(result.source, 'api');
    assert.equal(result.truncated, false);
    assert.deepEqual(result.descriptors.map((d) => d.digest).sort(), allDigests);
    for (const descriptor of result.descriptors) {
      assert.equal(descriptor.artifactType, referrers.find((r) => r.digest === descriptor.digest)?.artifactType);
    }
    // First contact: the referrers tag went out beside the API (a registry without it would need it), its answer unused.
    assert.deepEqual(events.map((e) => e.path).sort(), [`/v2/acme/model/manifests/${referrersTag(model.digest)}`, `/v2/acme/model/referrers/${model.digest}`]);
    // The registry is known to serve the API now: only the API is asked.
    events.length = 0;
    const again = await c.fetchReferrers({ registry: registry.host, repository: 'acme/model' }, referrers[0]?.digest ?? '');
    assert.equal(again.source, 'api');
    assert.deepEqual(
      events.map((e) => e.path),
      [`/v2/acme/model/referrers/${referrers[0]?.digest}`],
      'no tag-schema fallback',
    );
  });

  it('asks the registry to filter by artifactType', async () => {
    const c = client([registry.host]);
    const result = await c.fetchReferrers({ registry: registry.host, repository: 'acme/model' }, model.digest, { artifactType: SBOM_TYPE });
    assert.deepEqual(
      result.descriptors.map((d) => d.digest),
      [referrers[1]?.digest],
    );
  });

  it('filters on the client even when the registry claims it filtered (OCI-Filters-Applied)', async () => {
    const liar = await startProxy(registry.url, {
      // Drop the filter on the way in, and claim it was applied on the way out.
      rewritePath: (path) => path.replace(/\?artifactType=[^&]*/, ''),
      rewrite: (req, response) =>
        req.url?.includes('/referrers/') === true ? { ...response, headers: { ...response.headers, 'oci-filters-applied': 'artifactType' } } : response,
    });
    servers.push(liar);
    const c = client([liar.host]);
    const result = await c.fetchReferrers({ registry: liar.host, repository: 'acme/model' }, model.digest, { artifactType: SIGNATURE_TYPE });
    assert.deepEqual(result.descriptors.map((d) => d.digest).sort(), signatures);
    assert.equal(liar.seen.filter((line) => line.includes('/referrers/')).length, 1);
  });

  it('returns at most maxResults descriptors and says it truncated', async () => {
    const c = client([registry.host], { maxReferrers: 2 });
    const result = await c.fetchReferrers({ registry: registry.host, repository: 'acme/model' }, model.digest);
    assert.equal(result.descriptors.length, 2);
    assert.equal(result.truncated, true);
    const signaturesOnly = await c.fetchReferrers({ registry: registry.host, repository: 'acme/model' }, model.digest, {
      artifactType: SIGNATURE_TYPE,
      maxResults: 3,
    });
    assert.equal(signaturesOnly.descriptors.length, 3);
    assert.equal(signaturesOnly.truncated, false);
  });

  it('caps the size of the referrers index', async () => {
    await rejectsWith(
      client([registry.host]).fetchReferrers({ registry: registry.host, repository: 'acme/model' }, model.digest, { maxBytes: 256 }),
      'TOO_LARGE',
    );
  });

  it('answers an empty list for a subject without referrers', async () => {
    const result = await client([registry.host]).fetchReferrers({ registry: registry.host, repository: 'acme/model' }, referrers[0]?.digest ?? '');
    assert.deepEqual(result.descriptors, []);
    assert.equal(result.source, 'api');
  });

  it('follows Link pages up to the page limit', async () => {
    // A proxy that serves the listing one descriptor per page, linked with rel="next".
    const pager = await startProxy(registry.url, {
      rewritePath: (path) => path.replace(/[?&]page=\d+/, ''),
      rewrite: (req, response) => {
        if (req.url?.includes('/referrers/') !== true || response.status !== 200) return response;
        const url = new URL(req.url, 'http://proxy');
        const page = Number(url.searchParams.get('page') ?? '0');
        const listing = JSON.parse(response.body.toString('utf8')) as { manifests: unknown[] };
        const headers: Record<string, string> = { ...response.headers };
        if (page + 1 < listing.manifests.length) {
          url.searchParams.set('page', String(page + 1));
          headers['link'] = `<${url.pathname}${url.search}>; rel="next"`;
        }
        const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listing.manifests.slice(page, page + 1) }));
        return { ...response, headers, body };
      },
    });
    servers.push(pager);
    const where = { registry: pager.host, repository: 'acme/model' };
    const all = await client([pager.host]).fetchReferrers(where, model.digest);
    assert.deepEqual(all.descriptors.map((d) => d.digest).sort(), allDigests);
    assert.equal(all.truncated, false);
    const pages = (): number => pager.seen.filter((line) => line.includes('/referrers/')).length;
    const seenBefore = pages();
    const limited = await client([pager.host], { maxReferrersPages: 2 }).fetchReferrers(where, model.digest);
    assert.equal(limited.descriptors.length, 2);
    assert.equal(limited.truncated, true);
    assert.equal(pages() - seenBefore, 2);
  });

  it('does not fall back to the tag schema on errors other than 404', async () => {
    const broken = await startProxy(registry.url, {
      intercept: (req, res) => {
        if (req.url?.includes('/referrers/') !== true) return false;
        res.writeHead(500);
        res.end();
        return true;
      },
    });
    servers.push(broken);
    // Not known yet: the tag went out beside the API, but only a 404 of the API lets its answer count.
    const fresh = client([broken.host], { maxRetries: 1, retryBaseDelayMs: 10 });
    await rejectsWith(fresh.fetchReferrers({ registry: broken.host, repository: 'acme/model' }, model.digest), 'SERVER_ERROR');
    // Known to serve the API: no tag at all.
    const capabilities = new ReferrersCapabilities();
    capabilities.learn(`http://${broken.host}`, 'present');
    const seenBefore = broken.seen.length;
    const c = client([broken.host], { maxRetries: 1, retryBaseDelayMs: 10, referrersCapabilities: capabilities });
    await rejectsWith(c.fetchReferrers({ registry: broken.host, repository: 'acme/model' }, model.digest), 'SERVER_ERROR');
    assert.equal(broken.seen.length - seenBefore, 2, 'the API, retried once');
    assert.ok(broken.seen.slice(seenBefore).every((line) => line.includes('/referrers/')));
  });

  it('validates the subject digest', async () => {
    await rejectsWith(
      client([registry.host]).fetchReferrers({ registry: registry.host, repository: 'acme/model' }, sha256(Buffer.from('x')).slice(0, 20)),
      'INVALID_ARGUMENT',
    );
  });
});
