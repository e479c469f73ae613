/**
 * Self-managed TLS: the certificates (checked by openssl), the renewal policy on a
 * clock (renewal from the same CA, CA rollover with old and new in the bundle, expired
 * CAs dropped, changed names), and two replicas racing over one Secret.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { StoredSecret, WriteResult } from '../../src/kube/tls-objects.ts';
import { serialNumber } from '../../src/server/self-tls/certificates.ts';
import { SelfManagedTls } from '../../src/server/self-tls/manager.ts';
import { materialData, readMaterial, renew, splitPem } from '../../src/server/self-tls/material.ts';
import type { TlsMaterial, TlsSettings } from '../../src/server/self-tls/material.ts';
import { createLogger } from '../../src/core/log.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SETTINGS: TlsSettings = {
  names: ['modelgate.modelgate.svc', '127.0.0.1'],
  certValidityMs: 90 * DAY,
  certRenewBeforeMs: 30 * DAY,
  caValidityMs: 365 * DAY,
  caRenewBeforeMs: 100 * DAY,
  caPropagationMs: 60_000,
};
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const dir = mkdtempSync(join(tmpdir(), 'modelgate-self-tls-'));

/** openssl's own verdict on the serving certificate against a CA bundle, at a time. */
function opensslVerifies(material: TlsMaterial, when: Date, bundle: readonly string[] = material.cas): boolean {
  writeFileSync(join(dir, 'bundle.pem'), bundle.join(''));
  writeFileSync(join(dir, 'leaf.pem'), material.cert);
  try {
    execFileSync(
      'openssl',
      ['verify', '-purpose', 'sslserver', '-attime', String(Math.floor(when.getTime() / 1000)), '-CAfile', join(dir, 'bundle.pem'), join(dir, 'leaf.pem')],
      { stdio: 'pipe' },
    );
    return true;
  } catch {
    return false;
  }
}

const issuerIndex = (material: TlsMaterial): number =>
  material.cas.findIndex((ca) => new X509Certificate(material.cert).verify(new X509Certificate(ca).publicKey));

describe('self-managed TLS material', () => {
  const first = renew(undefined, SETTINGS, T0, false);

  it('makes a CA and a serving certificate for the names that openssl verifies, and reads them back', () => {
    assert.deepEqual(first.changes, ['created a CA and a serving certificate']);
    assert.equal(first.material.cas.length, 1);
    const cert = new X509Certificate(first.material.cert);
    assert.equal(cert.subjectAltName, 'DNS:modelgate.modelgate.svc, IP Address:127.0.0.1');
    assert.equal(new X509Certificate(first.material.cas[0] as string).ca, true);
    assert.ok(opensslVerifies(first.material, at(HOUR)));
    assert.ok(!opensslVerifies(first.material, at(91 * DAY)), 'expired after its validity');
    const read = readMaterial(materialData(first.material), String(first.material.caSince));
    assert.deepEqual(read, first.material);
    assert.deepEqual(renew(read, SETTINGS, at(HOUR), true).changes, []);
  });

  it('refuses material that does not fit together', () => {
    const data = materialData(first.material);
    const other = renew(undefined, SETTINGS, T0, false).material;
    assert.equal(readMaterial({ ...data, 'tls.key': other.key }, undefined), undefined);
    assert.equal(readMaterial({ ...data, 'ca.key': other.caKey }, undefined), undefined);
    assert.equal(readMaterial({ ...data, 'ca.crt': 'garbage' }, undefined), undefined);
    assert.equal(readMaterial({}, undefined), undefined);
  });

  it('renews the serving certificate from the same CA when due, once the webhooks hold the CA', () => {
    const due = at(61 * DAY);
    assert.deepEqual(renew(first.material, SETTINGS, due, false).changes, [], 'waits for the caBundle while the pair still works');
    const renewed = renew(first.material, SETTINGS, due, true);
    assert.deepEqual(renewed.changes, ['issued a serving certificate (it is due for renewal)']);
    assert.deepEqual(renewed.material.cas, first.material.cas);
    assert.notEqual(renewed.material.cert, first.material.cert);
    assert.ok(opensslVerifies(renewed.material, at(120 * DAY)));
    // Expired: reissued even without the caBundle confirmed (nothing else could be served).
    assert.deepEqual(renew(first.material, SETTINGS, at(91 * DAY), false).changes, ['issued a serving certificate (it expired)']);
  });

  it('rolls the CA over: new and old CA in the bundle, the serving certificate moves to the new CA after propagation', () => {
    let material = first.material;
    const rollover = at(270 * DAY);
    const rolled = renew({ ...material, cert: renew(material, SETTINGS, at(250 * DAY), true).material.cert }, SETTINGS, rollover, true);
    assert.ok(rolled.changes.includes('made a new CA; the old one stays in the caBundle until it expires'), rolled.changes.join('; '));
    material = rolled.material;
    assert.equal(material.cas.length, 2);
    assert.equal(material.cas[1], first.material.cas[0]);
    assert.equal(issuerIndex(material), 1, 'still served from the old CA: the API server may not know the new one yet');
    assert.ok(opensslVerifies(material, at(271 * DAY)));
    // Before propagation, or while the webhooks lack the bundle: nothing changes.
    assert.deepEqual(renew(material, SETTINGS, at(270 * DAY + 30_000), true).changes, []);
    assert.deepEqual(renew(material, SETTINGS, at(271 * DAY), false).changes, []);
    const moved = renew(material, SETTINGS, at(271 * DAY), true);
    assert.deepEqual(moved.changes, ['issued a serving certificate (a newer CA is in the caBundle)']);
    assert.equal(issuerIndex(moved.material), 0);
    assert.ok(opensslVerifies(moved.material, at(272 * DAY)));
    assert.ok(!opensslVerifies(moved.material, at(272 * DAY), [first.material.cas[0] as string]), 'the old CA alone does not verify it');
    // Once the old CA expires it leaves the bundle.
    const later = renew(moved.material, SETTINGS, at(366 * DAY), true);
    assert.ok(later.changes.includes('dropped 1 expired CA(s) from the caBundle'), later.changes.join('; '));
    assert.equal(later.material.cas.length, 1);
    assert.equal(splitPem(later.material.cas.join('')).length, 1);
  });

  it('reissues at once when the names change', () => {
    const renamed = renew(first.material, { ...SETTINGS, names: ['other.modelgate.svc'] }, at(HOUR), false);
    assert.deepEqual(renamed.changes, ['issued a serving certificate (its names changed)']);
    assert.equal(new X509Certificate(renamed.material.cert).subjectAltName, 'DNS:other.modelgate.svc');
  });

  it('keeps a certificate whose IPv6 names Node writes expanded (::1 as 0:0:0:0:0:0:0:1), and reissues when one is missing', () => {
    const names = ['modelgate.modelgate.svc', '::1', 'fd00::a', '10.0.0.1'];
    const issued = renew(undefined, { ...SETTINGS, names }, at(0), false);
    assert.match(new X509Certificate(issued.material.cert).subjectAltName ?? '', /IP Address:0:0:0:0:0:0:0:1/);
    assert.deepEqual(renew(issued.material, { ...SETTINGS, names }, at(HOUR), true).changes, [], 'the same names: nothing to do');
    const more = renew(issued.material, { ...SETTINGS, names: [...names, 'fd00::b'] }, at(HOUR), true);
    assert.deepEqual(more.changes, ['issued a serving certificate (its names changed)']);
  });

  it('makes serial numbers minimal positive DER whatever the random bytes (a first byte 0 then one under 0x80 is refused by OpenSSL)', () => {
    for (let first = 0; first < 256; first++) {
      const random = Buffer.from([first, 0x05, ...Array.from({ length: 14 }, (_, i) => i)]);
      const serial = serialNumber(random);
      assert.ok((serial[0] as number) >= 0x40 && (serial[0] as number) <= 0x7f, `first byte ${first} → ${serial[0]}`);
      assert.deepEqual(serial.subarray(1), random.subarray(1));
    }
  });
});

/** One Secret with the API server's optimistic concurrency; `beforeWrite` lets a test interleave. */
class FakeSecretStore {
  version = 0;
  data: Record<string, string> | undefined;
  annotations: Record<string, string> = {};
  writes = 0;
  conflicts = 0;
  bundle = '';
  beforeWrite: (() => Promise<void>) | undefined;
  for(): ConstructorParameters<typeof SelfManagedTls>[0]['objects'] {
    return {
      where: 'Secret test/tls',
      read: async (): Promise<StoredSecret | undefined> =>
        this.data === undefined
          ? undefined
          : { data: { ...this.data }, annotations: { ...this.annotations }, object: { metadata: { resourceVersion: String(this.version) } } },
      write: async (previous, data, annotations): Promise<WriteResult> => {
        const hook = this.beforeWrite;
        this.beforeWrite = undefined;
        await hook?.();
        const expected = previous === undefined ? undefined : Number(previous.object.metadata?.resourceVersion);
        if ((previous === undefined && this.data !== undefined) || (expected !== undefined && expected !== this.version)) {
          this.conflicts++;
          return 'conflict';
        }
        this.data = { ...data };
        this.annotations = { ...annotations };
        this.version++;
        this.writes++;
        return 'written';
      },
      syncCaBundle: async (bundle) => {
        const changed = this.bundle === bundle ? [] : ['modelgate'];
        this.bundle = bundle;
        return { changed, missing: [] };
      },
    };
  }
}

const quiet = createLogger('silent');

describe('self-managed TLS: replicas sharing one Secret', () => {
  it('two replicas starting together: one creates, the other reads and serves the same pair', async () => {
    const store = new FakeSecretStore();
    const replica = (name: string) =>
      new SelfManagedTls({
        objects: store.for(),
        settings: SETTINGS,
        certPath: join(dir, `${name}.crt`),
        keyPath: join(dir, `${name}.key`),
        logger: quiet,
        intervalMs: 60_000,
        now: () => at(HOUR),
      });
    const [a, b] = [replica('a'), replica('b')];
    // Forced interleaving: b reads (nothing there) and makes its own material, then a creates first.
    store.beforeWrite = async () => {
      await a.sync();
    };
    await b.sync();
    assert.equal(store.writes, 1, 'one Secret written');
    assert.equal(store.conflicts, 1, "b's create lost");
    assert.equal(readFileSync(join(dir, 'a.crt'), 'utf8'), readFileSync(join(dir, 'b.crt'), 'utf8'));
    assert.equal(readFileSync(join(dir, 'b.key'), 'utf8'), store.data?.['tls.key']);
    assert.equal(store.bundle, store.data?.['ca.crt']);
  });
});
