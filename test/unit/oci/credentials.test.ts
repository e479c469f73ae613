import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DockerConfigCredentialProvider,
  DockerConfigError,
  configKeyMatches,
  credentialIdentity,
  normalizeConfigKey,
  parseDockerConfig,
} from '../../../src/oci/credentials.ts';

function auth(user: string, password: string): { auth: string } {
  return { auth: Buffer.from(`${user}:${password}`).toString('base64') };
}

function config(auths: Record<string, unknown>): string {
  return JSON.stringify({ auths });
}

async function userFor(provider: DockerConfigCredentialProvider, registry: string, repository: string): Promise<string | undefined> {
  return (await provider.credentialsFor(registry, repository))?.username;
}

describe('docker config.json keys', () => {
  it('normalises keys as the kubelet does', () => {
    assert.deepEqual(normalizeConfigKey('https://index.docker.io/v1/'), { host: 'docker.io', path: '' });
    assert.deepEqual(normalizeConfigKey('index.docker.io'), { host: 'docker.io', path: '' });
    assert.deepEqual(normalizeConfigKey('http://Registry.Example.com:5000/v2/'), { host: 'registry.example.com:5000', path: '' });
    assert.deepEqual(normalizeConfigKey('registry.example.com/acme/models'), { host: 'registry.example.com', path: '/acme/models' });
    assert.deepEqual(normalizeConfigKey('https://registry.example.com/v1/acme'), { host: 'registry.example.com', path: '/acme' });
    assert.deepEqual(normalizeConfigKey('*.example.com'), { host: '*.example.com', path: '' });
    assert.equal(normalizeConfigKey('https://'), undefined);
  });

  it('matches hosts, ports, path prefixes and one-level wildcards', () => {
    const key = (k: string) => normalizeConfigKey(k) ?? assert.fail(k);
    assert.ok(configKeyMatches(key('ghcr.io'), 'ghcr.io', 'acme/model'));
    assert.ok(!configKeyMatches(key('ghcr.io'), 'ghcr.io:443', 'acme/model'), 'a port must match exactly');
    assert.ok(configKeyMatches(key('localhost:5000'), 'localhost:5000', 'm'));
    assert.ok(!configKeyMatches(key('localhost:5000'), 'localhost', 'm'));
    assert.ok(configKeyMatches(key('ghcr.io/acme'), 'ghcr.io', 'acme/model'));
    assert.ok(!configKeyMatches(key('ghcr.io/acme'), 'ghcr.io', 'other/model'));
    assert.ok(configKeyMatches(key('*.example.com'), 'registry.example.com', 'm'));
    assert.ok(!configKeyMatches(key('*.example.com'), 'example.com', 'm'));
    assert.ok(!configKeyMatches(key('*.example.com'), 'a.b.example.com', 'm'));
    assert.ok(configKeyMatches(key('reg-*.example.com'), 'reg-eu.example.com', 'm'));
    assert.ok(configKeyMatches(key('https://index.docker.io/v1/'), 'docker.io', 'library/busybox'));
    assert.ok(configKeyMatches(key('docker.io'), 'index.docker.io', 'library/busybox'));
  });
});

describe('DockerConfigCredentialProvider', () => {
  it('reads auth (base64 user:password) and username/password entries', async () => {
    const provider = new DockerConfigCredentialProvider([
      config({
        'ghcr.io': auth('gh-user', 'gh:pass'),
        'quay.io': { username: 'quay-user', password: 'secret' },
      }),
    ]);
    assert.deepEqual(await provider.credentialsFor('ghcr.io', 'acme/model'), { username: 'gh-user', password: 'gh:pass' });
    assert.deepEqual(await provider.credentialsFor('quay.io', 'acme/model'), { username: 'quay-user', password: 'secret' });
    assert.equal(await provider.credentialsFor('docker.io', 'library/x'), undefined);
  });

  it('prefers auth over username/password, as the kubelet does', async () => {
    const provider = new DockerConfigCredentialProvider([config({ 'ghcr.io': { ...auth('from-auth', 'a'), username: 'from-fields', password: 'b' } })]);
    assert.equal(await userFor(provider, 'ghcr.io', 'x'), 'from-auth');
  });

  it('maps the legacy Docker Hub key to docker.io', async () => {
    const provider = new DockerConfigCredentialProvider([config({ 'https://index.docker.io/v1/': auth('hub', 'pw') })]);
    assert.equal(await userFor(provider, 'docker.io', 'library/busybox'), 'hub');
    assert.equal(await userFor(provider, 'ghcr.io', 'library/busybox'), undefined);
  });

  it('lets the most specific key win: longer path, then host, then wildcard', async () => {
    const provider = new DockerConfigCredentialProvider([
      config({
        '*.example.com': auth('wildcard', 'p'),
        'registry.example.com': auth('host', 'p'),
        'registry.example.com/acme': auth('acme', 'p'),
        'https://registry.example.com/v2/acme/models': auth('acme-models', 'p'),
      }),
    ]);
    assert.equal(await userFor(provider, 'registry.example.com', 'acme/models/llama'), 'acme-models');
    assert.equal(await userFor(provider, 'registry.example.com', 'acme/datasets'), 'acme');
    assert.equal(await userFor(provider, 'registry.example.com', 'other/thing'), 'host');
    assert.equal(await userFor(provider, 'mirror.example.com', 'other/thing'), 'wildcard');
    assert.equal(await userFor(provider, 'example.com', 'other/thing'), undefined);
  });

  it('merges several documents in order: for the same key the earlier document wins', async () => {
    const webhook = { name: 'secret modelgate/registry', text: config({ 'ghcr.io': auth('webhook', 'p'), 'quay.io': auth('webhook-quay', 'p') }) };
    const pod = { name: 'pull secret team/ghcr', text: config({ 'ghcr.io': auth('pod', 'p'), 'ghcr.io/team': auth('pod-team', 'p') }) };
    const provider = new DockerConfigCredentialProvider([webhook, pod]);
    assert.equal(await userFor(provider, 'ghcr.io', 'acme/model'), 'webhook');
    assert.equal(await userFor(provider, 'ghcr.io', 'team/model'), 'pod-team', 'a more specific key wins whatever its document');
    assert.equal(await userFor(provider, 'quay.io', 'x'), 'webhook-quay');
    assert.equal(provider.match('ghcr.io', 'team/model')?.source, 'pull secret team/ghcr');
  });

  it('accepts the legacy .dockercfg form (no auths wrapper)', async () => {
    const provider = new DockerConfigCredentialProvider([JSON.stringify({ 'registry.local:5000': auth('legacy', 'p') })]);
    assert.equal(await userFor(provider, 'registry.local:5000', 'x'), 'legacy');
  });

  it('skips identitytoken-only and broken entries with a note, without secrets in notes', () => {
    const parsed = parseDockerConfig({
      name: 'cfg',
      text: config({
        'azurecr.example.io': { identitytoken: 'refresh-token-secret' },
        'broken.io': { auth: Buffer.from('no-colon').toString('base64') },
        'both.io': { ...auth('u', 'hunter2'), identitytoken: 'tok-secret' },
        'empty.io': {},
      }),
    });
    assert.deepEqual(
      parsed.entries.map((e) => e.host),
      ['both.io'],
    );
    assert.equal(parsed.notes.length, 4);
    assert.match(parsed.notes.join('\n'), /identitytoken \(OAuth refresh token\) credentials are not supported/);
    assert.doesNotMatch(parsed.notes.join('\n'), /secret|hunter2/);
  });

  it('rejects text that is not a JSON object, naming the source but not the content', () => {
    assert.throws(
      () => new DockerConfigCredentialProvider([{ name: 'secret a/b', text: '{"auths": {"x": "pa55word' }]),
      (error: unknown) => {
        assert.ok(error instanceof DockerConfigError);
        assert.match(error.message, /secret a\/b/);
        assert.doesNotMatch(error.message, /pa55word/);
        return true;
      },
    );
    assert.throws(() => new DockerConfigCredentialProvider(['[]']), DockerConfigError);
    assert.throws(() => new DockerConfigCredentialProvider(['{"auths": 3}']), DockerConfigError);
  });

  it('derives a credential identity that changes with the password and hides it', () => {
    const a = credentialIdentity({ username: 'alice', password: 'one' });
    const b = credentialIdentity({ username: 'alice', password: 'two' });
    assert.notEqual(a, b);
    assert.match(a, /^user:alice:[0-9a-f]{16}$/);
    assert.equal(credentialIdentity(undefined), 'anonymous');
  });
});
