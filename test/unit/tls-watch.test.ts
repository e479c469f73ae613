/**
 * The serving key pair followed on disk, on a test clock: a half-rotated pair (new
 * certificate, old key) is refused and the old pair stays; the complete new pair is applied
 * once. server.test.ts proves the same through a live HTTPS server.
 */
import assert from 'node:assert/strict';
import { copyFile, readFile, rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/core/log.ts';
import { readKeyPair, watchKeyPair } from '../../src/server/tls.ts';
import type { KeyPair } from '../../src/server/tls.ts';
import { TestClock } from '../support/clock.ts';
import { makeCerts } from '../support/webhook-server.ts';

describe('TLS key pair watch', () => {
  it('keeps the old pair while the files disagree, then applies the new pair once', async () => {
    const [current, next] = await Promise.all([makeCerts(), makeCerts()]);
    const certPath = `${current.dir}/tls.crt`;
    const keyPath = `${current.dir}/tls.key`;
    const messages: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') messages.push(String((JSON.parse(line) as { msg: unknown }).msg));
        callback();
      },
    });
    const clock = new TestClock();
    const applied: KeyPair[] = [];
    const watcher = watchKeyPair(certPath, keyPath, readKeyPair(certPath, keyPath), (pair) => applied.push(pair), createLogger('info', sink), 10_000, clock);
    /** A poll, its debounce, and the read they start. */
    const poll = async (): Promise<void> => {
      clock.advance(10_000 + 100);
      await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      await poll();
      assert.equal(applied.length, 0, 'unchanged files are not applied');

      await copyFile(`${next.dir}/tls.crt`, certPath);
      await poll();
      assert.equal(applied.length, 0);
      // Once per read (the poll's, and a watch event's when it came before the clock moved).
      assert.ok(messages.length > 0);
      assert.deepEqual(new Set(messages), new Set(['TLS key pair not reloaded; still serving the previous one']));

      await copyFile(`${next.dir}/tls.key`, keyPath);
      await poll();
      await poll();
      assert.equal(applied.length, 1);
      assert.deepEqual(applied[0]?.cert, await readFile(`${next.dir}/tls.crt`));
      assert.equal(messages.at(-1), 'TLS key pair reloaded');
    } finally {
      watcher.close();
      await Promise.all([rm(current.dir, { recursive: true, force: true }), rm(next.dir, { recursive: true, force: true })]);
    }
    assert.deepEqual(clock.pending, [], 'close() leaves no timer');
  });
});
