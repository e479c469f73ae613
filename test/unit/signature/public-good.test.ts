import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../../src/core/log.ts';
import { FIRST_RETRY_MS, PublicGoodRoot } from '../../../src/signature/public-good.ts';
import type { TrustedRootFetcher } from '../../../src/signature/public-good.ts';
import { DEFAULT_PUBLIC_GOOD_SETTINGS, toPublicGoodSettings } from '../../../src/signature/public-good-settings.ts';
import { toSignaturePolicy } from '../../../src/signature/policy-convert.ts';
import { DEFAULT_DISCOVERY_LIMITS } from '../../../src/signature/policy-schema.ts';
import { CachedSignatureVerifier } from '../../../src/signature/source.ts';
import { PUBLIC_GOOD, TrustedRoots, publicGoodTrustedRoot } from '../../../src/signature/trust.ts';
import { FakeRegistry } from '../../support/fake-registry.ts';
import { TestClock } from '../../support/clock.ts';
import { bundleSignature, cosignStatement } from '../../support/sigstore/cosign.ts';
import { createTestPki } from '../../support/sigstore/pki.ts';

const HOUR = 3_600_000;
const settings = { ...DEFAULT_PUBLIC_GOOD_SETTINGS, tufMirror: 'https://tuf.test', refreshIntervalMs: HOUR };

/** A TUF stand-in: answers come from a queue (text or error); every call is counted. */
class ScriptedFetcher implements TrustedRootFetcher {
  readonly answers: (string | Error)[] = [];
  calls = 0;
  cached: { json: string; refreshedAt: number } | undefined;
  readCached() {
    return this.cached;
  }
  fetchTrustedRoot(): Promise<string> {
    this.calls++;
    const answer = this.answers.shift() ?? new Error('no answer scripted');
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', { write: (text: string) => lines.push(JSON.parse(text) as Record<string, unknown>) });
  return { logger, lines };
}

/** Runs the due timer and lets the refresh it starts settle. */
async function tick(clock: TestClock): Promise<void> {
  assert.ok(clock.next(), 'a refresh is scheduled');
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('public-good root kept current', () => {
  const pkiA = createTestPki();
  const pkiB = createTestPki();

  it('starts from the embedded root, refreshes in the background only after start(), and swaps in a new root', async () => {
    const clock = new TestClock();
    const fetcher = new ScriptedFetcher();
    const root = new PublicGoodRoot({ settings, fetcher, timers: clock });
    assert.equal(root.current(), publicGoodTrustedRoot());
    assert.equal(root.status().source, 'embedded');
    assert.ok((root.status().asOf ?? Number.POSITIVE_INFINITY) < Date.now(), 'an embedded root is dated by its newest validity start');
    assert.deepEqual(clock.pending, [], 'nothing before start()');
    root.start();
    root.start();
    assert.deepEqual(clock.pending, [0], 'one refresh, right after startup, never during it');
    assert.equal(fetcher.calls, 0);
    fetcher.answers.push(pkiA.trustedRootJson());
    await tick(clock);
    assert.equal(fetcher.calls, 1);
    assert.equal(root.current().root.certificateAuthorities[0]?.uri, 'https://fulcio.modelgate.test');
    assert.deepEqual(root.status(), {
      name: PUBLIC_GOOD,
      source: 'tuf',
      fingerprint: root.current().fingerprint,
      asOf: clock.now(),
      refresh: 'tuf',
      failures: 0,
      lastError: undefined,
    });
    assert.deepEqual(clock.pending, [HOUR]);
    // The same document again: the same object, so snapshots and cache keys stay.
    const before = root.current();
    fetcher.answers.push(pkiA.trustedRootJson());
    await tick(clock);
    assert.equal(root.current(), before);
    await root.close();
    assert.deepEqual(clock.pending, []);
  });

  it('keeps the last good root through failures, warns once per streak, backs off and says when it works again', async () => {
    const clock = new TestClock();
    const fetcher = new ScriptedFetcher();
    const { logger, lines } = capturingLogger();
    const interval = 10 * 60_000;
    const root = new PublicGoodRoot({ settings: { ...settings, refreshIntervalMs: interval }, fetcher, logger, timers: clock });
    root.start();
    fetcher.answers.push(pkiA.trustedRootJson());
    await tick(clock);
    const good = root.current();
    fetcher.answers.push(new Error('getaddrinfo ENOTFOUND tuf.test'), new Error('timeout'), '{"not": "a trusted root"}', new Error('x'), new Error('y'));
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await tick(clock);
      delays.push(clock.pending[0] ?? -1);
      assert.equal(root.current(), good);
    }
    assert.deepEqual(delays, [FIRST_RETRY_MS, 2 * FIRST_RETRY_MS, 4 * FIRST_RETRY_MS, 8 * FIRST_RETRY_MS, 16 * FIRST_RETRY_MS]);
    const status = root.status();
    assert.equal(status.failures, 5);
    assert.equal(status.source, 'tuf');
    assert.equal(status.lastError, 'y');
    const warnings = lines.filter((line) => line['level'] === 40);
    assert.equal(warnings.length, 1, 'one warning for the streak');
    assert.equal(warnings[0]?.['err'], 'getaddrinfo ENOTFOUND tuf.test');
    assert.equal(lines.filter((line) => line['msg'] === 'public-good trusted root refresh failed again').length, 4);
    // A document that is not a trusted root counts as a failure too.
    fetcher.answers.push(new Error('z'));
    await tick(clock);
    assert.equal(clock.pending[0], interval, 'the backoff never exceeds the refresh interval');
    fetcher.answers.push(pkiB.trustedRootJson());
    await tick(clock);
    assert.notEqual(root.current(), good);
    assert.equal(root.status().failures, 0);
    assert.ok(lines.some((line) => line['msg'] === 'public-good trusted root refresh works again' && line['failures'] === 6));
    assert.ok(lines.some((line) => line['msg'] === 'public-good trusted root updated'));
    await root.close();
  });

  it('offline: never asks the fetcher, never schedules anything', async () => {
    const clock = new TestClock();
    const fetcher = new ScriptedFetcher();
    fetcher.cached = { json: pkiA.trustedRootJson(), refreshedAt: 5 };
    const root = new PublicGoodRoot({ settings: toPublicGoodSettings({ refresh: 'offline' }), fetcher, timers: clock });
    root.start();
    assert.deepEqual(clock.pending, []);
    assert.equal(await root.refreshNow(), false);
    assert.equal(fetcher.calls, 0);
    assert.equal(root.current(), publicGoodTrustedRoot(), 'not even the cache: offline is the embedded root');
    assert.equal(root.status().refresh, 'offline');
  });

  it('starts from the cached root of an earlier refresh; a broken cache falls back to the embedded root', () => {
    const fetcher = new ScriptedFetcher();
    fetcher.cached = { json: pkiA.trustedRootJson(), refreshedAt: 1234 };
    const cached = new PublicGoodRoot({ settings, fetcher });
    assert.equal(cached.status().source, 'cache');
    assert.equal(cached.status().asOf, 1234);
    assert.equal(cached.current().root.certificateAuthorities[0]?.uri, 'https://fulcio.modelgate.test');
    fetcher.cached = { json: '{"mediaType": "nope"}', refreshedAt: 1 };
    const { logger, lines } = capturingLogger();
    const broken = new PublicGoodRoot({ settings, fetcher, logger });
    assert.equal(broken.status().source, 'embedded');
    assert.match(String(lines[0]?.['msg']), /cached public-good trusted root is not usable/);
  });

  it('TrustedRoots: a snapshot per root, and a Config public-good entry wins over the live one', async () => {
    const clock = new TestClock();
    const fetcher = new ScriptedFetcher();
    const live = new PublicGoodRoot({ settings, fetcher, timers: clock });
    const roots = TrustedRoots.fromSettings([], live);
    assert.equal(roots.livePublicGood, true);
    const first = roots.current();
    assert.equal(roots.current(), first, 'the same snapshot while the root stays');
    assert.equal(first.get(PUBLIC_GOOD), publicGoodTrustedRoot());
    live.start();
    fetcher.answers.push(pkiA.trustedRootJson());
    await tick(clock);
    const second = roots.current();
    assert.notEqual(second, first);
    assert.equal(first.get(PUBLIC_GOOD), publicGoodTrustedRoot(), 'an old snapshot keeps its root');
    assert.equal(second.get(PUBLIC_GOOD), live.current());
    assert.notEqual(second.fingerprint(PUBLIC_GOOD), first.fingerprint(PUBLIC_GOOD));
    const fixed = TrustedRoots.fromSettings([{ name: PUBLIC_GOOD, json: pkiB.trustedRootJson() }], live);
    assert.equal(fixed.livePublicGood, false);
    assert.equal(fixed.current().get(PUBLIC_GOOD).fingerprint, fixed.get(PUBLIC_GOOD).fingerprint);
    assert.notEqual(fixed.get(PUBLIC_GOOD), live.current());
    await live.close();
  });

  it('the signature cache does not reuse a verdict across a root rotation', async () => {
    const clock = new TestClock();
    const fetcher = new ScriptedFetcher();
    const live = new PublicGoodRoot({ settings, fetcher, timers: clock });
    live.start();
    fetcher.answers.push(pkiA.trustedRootJson());
    await tick(clock);
    const registry = new FakeRegistry();
    const digest = registry.pushArtifact();
    const leaf = pkiB.issueLeaf({ uri: 'https://github.com/acme/models/.github/workflows/release.yml@refs/tags/v1', ctLog: pkiA.ctLog });
    registry.attachBundle(digest, bundleSignature({ kind: 'keyless', leaf }, cosignStatement(digest), { rekor: pkiA.rekor }));
    const verifier = new CachedSignatureVerifier(registry, TrustedRoots.fromSettings([], live), DEFAULT_DISCOVERY_LIMITS);
    const policy = toSignaturePolicy({
      authorities: [
        { name: 'ci', keyless: { identities: [{ issuer: 'https://token.actions.githubusercontent.com', subjectRegExp: '^https://github\\.com/acme/' }] } },
      ],
    });
    const locator = { registry: 'registry.test', repository: 'acme/model' };
    const deadline = Date.now() + 10_000;
    const before = await verifier.verify(policy, locator, digest, deadline);
    assert.equal(before.passed, false, 'CA B is not in root A');
    assert.equal(await verifier.verify(policy, locator, digest, deadline), before, 'cached while the root stays');
    assert.deepEqual(verifier.stats, { hits: 1, misses: 1 });
    fetcher.answers.push(pkiB.trustedRootJson({ rekor: pkiA.rekor, ctLog: pkiA.ctLog }));
    await tick(clock);
    const after = await verifier.verify(policy, locator, digest, deadline);
    assert.equal(after.passed, true, after.summary);
    assert.deepEqual(verifier.stats, { hits: 1, misses: 2 });
    await live.close();
  });
});

describe('spec.publicGood settings', () => {
  it('defaults to a TUF refresh from Sigstore, hourly; a mirror the Config names may be internal', () => {
    assert.deepEqual(toPublicGoodSettings(undefined), {
      refresh: 'tuf',
      tufMirror: 'https://tuf-repo-cdn.sigstore.dev',
      mirrorConfigured: false,
      tufRoot: undefined,
      refreshIntervalMs: 3_600_000,
    });
    const mirror = toPublicGoodSettings({ tufMirror: 'http://tuf.corp.internal:8080/sigstore/', refreshIntervalSeconds: 60 });
    assert.equal(mirror.tufMirror, 'http://tuf.corp.internal:8080/sigstore');
    assert.equal(mirror.mirrorConfigured, true);
    assert.equal(mirror.refreshIntervalMs, 60_000);
    assert.equal(toPublicGoodSettings({ tufMirror: 'https://tuf-repo-cdn.sigstore.dev/' }).mirrorConfigured, false);
  });
});
