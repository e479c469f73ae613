/**
 * The per-registry memory of the referrers API (referrers-capability.ts) and what the client
 * asks because of it: a scripted registry holds the API's answer until the referrers tag was
 * asked (or a while passed), so "asked together" is observed, not inferred from timings; the
 * same against the real docker-registry and referrers-registry is in test/integration/oci.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/oci/client.ts';
import { referrersTag } from '../../../src/oci/digest.ts';
import { REFERRERS_API_TTL_MS, ReferrersCapabilities, notFoundMeansNoApi } from '../../../src/oci/referrers-capability.ts';
import { OCI_INDEX, OCI_MANIFEST, sha256 } from '../../support/artifacts.ts';
import { startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';

const SUBJECT = sha256(Buffer.from('subject'));
const REFERRER = { mediaType: OCI_MANIFEST, digest: sha256(Buffer.from('referrer')), size: 10, artifactType: 'application/example' };
const index = (manifests: readonly object[]): string => JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests });

interface Script {
  /** The referrers API: an index, a plain 404 (no API), or a 404 with this distribution error code. */
  api: 'index' | 'no-api' | 'NAME_UNKNOWN';
  /** Whether the referrers tag holds an index naming REFERRER. */
  tag: boolean;
}

/** A registry whose referrers API waits (at most 300 ms) for the referrers tag request before it answers. */
async function scriptedRegistry(script: Script): Promise<{ server: RunningServer; tagAskedWhileApiPending: boolean[] }> {
  const tagAskedWhileApiPending: boolean[] = [];
  let tagAsked: () => void = () => undefined;
  let tagRequest = new Promise<void>((resolve) => {
    tagAsked = resolve;
  });
  const send = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };
  const server = await startServer(async (req, res) => {
    if (req.url?.includes('/referrers/') === true) {
      const asked = await Promise.race([tagRequest.then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, 300, false))]);
      tagAskedWhileApiPending.push(asked);
      tagRequest = new Promise<void>((resolve) => {
        tagAsked = resolve;
      });
      if (script.api === 'index') return send(res, 200, OCI_INDEX, index([REFERRER]));
      if (script.api === 'no-api') return send(res, 404, 'text/plain', '404 page not found\n');
      return send(res, 404, 'application/json', JSON.stringify({ errors: [{ code: script.api, message: 'repository name not known to registry' }] }));
    }
    if (req.url?.endsWith(`/manifests/${referrersTag(SUBJECT)}`) === true) {
      tagAsked();
      if (script.tag) return send(res, 200, OCI_INDEX, index([REFERRER]));
      return send(res, 404, 'application/json', JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    }
    send(res, 404, 'text/plain', 'not scripted');
  });
  return { server, tagAskedWhileApiPending };
}

describe('referrers API capability memory', () => {
  const servers: RunningServer[] = [];
  const clients: RegistryClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });
  let clock = 1_000_000;
  const setup = async (script: Script) => {
    const { server, tagAskedWhileApiPending } = await scriptedRegistry(script);
    servers.push(server);
    const capabilities = new ReferrersCapabilities({ now: () => clock });
    const client = new RegistryClient({ registries: [{ host: server.host, insecure: true, ca: undefined }], referrersCapabilities: capabilities });
    clients.push(client);
    const lookup = async () => {
      const seenBefore = server.seen.length;
      const result = await client.fetchReferrers({ registry: server.host, repository: 'acme/model' }, SUBJECT);
      return {
        result,
        asked: server.seen
          .slice(seenBefore)
          .map((line) => (line.includes('/referrers/') ? 'api' : 'tag'))
          .sort(),
      };
    };
    return { server, capabilities, lookup, tagAskedWhileApiPending };
  };

  it('asks the tag beside the API on first contact, then only the tag of a registry without the API until that expires', async () => {
    const { server, capabilities, lookup, tagAskedWhileApiPending } = await setup({ api: 'no-api', tag: true });
    const first = await lookup();
    assert.equal(first.result.source, 'tag');
    assert.deepEqual(
      first.result.descriptors.map((d) => d.digest),
      [REFERRER.digest],
    );
    assert.deepEqual(first.asked, ['api', 'tag']);
    assert.deepEqual(tagAskedWhileApiPending, [true], 'the tag was asked while the API answer was pending (one round trip)');
    assert.equal(capabilities.get(`http://${server.host}`), 'absent');

    const known = await lookup();
    assert.deepEqual(known.asked, ['tag'], 'a registry known to lack the API is not asked for it');
    assert.deepEqual(
      known.result.descriptors.map((d) => d.digest),
      [REFERRER.digest],
    );

    clock += REFERRERS_API_TTL_MS;
    const expired = await lookup();
    assert.deepEqual(expired.asked, ['api', 'tag'], 'on expiry the API is asked again, beside the tag');
    assert.deepEqual(tagAskedWhileApiPending, [true, true]);
  });

  it('asks only the API of a registry known to serve it', async () => {
    const { lookup } = await setup({ api: 'index', tag: true });
    const first = await lookup();
    assert.equal(first.result.source, 'api');
    assert.deepEqual(first.asked, ['api', 'tag']);
    const known = await lookup();
    assert.equal(known.result.source, 'api');
    assert.deepEqual(known.asked, ['api']);
  });

  it('learns nothing from a 404 about the repository (NAME_UNKNOWN): the next lookup asks both again', async () => {
    const { server, capabilities, lookup } = await setup({ api: 'NAME_UNKNOWN', tag: false });
    assert.deepEqual((await lookup()).asked, ['api', 'tag']);
    assert.equal(capabilities.get(`http://${server.host}`), undefined);
    assert.deepEqual((await lookup()).asked, ['api', 'tag']);
  });

  it('never hides a referrer behind a remembered API: a registry known to serve it that answers 404 is still asked for the tag', async () => {
    const { server, capabilities, lookup } = await setup({ api: 'no-api', tag: true });
    capabilities.learn(`http://${server.host}`, 'present');
    const result = await lookup();
    assert.deepEqual(result.asked, ['api', 'tag']);
    assert.equal(result.result.source, 'tag');
    assert.deepEqual(
      result.result.descriptors.map((d) => d.digest),
      [REFERRER.digest],
    );
    assert.equal(capabilities.get(`http://${server.host}`), 'absent', 'and what it answered is learnt');
  });
});

describe('ReferrersCapabilities', () => {
  it('forgets an answer after its lifetime', () => {
    let now = 0;
    const memory = new ReferrersCapabilities({ now: () => now, ttlMs: 1000 });
    memory.learn('https://a.example', 'absent');
    now = 999;
    assert.equal(memory.get('https://a.example'), 'absent');
    now = 1000;
    assert.equal(memory.get('https://a.example'), undefined);
    assert.equal(memory.size, 0);
  });

  it('holds a bounded number of registries, forgetting the oldest first', () => {
    const memory = new ReferrersCapabilities({ maxEntries: 2 });
    memory.learn('https://a.example', 'absent');
    memory.learn('https://b.example', 'present');
    memory.learn('https://a.example', 'absent');
    memory.learn('https://c.example', 'present');
    assert.equal(memory.size, 2);
    assert.equal(memory.get('https://b.example'), undefined, 'b was the oldest (a was learnt again)');
    assert.equal(memory.get('https://a.example'), 'absent');
    assert.equal(memory.get('https://c.example'), 'present');
  });

  it('takes a 404 for "no API" unless its error is about the repository or the subject', () => {
    assert.equal(notFoundMeansNoApi(undefined), true);
    assert.equal(notFoundMeansNoApi('UNSUPPORTED'), true);
    assert.equal(notFoundMeansNoApi('NAME_UNKNOWN'), false);
    assert.equal(notFoundMeansNoApi('MANIFEST_UNKNOWN'), false);
  });
});
