/**
 * The file-watch utility on a test clock, with contents read from memory: the poll and the
 * debounce decide when a read happens, the fingerprint whether it is a change. (The policy
 * files' and the TLS pair's tests cover real files and their watch events.)
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { watchFiles } from '../../../src/core/file-watch.ts';
import type { FileWatchOptions } from '../../../src/core/file-watch.ts';
import { TestClock } from '../../support/clock.ts';

describe('watchFiles', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-file-watch-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  function setup(overrides: Partial<FileWatchOptions<string>> = {}) {
    const clock = new TestClock();
    const state = { contents: 'one', reads: 0, changes: [] as string[], errors: [] as unknown[] };
    const watch = watchFiles<string>({
      paths: [join(dir, 'file')],
      debounceMs: 100,
      pollMs: 1000,
      read: () => {
        state.reads++;
        return state.contents;
      },
      fingerprint: (contents) => contents,
      initial: 'one',
      onChange: (contents) => state.changes.push(contents),
      onError: (error) => state.errors.push(error),
      timers: clock,
      ...overrides,
    });
    return { clock, state, watch };
  }

  /** Lets the read started by a timer finish. */
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('reads a debounce after each poll, and reports only contents unlike the last seen', async () => {
    const { clock, state, watch } = setup();
    try {
      assert.deepEqual(clock.pending, [1000]);
      clock.advance(1000);
      assert.equal(state.reads, 0, 'the poll only starts the debounce');
      clock.advance(100);
      await settle();
      assert.equal(state.reads, 1);
      assert.deepEqual(state.changes, [], 'the initial contents are no change');

      state.contents = 'two';
      clock.advance(1100);
      await settle();
      assert.deepEqual(state.changes, ['two']);
      clock.advance(1100);
      await settle();
      assert.equal(state.reads, 3);
      assert.deepEqual(state.changes, ['two'], 'reported once');
    } finally {
      watch.close();
    }
    assert.deepEqual(clock.pending, [], 'close() leaves no timer');
    await watch.check();
    assert.equal(state.reads, 3, 'nothing is read after close()');
  });

  it('a read or a change that fails goes to onError, and the contents count as not seen', async () => {
    let refuse = true;
    const { state, watch } = setup({
      onChange: (contents) => {
        if (refuse) throw new Error(`refused ${contents}`);
        state.changes.push(contents);
      },
    });
    try {
      state.contents = 'two';
      await watch.check();
      assert.deepEqual(
        state.errors.map((error) => (error as Error).message),
        ['refused two'],
      );
      refuse = false;
      await watch.check();
      assert.deepEqual(state.changes, ['two']);
    } finally {
      watch.close();
    }

    const unreadable = setup({
      read: () => {
        throw new Error('EACCES');
      },
    });
    await unreadable.watch.check();
    unreadable.watch.close();
    assert.deepEqual(
      unreadable.state.errors.map((error) => (error as Error).message),
      ['EACCES'],
    );
  });

  it('a check during a read reads once more after it, not at the same time', async () => {
    let inFlight = 0;
    let most = 0;
    const { state, watch } = setup({
      read: async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        state.reads++;
        await settle();
        inFlight--;
        return state.contents;
      },
    });
    try {
      const first = watch.check();
      state.contents = 'two';
      await Promise.all([watch.check(), watch.check(), first]);
      assert.equal(most, 1);
      assert.equal(state.reads, 2);
      assert.deepEqual(state.changes, ['two']);
    } finally {
      watch.close();
    }
  });
});
