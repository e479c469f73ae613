/** EngineManager: a new Engine per policy revision, the registry client and caches reused while the connection settings hold. */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { connectionKey } from '../../../src/engine/engine.ts';
import { EngineManager } from '../../../src/engine/manager.ts';
import type { RegistryClient } from '../../../src/oci/client.ts';
import { RegistryError } from '../../../src/oci/errors.ts';
import { PolicyLoadError, policySetFromTexts } from '../../../src/policy/load.ts';
import type { PolicySet } from '../../../src/policy/types.ts';
import { PublicGoodRoot } from '../../../src/signature/public-good.ts';
import { configDocument, modelPolicy } from '../../support/policies.ts';
import { createTestPki } from '../../support/sigstore/pki.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const artifactPolicy = (name: string, mode = 'enforce'): string => `${modelPolicy(name, `{mode: ${mode}, artifact: {types: [modelpack]}}`)}---\n`;
const plainPolicy = (name: string): string => `${modelPolicy(name)}---\n`;
const config = configDocument;
const set = (text: string): PolicySet => policySetFromTexts([{ source: 'p.yaml', text }]);

/** A closed client refuses at once; an open one goes to the (closed) port and fails otherwise. */
async function isClosed(client: RegistryClient): Promise<boolean> {
  try {
    await client.fetchManifest({ registry: '127.0.0.1:1', repository: 'x/y' }, DIGEST, { deadline: Date.now() + 2000 });
  } catch (error) {
    return error instanceof RegistryError && /closed/.test(error.message);
  }
  return false;
}

describe('EngineManager', () => {
  it('has no engine before the first policy set (readiness fails until then)', () => {
    assert.equal(new EngineManager().current(), undefined);
  });

  it('reuses the registry client and caches when only policies change', async () => {
    const manager = new EngineManager();
    const first = manager.update(set(artifactPolicy('a') + config('{defaultAction: allow}')));
    const second = manager.update(set(artifactPolicy('a', 'warn') + artifactPolicy('b') + config('{defaultAction: deny}')));
    assert.notEqual(first, second);
    assert.notEqual(first.policySet.revision, second.policySet.revision);
    assert.ok(first.client !== undefined);
    assert.equal(second.client, first.client);
    assert.equal(second.cache, first.cache);
    assert.equal(second.signatureCache, first.signatureCache);
    assert.equal(manager.current(), second);
    await manager.close();
    assert.equal(await isClosed(first.client), true);
  });

  it('makes a new client when connection settings change and closes the old one after in-flight reviews had their time', async () => {
    // Mock timers drive the retirement; the registry checks below need real ones (the client's retries sleep).
    mock.timers.enable({ apis: ['setTimeout'] });
    const manager = new EngineManager({ retireAfterMs: 150 });
    let first: ReturnType<EngineManager['update']>;
    let second: ReturnType<EngineManager['update']>;
    try {
      first = manager.update(set(artifactPolicy('a')));
      second = manager.update(set(artifactPolicy('a') + config('{registries: [{host: "registry.internal:5000", insecure: true}]}')));
      assert.ok(first.client !== undefined && second.client !== undefined);
      assert.notEqual(second.client, first.client);
      assert.notEqual(second.cache, first.cache);
      const closes = mock.method(first.client, 'close');
      mock.timers.tick(149);
      assert.equal(closes.mock.callCount(), 0, 'still open for reviews holding the old engine');
      mock.timers.tick(1);
      assert.equal(closes.mock.callCount(), 1);
    } finally {
      mock.timers.reset();
    }
    assert.equal(await isClosed(first.client), true);
    assert.equal(await isClosed(second.client), false);
    await manager.close();
    assert.equal(await isClosed(second.client), true);
  });

  it('each of registries, timeouts, credentials, trusted roots and signature discovery is a connection setting', () => {
    const base = set(plainPolicy('a')).config;
    const keys = new Set(
      [
        '{}',
        '{timeouts: {requestSeconds: 1}}',
        '{credentials: {pullSecrets: true}}',
        '{signatureDiscovery: {maxCandidates: 4}}',
        '{registries: [{host: "r.example"}]}',
        `{trustedRoots: [{name: corp, json: '${createTestPki().trustedRootJson()}'}]}`,
      ].map((spec) => connectionKey(set(config(spec)).config)),
    );
    assert.equal(keys.size, 6);
    assert.equal(connectionKey(set(config('{defaultAction: allow}')).config), connectionKey(base), 'defaultAction is not');
  });

  it('keeps the client through a revision that needs no registry, for the next one that does', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const manager = new EngineManager({ retireAfterMs: 10 });
      const first = manager.update(set(artifactPolicy('a')));
      const plain = manager.update(set(plainPolicy('a')));
      assert.equal(plain.client, undefined);
      mock.timers.tick(50);
      const again = manager.update(set(artifactPolicy('b')));
      assert.equal(again.client, first.client);
      await manager.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('a set whose registry access cannot be built is refused and the active engine stays', async () => {
    const manager = new EngineManager();
    const first = manager.update(set(artifactPolicy('a')));
    assert.throws(() => manager.update(set(artifactPolicy('a') + config('{credentials: {dockerConfig: /nonexistent/config.json}}'))), PolicyLoadError);
    assert.equal(manager.current(), first);
    await manager.close();
    assert.throws(() => manager.update(set(plainPolicy('a'))), /closed/);
  });
});

describe('EngineManager and the public-good root', () => {
  const keyless = (name: string, root = 'public-good'): string =>
    `${modelPolicy(name, `{signatures: {authorities: [{name: ci, keyless: {identities: [{issuer: "https://token.actions.githubusercontent.com", subject: x}], trustedRoot: ${root}}}]}}`)}---\n`;

  it('an attestation authority that names public-good starts the TUF refresh too', () => {
    let started = 0;
    const manager = new EngineManager({
      publicGood: {
        cacheDir: '/nonexistent',
        create: (settings) => Object.assign(new PublicGoodRoot({ settings, fetcher: undefined }), { start: () => void started++ }),
      },
    });
    const attested = modelPolicy(
      'attested',
      `{attestations: [{name: provenance, predicateType: "https://slsa.dev/provenance/v1", authorities: [{name: ci, keyless: {identities: [{issuer: "https://token.actions.githubusercontent.com", subject: x}]}}]}]}`,
    );
    manager.update(set(`${attested}---\n`));
    assert.equal(started, 1);
    assert.equal(manager.trustedRootStatus()[0]?.source, 'embedded');
  });

  it('starts the TUF refresh only once a policy names public-good, keeps one per publicGood setting, and reports it', async () => {
    const made: { settings: unknown; started: number; closed: number }[] = [];
    const manager = new EngineManager({
      publicGood: {
        cacheDir: '/nonexistent',
        create: (settings) => {
          const record = { settings, started: 0, closed: 0 };
          made.push(record);
          const root = new PublicGoodRoot({ settings, fetcher: undefined });
          return Object.assign(root, {
            start: () => void record.started++,
            close: async () => void record.closed++,
          });
        },
      },
    });
    manager.update(set(artifactPolicy('a') + config('{defaultAction: allow}')));
    assert.equal(made[0]?.started, 0, 'no policy names public-good: no network');
    assert.deepEqual(manager.trustedRootStatus(), []);
    manager.update(set(keyless('signed') + config('{defaultAction: allow}')));
    assert.equal(made.length, 1, 'the same settings keep the same root');
    assert.equal(made[0]?.started, 1);
    assert.equal(manager.trustedRootStatus()[0]?.source, 'embedded');
    // A Config public-good entry replaces it: nothing to refresh.
    manager.update(set(keyless('signed') + config(`{trustedRoots: [{name: public-good, json: ${JSON.stringify(createTestPki().trustedRootJson())}}]}`)));
    assert.equal(made[0]?.started, 1);
    assert.deepEqual(manager.trustedRootStatus(), []);
    manager.update(set(keyless('signed') + config('{publicGood: {refreshIntervalSeconds: 60}}')));
    assert.equal(made.length, 2, 'new settings, new root; the old one is closed');
    assert.equal(made[0]?.closed, 1);
    assert.equal(made[1]?.started, 1);
    await manager.close();
    assert.equal(made[1]?.closed, 1);
  });
});
