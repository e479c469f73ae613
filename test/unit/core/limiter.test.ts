/** The one limiter of registry requests and answer bytes (issue 9): bounds, order, deadlines. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimitWaitError, Limiter } from '../../../src/core/limiter.ts';

const soon = (ms = 1_000): { deadline: number } => ({ deadline: Date.now() + ms });

describe('Limiter', () => {
  it('grants at once while there is room, in all and per key', async () => {
    const limiter = new Limiter(3, 2);
    const releases = [await limiter.acquire('a', soon()), await limiter.acquire('a', soon()), await limiter.acquire('b', soon())];
    assert.equal(limiter.inUse, 3);
    let granted = false;
    const waiting = limiter.acquire('b', soon()).then((release) => {
      granted = true;
      return release;
    });
    await Promise.resolve();
    assert.equal(granted, false);
    releases[0]?.();
    (await waiting)();
    assert.equal(granted, true);
  });

  it('a key at its cap does not hold up waiters for other keys', async () => {
    const limiter = new Limiter(4, 1);
    const held = await limiter.acquire('busy', soon());
    const blocked = limiter.acquire('busy', soon(200));
    const other = await limiter.acquire('free', soon());
    other();
    await assert.rejects(blocked, (error: unknown) => error instanceof LimitWaitError && !error.aborted && /before the deadline/.test(error.message));
    held();
    assert.equal(limiter.inUse, 0);
    assert.equal(limiter.waiting, 0);
  });

  it('weights: a large request waits for room, a release lets it in, the deadline or a signal ends the wait', async () => {
    const limiter = new Limiter(10, Number.POSITIVE_INFINITY, 'bytes');
    const small = await limiter.acquire('', soon(), 6);
    const large = limiter.acquire('', soon(), 8);
    small();
    (await large)();
    const controller = new AbortController();
    const hold = await limiter.acquire('', soon(), 10);
    const cancelled = limiter.acquire('', { deadline: Date.now() + 5_000, signal: controller.signal }, 1);
    controller.abort();
    await assert.rejects(cancelled, (error: unknown) => error instanceof LimitWaitError && error.aborted);
    hold();
    // A weight above the capacity is the whole capacity, not a wait forever.
    (await limiter.acquire('', soon(), 1_000))();
  });

  it('a large request waiting for room is not starved by small ones that arrive after it', async () => {
    const limiter = new Limiter(10, Number.POSITIVE_INFINITY);
    const first = await limiter.acquire('', soon(), 5);
    const order: string[] = [];
    const large = limiter.acquire('', soon(), 8).then((release) => {
      order.push('large');
      return release;
    });
    const small = limiter.acquire('', soon(), 2).then((release) => {
      order.push('small');
      return release;
    });
    await Promise.resolve();
    assert.deepEqual(order, [], 'the small one fits, but waits behind the large one');
    first();
    (await large)();
    (await small)();
    assert.deepEqual(order, ['large', 'small']);
  });

  it('never lets more than its capacity run, however many ask at once', async () => {
    const limiter = new Limiter(5, 5);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const release = await limiter.acquire('', soon(10_000));
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 1));
        running--;
        release();
      }),
    );
    assert.equal(most, 5);
  });
});
