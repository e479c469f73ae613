/**
 * Policy files followed on disk (serve --policy): valid changes apply, invalid ones keep the
 * last good policy. The files and their watch events are real; the debounce and the poll run
 * on a test clock, so no step waits for a timer to fire by itself.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { createLogger } from '../../../src/core/log.ts';
import { watchPolicyFiles } from '../../../src/policy/file-watch.ts';
import type { FileReloadResult } from '../../../src/policy/file-watch.ts';
import { PolicyLoadError, loadPolicySet } from '../../../src/policy/load.ts';
import type { PolicySet } from '../../../src/policy/types.ts';
import { TestClock } from '../../support/clock.ts';

const policy = (name: string, mode: string): string =>
  `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: {mode: ${mode}}\n`;

function sink(lines: Record<string, unknown>[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
}

async function until<T>(what: string, get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('policy file watching', () => {
  it('applies a valid change, keeps the last good policy through an invalid one, and reports each once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-policy-watch-'));
    await writeFile(join(dir, 'a.yaml'), policy('a', 'enforce'));
    const initial = await loadPolicySet([dir]);
    const applied: PolicySet[] = [];
    const reloads: FileReloadResult[] = [];
    const logs: Record<string, unknown>[] = [];
    const clock = new TestClock();
    const watcher = watchPolicyFiles({
      paths: [dir],
      initial,
      onPolicySet: (set) => applied.push(set),
      onReload: (result) => reloads.push(result),
      logger: createLogger('info', sink(logs)),
      pollMs: 200,
      debounceMs: 20,
      timers: clock,
    });
    /** One poll and its debounce, on the clock. */
    const poll = (): void => clock.advance(200 + 20);
    try {
      const started = clock.now();
      await writeFile(join(dir, 'a.yaml'), policy('a', 'warn'));
      // The directory's watch event (real) starts the debounce; the clock ends it.
      await until('the watch event', () => (clock.pending.includes(20) ? true : undefined));
      clock.advance(20);
      const first = await until('the change', () => applied[0]);
      assert.equal(first.policies[0]?.mode, 'warn');
      assert.ok(clock.now() - started < 2000, `applied after ${clock.now() - started} ms`);
      assert.deepEqual(reloads, [{ ok: true, revision: first.revision, errors: [] }]);

      await writeFile(join(dir, 'b.yaml'), policy('b', 'block'));
      poll();
      const failed = await until('the failure', () => reloads[1]);
      assert.equal(failed.ok, false);
      assert.equal(failed.revision, first.revision, 'the last good revision stays');
      assert.match(failed.errors[0] ?? '', /b\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "block"/);
      const error = logs.find((line) => line['level'] === 50);
      assert.match(String(error?.['msg']), /invalid policy files; the last good policy \(revision [0-9a-f]{12}\) stays active/);
      for (let i = 0; i < 3; i++) {
        poll();
        await watcher.reload(); // the read the poll started, and one more
      }
      // A few polls: reported once.
      assert.equal(reloads.length, 2);
      assert.equal(applied.length, 1);

      // Like the kubelet's ConfigMap update: a new file moved into place.
      await writeFile(join(dir, '.b.tmp'), policy('b', 'audit'));
      await rename(join(dir, '.b.tmp'), join(dir, 'b.yaml'));
      poll();
      const fixed = await until('the fix', () => applied[1]);
      assert.deepEqual(
        fixed.policies.map((p) => [p.name, p.mode]),
        [
          ['a', 'warn'],
          ['b', 'audit'],
        ],
      );
    } finally {
      watcher.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a set the engine refuses (onPolicySet throws) is reported and the previous one stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-policy-watch-'));
    const file = join(dir, 'p.yaml');
    await writeFile(file, policy('a', 'enforce'));
    const initial = await loadPolicySet([file]);
    const reloads: FileReloadResult[] = [];
    const clock = new TestClock();
    const watcher = watchPolicyFiles({
      paths: [file],
      initial,
      onPolicySet: () => {
        throw new PolicyLoadError([{ source: '/missing/config.json', document: 0, path: 'spec.credentials.dockerConfig', message: 'cannot read: ENOENT' }]);
      },
      onReload: (result) => reloads.push(result),
      logger: createLogger('silent'),
      pollMs: 100,
      debounceMs: 10,
      timers: clock,
    });
    try {
      await writeFile(file, policy('a', 'warn'));
      clock.advance(100 + 10);
      const result = await until('the refusal', () => reloads[0]);
      assert.deepEqual(result, {
        ok: false,
        revision: initial.revision,
        errors: ['  /missing/config.json spec.credentials.dockerConfig: cannot read: ENOENT'],
      });
    } finally {
      watcher.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
