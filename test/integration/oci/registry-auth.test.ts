/**
 * Authentication against real distribution 2.8 registries over TLS (a CA made with openssl,
 * given to the client through RegistrySettings.ca): htpasswd auth (Basic challenges), and
 * token auth (Bearer challenges) with a token service that signs real JWTs which
 * distribution verifies against its rootcertbundle.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RegistrySettings } from '../../../src/oci/settings.ts';
import { RegistryClient } from '../../../src/oci/client.ts';
import type { RegistryClientOptions } from '../../../src/oci/client.ts';
import { DockerConfigCredentialProvider } from '../../../src/oci/credentials.ts';
import type { CredentialProvider } from '../../../src/oci/credentials.ts';
import { MODEL_ARTIFACT_TYPE, blob, ociManifest } from '../../support/artifacts.ts';
import { startDistribution } from '../../support/distribution.ts';
import type { RunningDistribution } from '../../support/distribution.ts';
import { startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { basicAuthorization, closePushAgents, pushManifest } from '../../support/push.ts';
import { createCA, issueLoopbackServerCert, issueSigningCert } from '../../support/pki.ts';
import type { CertificateAuthority, KeyPairFiles } from '../../support/pki.ts';
import { startTokenServer } from '../../support/token-server.ts';
import type { RunningTokenServer } from '../../support/token-server.ts';
import { rejectsWith } from '../../support/registry-errors.ts';

function dockerConfig(auths: Record<string, { username: string; password: string }>): CredentialProvider {
  const entries = Object.fromEntries(Object.entries(auths).map(([key, c]) => [key, { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') }]));
  return new DockerConfigCredentialProvider([{ name: 'test config.json', text: JSON.stringify({ auths: entries }) }]);
}

describe('registry authentication over TLS', { timeout: 180_000 }, () => {
  let dir: string;
  let ca: CertificateAuthority;
  let serverCert: KeyPairFiles;
  const clients: RegistryClient[] = [];
  const servers: RunningServer[] = [];
  const model = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('private weights')] });
  const second = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('more private weights')] });

  function client(registries: readonly RegistrySettings[], extra: RegistryClientOptions = {}): RegistryClient {
    const created = new RegistryClient({ registries, retryBaseDelayMs: 20, ...extra });
    clients.push(created);
    return created;
  }
  const tls = (host: string): RegistrySettings => ({ host, insecure: false, ca: ca.certPem });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-oci-auth-'));
    ca = await createCA(dir, 'ca');
    serverCert = await issueLoopbackServerCert(ca, dir, 'server');
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
    await closePushAgents();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('htpasswd (Basic challenges)', () => {
    let registry: RunningDistribution;
    const at = (repository: string) => ({ registry: registry.host, repository });

    before(async () => {
      registry = await startDistribution({
        dir: join(dir, 'basic'),
        tls: { certPath: serverCert.certFile, keyPath: serverCert.keyFile, caPem: ca.certPem },
        htpasswd: { alice: 'wonderland' },
      });
      await pushManifest({ url: registry.url, ca: ca.certPem, authorization: () => basicAuthorization('alice', 'wonderland') }, 'team/model', model);
      await pushManifest({ url: registry.url, ca: ca.certPem, authorization: () => basicAuthorization('alice', 'wonderland') }, 'team/model', second);
    });
    after(async () => registry?.stop());

    it('fails with UNAUTHORIZED and a hint without credentials', async () => {
      const c = client([tls(registry.host)]);
      const error = await rejectsWith(c.fetchManifest(at('team/model'), model.digest), 'UNAUTHORIZED');
      assert.equal(error.status, 401);
      assert.ok(error.message.includes(`${registry.host}/team/model@${model.digest}`));
      assert.match(error.message, /the request carried no credentials/);
      assert.match(error.message, /add an imagePullSecret or configure the webhook's registry credentials$/);
      assert.equal(c.requestCount, 1, 'nothing to answer a Basic challenge with');
    });

    it('sends Basic credentials from a docker config.json, trusting the CA from the settings', async () => {
      const credentials = dockerConfig({ [`https://${registry.host}/v1/`]: { username: 'alice', password: 'wonderland' } });
      const c = client([tls(registry.host)], { credentials });
      assert.equal((await c.fetchManifest(at('team/model'), model.digest)).digest, model.digest);
      assert.equal(c.requestCount, 2, '401, then the request with credentials');
      assert.equal((await c.fetchManifest(at('team/model'), second.digest)).digest, second.digest);
      assert.equal((await c.fetchBlob(at('team/model'), model.blobs[1]?.digest ?? '')).size, 'private weights'.length);
      assert.equal(c.requestCount, 4, 'credentials sent up front once the registry asked for Basic');
    });

    it('fails with UNAUTHORIZED when the password is wrong, naming neither user nor password (issue 9)', async () => {
      const c = client([tls(registry.host)], { credentials: dockerConfig({ [registry.host]: { username: 'alice', password: 'nope' } }) });
      const error = await rejectsWith(c.fetchManifest(at('team/model'), model.digest), 'UNAUTHORIZED');
      assert.match(error.message, /the request carried the configured credentials/);
      assert.doesNotMatch(error.message, /alice|nope/);
      assert.equal(c.requestCount, 2);
    });

    it('fails with TLS_ERROR when the registry CA is not configured; the denial reads like any connection failure', async () => {
      const c = client([{ host: registry.host, insecure: false, ca: undefined }]);
      const error = await rejectsWith(c.fetchManifest(at('team/model'), model.digest), 'TLS_ERROR');
      assert.match(error.message, /could not connect to .* or get a complete answer in time; .*a private CA goes in the Config's registries entry/);
      assert.match(
        error.diagnostic ?? '',
        /TLS failed: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/,
      );
    });

    it('fails with TLS_ERROR when the host is served with a certificate of another CA', async () => {
      const otherCa = await createCA(dir, 'other-ca');
      const c = client([{ host: registry.host, insecure: false, ca: otherCa.certPem }]);
      await rejectsWith(c.fetchManifest(at('team/model'), model.digest), 'TLS_ERROR');
    });
  });

  describe('token auth (Bearer challenges)', () => {
    const service = 'modelgate-test-registry';
    const issuer = 'modelgate-test-token-issuer';
    let tokenCa1: CertificateAuthority;
    let tokenCa2: CertificateAuthority;
    let signer1: KeyPairFiles;
    let signer2: KeyPairFiles;
    let tokens: RunningTokenServer;
    let registry: RunningDistribution;
    let bundlePath: string;
    const publicModel = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('open weights')] });
    const at = (repository: string) => ({ registry: registry.host, repository });
    const settings = (): RegistrySettings[] => [tls(registry.host), tls(tokens.host)];
    const bob = (): CredentialProvider => dockerConfig({ [registry.host]: { username: 'bob', password: 'builder' } });

    function startTokenRegistry(port?: number, storageDir?: string): Promise<RunningDistribution> {
      return startDistribution({
        dir: join(dir, 'token'),
        tls: { certPath: serverCert.certFile, keyPath: serverCert.keyFile, caPem: ca.certPem },
        token: { realm: tokens.realm, service, issuer, rootCertBundlePath: bundlePath },
        ...(port === undefined ? {} : { port }),
        ...(storageDir === undefined ? {} : { storageDir }),
      });
    }

    before(async () => {
      tokenCa1 = await createCA(dir, 'token-ca-1');
      tokenCa2 = await createCA(dir, 'token-ca-2');
      signer1 = await issueSigningCert(tokenCa1, dir, 'signer-1');
      signer2 = await issueSigningCert(tokenCa2, dir, 'signer-2');
      bundlePath = join(dir, 'token-root-bundle.pem');
      writeFileSync(bundlePath, tokenCa1.certPem);
      tokens = await startTokenServer({ signer: signer1, issuer, service, users: { bob: 'builder' }, tls: serverCert });
      registry = await startTokenRegistry();
      for (const [repository, manifest] of [
        ['private/model', model],
        ['private/model', second],
        ['public/model', publicModel],
      ] as const) {
        const pushToken = tokens.mint('bob', [`repository:${repository}:pull,push`]);
        await pushManifest({ url: registry.url, ca: ca.certPem, authorization: () => `Bearer ${pushToken}` }, repository, manifest);
      }
    });
    after(async () => {
      await registry?.stop();
      await tokens?.stop();
    });

    it('gets a token with Basic credentials at the realm (over TLS with its own CA setting) and pulls', async () => {
      const before = tokens.requests.length;
      const c = client(settings(), { credentials: bob() });
      const fetched = await c.fetchManifest(at('private/model'), model.digest);
      assert.equal(fetched.digest, model.digest);
      assert.equal(c.requestCount, 3, '401, token, manifest');
      assert.deepEqual(tokens.requests.slice(before), [{ user: 'bob', service, scopes: ['repository:private/model:pull'] }]);
    });

    it('reuses the cached token: later pulls cost one request each', async () => {
      const before = tokens.requests.length;
      const c = client(settings(), { credentials: bob() });
      await c.fetchManifest(at('private/model'), model.digest);
      const afterFirst = c.requestCount;
      await c.fetchManifest(at('private/model'), second.digest);
      await c.fetchBlob(at('private/model'), model.blobs[1]?.digest ?? '');
      await c.fetchManifest(at('private/model'), model.digest);
      assert.equal(c.requestCount - afterFirst, 3);
      assert.equal(tokens.requests.length - before, 1);
    });

    it('asks the token service once for concurrent pulls', async () => {
      const before = tokens.requests.length;
      const c = client(settings(), { credentials: bob() });
      await Promise.all([model, second, model].map((m) => c.fetchManifest(at('private/model'), m.digest)));
      assert.equal(tokens.requests.length - before, 1);
    });

    it('gets an anonymous token for a public repository', async () => {
      const before = tokens.requests.length;
      const c = client(settings());
      assert.equal((await c.fetchManifest(at('public/model'), publicModel.digest)).digest, publicModel.digest);
      assert.deepEqual(tokens.requests.slice(before), [{ user: undefined, service, scopes: ['repository:public/model:pull'] }]);
      // Another repository needs its own token (scope), fetched up front as the challenge is known.
      await rejectsWith(c.fetchManifest(at('private/model'), model.digest), 'UNAUTHORIZED');
      assert.equal(tokens.requests.length - before, 2);
    });

    it('fetches the token of a new repository on a known registry before its first request (no 401 round trip)', async () => {
      const c = client(settings(), { credentials: bob() });
      await c.fetchManifest(at('public/model'), publicModel.digest);
      const before = { client: c.requestCount, tokens: tokens.requests.length };
      assert.equal((await c.fetchManifest(at('private/model'), model.digest)).digest, model.digest);
      assert.equal(c.requestCount - before.client, 2, 'token, manifest');
      assert.deepEqual(tokens.requests.slice(before.tokens), [{ user: 'bob', service, scopes: ['repository:private/model:pull'] }]);
    });

    it('fails with UNAUTHORIZED when an anonymous token grants no access', async () => {
      const c = client(settings());
      const error = await rejectsWith(c.fetchManifest(at('private/model'), model.digest), 'UNAUTHORIZED');
      assert.match(error.message, /the request carried no credentials/);
      assert.match(error.message, /imagePullSecret/);
      assert.equal(c.requestCount, 3, '401, token, 401: no second token for the same refusal');
    });

    it('fails with UNAUTHORIZED when the token service refuses the credentials', async () => {
      const c = client(settings(), { credentials: dockerConfig({ [registry.host]: { username: 'bob', password: 'wrong' } }) });
      const error = await rejectsWith(c.fetchManifest(at('private/model'), model.digest), 'UNAUTHORIZED');
      assert.ok(error.message.includes(`the token service at ${tokens.host} refused the configured credentials`), error.message);
      assert.doesNotMatch(error.message, /bob|wrong/);
    });

    it('reads access_token and assumes 60 s when expires_in is missing', async () => {
      tokens.setAnswer({ tokenField: 'access_token', expiresIn: null });
      try {
        const c = client(settings(), { credentials: bob() });
        assert.equal((await c.fetchManifest(at('private/model'), model.digest)).digest, model.digest);
        await c.fetchManifest(at('private/model'), second.digest);
        assert.equal(c.requestCount, 4);
      } finally {
        tokens.setAnswer({ tokenField: 'token', expiresIn: 300 });
      }
    });

    it('refuses a token realm on plain HTTP unless that host is configured insecure', async () => {
      const fake = await startServer((_req, res) => {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:9/token",service="x"` });
        res.end();
      });
      servers.push(fake);
      const c = client([{ host: fake.host, insecure: true, ca: undefined }], {
        credentials: dockerConfig({ [fake.host]: { username: 'bob', password: 'builder' } }),
      });
      const error = await rejectsWith(c.fetchManifest({ registry: fake.host, repository: 'private/model' }, model.digest), 'UNAUTHORIZED');
      assert.match(error.message, /asked for a token from 127\.0\.0\.1:9, where modelgate sends no requests: it is not HTTPS/);
      assert.equal(c.requestCount, 1);
    });

    it('fails with MALFORMED for a bearer challenge without realm', async () => {
      const fake = await startServer((_req, res) => {
        res.writeHead(401, { 'www-authenticate': 'Bearer service="x"' });
        res.end();
      });
      servers.push(fake);
      const c = client([{ host: fake.host, insecure: true, ca: undefined }]);
      await rejectsWith(c.fetchManifest({ registry: fake.host, repository: 'private/model' }, model.digest), 'MALFORMED');
    });

    it('drops a cached token the registry rejects, gets a new one and retries once', async () => {
      const c = client(settings(), { credentials: bob() });
      await c.fetchManifest(at('private/model'), model.digest);
      const before = { client: c.requestCount, tokens: tokens.requests.length };
      // The registry now trusts only tokens signed under the second token CA: the cached token is invalid.
      writeFileSync(bundlePath, tokenCa2.certPem);
      const { port, storageDir } = registry;
      await registry.stop();
      registry = await startTokenRegistry(port, storageDir);
      tokens.setSigner(signer2);
      const fetched = await c.fetchManifest(at('private/model'), second.digest);
      assert.equal(fetched.digest, second.digest);
      assert.equal(c.requestCount - before.client, 3, 'cached token → 401, new token, retry');
      assert.equal(tokens.requests.length - before.tokens, 1);
    });
  });

  describe('FORBIDDEN', () => {
    it('maps 403 to FORBIDDEN with the credentials situation', async () => {
      const fake = await startServer((_req, res) => {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}');
      });
      servers.push(fake);
      const c = client([{ host: fake.host, insecure: true, ca: undefined }], {
        credentials: dockerConfig({ [fake.host]: { username: 'carol', password: 'x' } }),
      });
      const error = await rejectsWith(c.fetchManifest({ registry: fake.host, repository: 'team/model' }, model.digest), 'FORBIDDEN');
      assert.equal(error.registryCode, 'DENIED');
      assert.match(error.message, /answered 403 Forbidden \(DENIED\); the request carried no credentials/);
      assert.doesNotMatch(error.message, /carol|requested access/);
      assert.match(error.diagnostic ?? '', /requested access to the resource is denied/);
      assert.match(error.message, /imagePullSecret/);
    });
  });
});
