import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruCache } from '../../src/core/lru.ts';
import { SingleFlight } from '../../src/core/single-flight.ts';

describe('LruCache', () => {
  it('evicts the least recently used entry when over the entry bound', () => {
    const cache = new LruCache<string, number>({ maxEntries: 4, maxBytes: 1000 });
    for (const [index, key] of ['a', 'b', 'c', 'd'].entries()) cache.set(key, index, 1);
    // 'a' is the oldest and in the older half: a hit moves it to the back.
    assert.equal(cache.get('a'), 0);
    cache.set('e', 4, 1);
    assert.equal(cache.get('b'), undefined, 'b was the least recently used');
    assert.deepEqual(
      ['a', 'c', 'd', 'e'].map((key) => cache.get(key)),
      [0, 2, 3, 4],
    );
    assert.equal(cache.size, 4);
  });

  it('keeps frequently read entries through a stream of new ones', () => {
    const cache = new LruCache<number, number>({ maxEntries: 100, maxBytes: 1_000_000 });
    cache.set(-1, -1, 1);
    for (let i = 0; i < 10_000; i++) {
      cache.set(i, i, 1);
      assert.equal(cache.get(-1), -1, `the hot entry was evicted after ${i} insertions`);
    }
    assert.equal(cache.size, 100);
  });

  it('is bounded in bytes too, and refuses a single entry larger than the bound', () => {
    const cache = new LruCache<string, string>({ maxEntries: 100, maxBytes: 10 });
    cache.set('a', 'x', 4);
    cache.set('b', 'y', 4);
    cache.set('c', 'z', 4);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.bytes, 8);
    cache.set('huge', 'w', 11);
    assert.equal(cache.get('huge'), undefined);
    assert.equal(cache.bytes, 8);
  });

  it('expires entries with a time to live, and replaces a key in place', () => {
    const cache = new LruCache<string, string>({ maxEntries: 10, maxBytes: 100 });
    cache.set('k', 'v1', 1, 1000, 0);
    assert.equal(cache.get('k', 999), 'v1');
    assert.equal(cache.get('k', 1000), undefined);
    assert.equal(cache.size, 0);
    cache.set('k', 'v2', 3);
    cache.set('k', 'v3', 5);
    assert.equal(cache.get('k'), 'v3');
    assert.equal(cache.bytes, 5);
  });
});

describe('SingleFlight', () => {
  it('shares one execution among concurrent callers, then starts afresh', async () => {
    const flights = new SingleFlight<string, number>();
    let runs = 0;
    const work = async (): Promise<number> => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return runs;
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => flights.run('k', work)));
    assert.deepEqual(new Set(results), new Set([1]));
    assert.equal(runs, 1);
    assert.equal(flights.size, 0);
    assert.equal(await flights.run('k', work), 2);
  });

  it('shares a failure too, and does not keep it', async () => {
    const flights = new SingleFlight<string, number>();
    let runs = 0;
    const failing = async (): Promise<number> => {
      runs++;
      throw new Error(`failure ${runs}`);
    };
    const settled = await Promise.allSettled([flights.run('k', failing), flights.run('k', failing)]);
    assert.deepEqual(
      settled.map((result) => result.status),
      ['rejected', 'rejected'],
    );
    assert.equal(runs, 1);
    await assert.rejects(flights.run('k', failing), /failure 2/);
  });
});
