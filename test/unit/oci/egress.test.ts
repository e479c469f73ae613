/**
 * Issue 9, egress and credentials: the pod spec and registry answers never steer where the
 * registry client connects or whom it sends credentials to, and its errors never carry what
 * a registry said. The registries are node:http servers on distinct loopback addresses
 * (127.0.0.2, 127.0.0.3 act as other hosts); docker-registry cannot be made to redirect or
 * to name arbitrary token realms, so these scripted servers stand in for hostile registries.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/oci/client.ts';
import type { RegistryClientOptions } from '../../../src/oci/client.ts';
import { DockerConfigCredentialProvider } from '../../../src/oci/credentials.ts';
import { EgressGuard, isInternalAddress } from '../../../src/oci/egress.ts';
import type { Resolver } from '../../../src/oci/egress.ts';
import { RegistryEndpoints } from '../../../src/oci/endpoints.ts';
import { RegistryError } from '../../../src/oci/errors.ts';
import type { RequestEvent } from '../../../src/oci/http.ts';
import { OCI_MANIFEST, blob, ociManifest } from '../../support/artifacts.ts';
import { closedPort, startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { rejectsWith } from '../../support/registry-errors.ts';

const model = ociManifest({ layers: [blob('weights')] });
const weights = model.blobs[1] ?? model.blobs[0];
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('egress and credentials (issue 9)', { timeout: 60_000 }, () => {
  const servers: RunningServer[] = [];
  const clients: RegistryClient[] = [];
  const serve = async (handler: Parameters<typeof startServer>[0], address?: string): Promise<RunningServer> => {
    const server = await startServer(handler, address);
    servers.push(server);
    return server;
  };
  const client = (hosts: readonly string[], extra: RegistryClientOptions = {}): RegistryClient => {
    const created = new RegistryClient({ registries: hosts.map((host) => ({ host, insecure: true, ca: undefined })), retryBaseDelayMs: 5, ...extra });
    clients.push(created);
    return created;
  };
  const credentials = (host: string, user = 'alice', password = 'wonderland') =>
    new DockerConfigCredentialProvider([
      { name: 'test', text: JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }) },
    ]);

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  describe('where the client connects', () => {
    it('knows the internal address ranges, IPv4-mapped and NAT64 forms included', () => {
      for (const address of [
        '127.0.0.1',
        '10.1.2.3',
        '172.20.0.1',
        '192.168.1.1',
        '169.254.169.254',
        '100.64.0.1',
        '0.0.0.0',
        '::1',
        '[::1]',
        'fd00:ec2::254',
        'fe80::1',
        '::ffff:127.0.0.1',
        '::ffff:7f00:1',
        '64:ff9b::a9fe:a9fe',
      ]) {
        assert.equal(isInternalAddress(address), true, address);
      }
      for (const address of ['8.8.8.8', '140.82.112.3', '2606:4700::1111', '::ffff:8.8.8.8', 'ghcr.io'])
        assert.equal(isInternalAddress(address), false, address);
    });

    it('refuses a name that resolves to an internal address at connect time, unless the Config lists it', async () => {
      const fake: Resolver = (hostname, _options, callback) =>
        callback(
          null,
          hostname === 'rebind.example'
            ? [
                { address: '93.184.215.14', family: 4 },
                { address: '10.0.0.7', family: 4 },
              ]
            : [{ address: '93.184.215.14', family: 4 }],
        );
      const lookup = (guard: EgressGuard, host: string): Promise<unknown> =>
        new Promise((resolve) => guard.lookup(host, { all: true }, (error, addresses) => resolve(error ?? addresses)));
      const unlisted = new EgressGuard(new RegistryEndpoints([]), fake);
      const refused = await lookup(unlisted, 'rebind.example');
      assert.ok(refused instanceof Error && /resolved to the internal address 10\.0\.0\.7/.test(refused.message), String(refused));
      assert.deepEqual(await lookup(unlisted, 'public.example'), [{ address: '93.184.215.14', family: 4 }]);
      const listed = new EgressGuard(new RegistryEndpoints([{ host: 'rebind.example:5000', insecure: false, ca: undefined }]), fake);
      assert.equal((await lookup(listed, 'rebind.example')) instanceof Error, false);
      assert.ok(unlisted.refusal('localhost') !== undefined && unlisted.refusal('x.localhost') !== undefined && unlisted.refusal('127.0.0.1') !== undefined);
    });

    it('follows a redirect of a blob GET only to where a first request could go', async () => {
      const inside = await serve((_req, res) => {
        res.end('secret internal data');
      }, '127.0.0.3');
      const registry = await serve((_req, res) => {
        res.writeHead(307, { location: `https://${inside.host}/metadata` });
        res.end();
      });
      const error = await rejectsWith(
        client([registry.host]).fetchBlob({ registry: registry.host, repository: 'acme/model' }, weights?.digest ?? ''),
        'EGRESS_DENIED',
      );
      assert.match(error.message, /refusing to connect to 127\.0\.0\.3:\d+: 127\.0\.0\.3 is an internal address/);
      assert.deepEqual(inside.seen, [], 'the internal host was never contacted');
      // Plain HTTP is not a place a redirect may lead either, unless that host and port are listed insecure.
      const plain = await serve((_req, res) => {
        res.end('x');
      }, '127.0.0.2');
      const toPlain = await serve((_req, res) => {
        res.writeHead(302, { location: `${plain.url}/blob` });
        res.end();
      });
      const c = new RegistryClient({
        registries: [
          { host: toPlain.host, insecure: true, ca: undefined },
          { host: '127.0.0.2', insecure: false, ca: undefined },
        ],
      });
      clients.push(c);
      await rejectsWith(c.fetchBlob({ registry: toPlain.host, repository: 'acme/model' }, weights?.digest ?? ''), 'INSECURE_NOT_ALLOWED');
      assert.deepEqual(plain.seen, []);
    });

    it('follows a manifest or blob redirect to a listed storage host, without the Authorization header', async () => {
      const authorizations: (string | undefined)[] = [];
      const storage = await serve((req, res) => {
        authorizations.push(req.headers.authorization);
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        res.end(model.bytes);
      }, '127.0.0.2');
      const registry = await serve((req, res) => {
        if (req.headers.authorization !== basic('alice', 'wonderland')) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' });
          res.end();
          return;
        }
        res.writeHead(307, { location: `${storage.url}/storage/manifest?sig=abc` });
        res.end();
      });
      const c = client([registry.host, storage.host], { credentials: credentials(registry.host) });
      assert.equal((await c.fetchManifest({ registry: registry.host, repository: 'acme/model' }, model.digest)).digest, model.digest);
      assert.deepEqual(authorizations, [undefined], 'credentials for the registry never reach another origin');
    });

    it('does not follow redirects of the referrers API', async () => {
      const elsewhere = await serve((_req, res) => {
        res.end('{}');
      }, '127.0.0.2');
      const registry = await serve((_req, res) => {
        res.writeHead(307, { location: `${elsewhere.url}/index` });
        res.end();
      });
      const error = await rejectsWith(
        client([registry.host, elsewhere.host]).fetchReferrers({ registry: registry.host, repository: 'acme/model' }, model.digest),
        'UNEXPECTED_STATUS',
      );
      assert.match(error.message, /answered 307/);
      assert.deepEqual(elsewhere.seen, []);
    });

    it('says the same of every connection failure (no port-scan oracle); the log gets the cause', async () => {
      const refused = `127.0.0.1:${await closedPort()}`;
      // A TCP server that accepts and never says a word: the TLS handshake times out.
      const silent = createNetServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const hanging = { host: `127.0.0.1:${(silent.address() as AddressInfo).port}` };
      after(() => silent.close());
      const notTls = await serve((_req, res) => {
        res.end('hello');
      });
      const events: RequestEvent[] = [];
      const c = new RegistryClient({
        registries: [{ host: '127.0.0.1', insecure: false, ca: undefined }],
        requestTimeoutMs: 300,
        maxRetries: 0,
        onRequest: (event) => events.push(event),
      });
      clients.push(c);
      const messages: string[] = [];
      for (const host of [refused, hanging.host, notTls.host]) {
        const error = await c
          .fetchManifest({ registry: host, repository: 'acme/model' }, model.digest, { deadline: Date.now() + 2000 })
          .catch((e: unknown) => e);
        assert.ok(error instanceof RegistryError);
        messages.push(error.message.replaceAll(host, 'HOST'));
      }
      assert.equal(new Set(messages).size, 1, messages.join('\n'));
      assert.deepEqual(
        events.map((event) => /connection refused|no complete answer|does not speak TLS/.exec(event.diagnostic ?? '')?.[0]),
        ['connection refused', 'no complete answer', 'does not speak TLS'],
      );
    });
  });

  describe('whom credentials go to', () => {
    it('a 401 from where a registry redirected to is not its challenge: no token realm gets the credentials, now or later', async () => {
      const realm = await serve((_req, res) => {
        res.end(JSON.stringify({ token: 'stolen' }));
      }, '127.0.0.3');
      const elsewhere = await serve((_req, res) => {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm.url.replace('http:', 'https:')}/token",service="x"` });
        res.end();
      }, '127.0.0.2');
      const registry = await serve((req, res) => {
        if (req.headers.authorization !== basic('alice', 'wonderland')) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' });
          res.end();
        } else if ((req.url ?? '').includes('/blobs/')) {
          res.writeHead(307, { location: `${elsewhere.url}/blob` });
          res.end();
        } else {
          res.writeHead(200, { 'content-type': OCI_MANIFEST });
          res.end(model.bytes);
        }
      });
      const c = client([registry.host, elsewhere.host, realm.host], { credentials: credentials(registry.host) });
      const at = { registry: registry.host, repository: 'acme/model' };
      await rejectsWith(c.fetchBlob(at, weights?.digest ?? ''), 'UNAUTHORIZED');
      // The registry's own challenge (Basic) still stands: the next check answers it, nobody else's.
      assert.equal((await c.fetchManifest(at, model.digest)).digest, model.digest);
      assert.deepEqual(realm.seen, []);
    });

    it('a token realm on another host, outside the registry’s domain and not listed, gets nothing', async () => {
      const thief = await serve((_req, res) => {
        res.end(JSON.stringify({ token: 'stolen' }));
      }, '127.0.0.3');
      const registry = await serve((_req, res) => {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${thief.host}/token",service="x"` });
        res.end();
      });
      const error = await rejectsWith(
        client([registry.host], { credentials: credentials(registry.host) }).fetchManifest({ registry: registry.host, repository: 'acme/model' }, model.digest),
        'UNAUTHORIZED',
      );
      assert.match(error.message, /asked for a token from 127\.0\.0\.3:\d+, where modelgate sends no requests: it is neither the registry's host/);
      assert.deepEqual(thief.seen, []);
    });

    it('one 401 with an http:// realm does not break the registry’s later checks: a challenge is kept only once it worked', async () => {
      let first = true;
      const registry = await serve((req: IncomingMessage, res) => {
        if (first) {
          first = false;
          res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://127.0.0.1:9/token",service="x"' });
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': OCI_MANIFEST });
        res.end(req.url?.includes('manifests') === true ? model.bytes : '');
      });
      const c = client([registry.host], { credentials: credentials(registry.host) });
      const at = { registry: registry.host, repository: 'acme/model' };
      await rejectsWith(c.fetchManifest(at, model.digest), 'UNAUTHORIZED');
      assert.equal((await c.fetchManifest(at, model.digest)).digest, model.digest);
    });

    it('never puts what a registry said, credentials or user names into an error message', async () => {
      const registry = await serve((req, res) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `internal: db password=hunter2; you sent ${req.headers.authorization ?? ''}` }] }));
      });
      const c = client([registry.host], { credentials: credentials(registry.host, 'svc-account', 's3cr3t'), maxRetries: 0 });
      const error = await rejectsWith(c.fetchManifest({ registry: registry.host, repository: 'acme/model' }, model.digest), 'SERVER_ERROR');
      assert.match(error.message, /answered 500 Internal Server Error \(UNKNOWN\)/);
      assert.doesNotMatch(error.message, /hunter2|svc-account|s3cr3t|Basic|internal:/);
    });
  });
});
