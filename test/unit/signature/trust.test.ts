import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrustRootError } from '../../../src/signature/errors.ts';
import { PUBLIC_GOOD, TrustedRoots, embeddedPublicGoodJson, parseTrustedRoot, publicGoodTrustedRoot } from '../../../src/signature/trust.ts';
import { createTestPki } from '../../support/sigstore/pki.ts';

describe('trusted roots', () => {
  it('loads the public-good root embedded in @sigstore/tuf, with no network', () => {
    const originalFetch = globalThis.fetch;
    globalThis.fetch = () => Promise.reject(new Error('no network in this test'));
    try {
      const root = publicGoodTrustedRoot();
      assert.equal(root.name, PUBLIC_GOOD);
      assert.match(root.fingerprint, /^[0-9a-f]{64}$/);
      assert.ok(root.root.certificateAuthorities.some((ca) => ca.uri === 'https://fulcio.sigstore.dev'));
      assert.ok(root.root.tlogs.some((log) => log.baseUrl === 'https://rekor.sigstore.dev'));
      assert.ok(root.material.ctlogs.length > 0);
      assert.equal(TrustedRoots.fromSettings().get(PUBLIC_GOOD), root);
      assert.match(embeddedPublicGoodJson(), /application\/vnd\.dev\.sigstore\.trustedroot\+json/);
    } finally {
      globalThis.fetch = originalFetch;
    }
  });

  it('takes custom roots from the Config, and lets one replace public-good', () => {
    const pki = createTestPki();
    const roots = TrustedRoots.fromSettings([
      { name: 'corp', json: pki.trustedRootJson() },
      { name: PUBLIC_GOOD, json: pki.trustedRootJson() },
    ]);
    assert.deepEqual(roots.names(), ['corp', 'public-good']);
    assert.equal(roots.get('corp').root.certificateAuthorities[0]?.uri, 'https://fulcio.modelgate.test');
    assert.equal(roots.get(PUBLIC_GOOD).root.certificateAuthorities[0]?.uri, 'https://fulcio.modelgate.test');
    assert.equal(roots.fingerprint('corp'), roots.get('corp').fingerprint);
    assert.equal(roots.fingerprint('nope'), 'unknown:nope');
  });

  it('fails with typed errors', () => {
    const roots = TrustedRoots.fromSettings();
    assert.throws(
      () => roots.get('corp'),
      (error: unknown) => error instanceof TrustRootError && error.code === 'UNKNOWN_TRUSTED_ROOT',
    );
    assert.throws(
      () => parseTrustedRoot('x', '{'),
      (error: unknown) => error instanceof TrustRootError && error.code === 'INVALID_TRUSTED_ROOT',
    );
    const broken = JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [{ baseUrl: 'x' }],
      certificateAuthorities: [],
    });
    assert.throws(() => parseTrustedRoot('x', broken), /trusted root "x" cannot be used/);
    const pki = createTestPki();
    assert.throws(
      () =>
        TrustedRoots.fromSettings([
          { name: 'a', json: pki.trustedRootJson() },
          { name: 'a', json: pki.trustedRootJson() },
        ]),
      /given twice/,
    );
  });
});
