/**
 * Globs: matching takes time linear in pattern × text whatever a tenant
 * writes (issue 9: `**a**a**a**a**a**a**b` held the event loop for 90 s), and
 * gives the answers the documented semantics give, checked against a
 * deliberately naive backtracking matcher written from the documentation
 * (src/core/glob.ts), on inputs short enough for it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileGlob, matchesGlob } from '../../src/core/glob.ts';
import type { GlobKind } from '../../src/core/glob.ts';
import { fuzzParameters } from './lib/settings.ts';

// ---- the reference matcher ----------------------------------------------------------------

/** Matches one `/`-free piece of a path glob: `*` any run without `/` (so does `**` here), `?` one character but `/`. */
function matchSegmentChars(pattern: string, text: string): boolean {
  if (pattern === '') return text === '';
  const head = pattern[0] as string;
  if (head === '*') {
    const rest = pattern.replace(/^\*+/, '');
    for (let take = 0; take <= text.length; take++) if (matchSegmentChars(rest, text.slice(take))) return true;
    return false;
  }
  if (text === '') return false;
  if (head === '?' || head === text[0]) return matchSegmentChars(pattern.slice(1), text.slice(1));
  return false;
}

/** Path globs, segment by segment: a whole-segment `**` matches zero or more segments, any other segment exactly one. */
function referencePathMatch(pattern: string, text: string): boolean {
  const patterns = pattern.split('/');
  const texts = text.split('/');
  const from = (p: number, t: number): boolean => {
    if (p === patterns.length) return t === texts.length;
    if (patterns[p] === '**') {
      for (let skip = t; skip <= texts.length; skip++) if (from(p + 1, skip)) return true;
      return false;
    }
    return t < texts.length && matchSegmentChars(patterns[p] as string, texts[t] as string) && from(p + 1, t + 1);
  };
  return from(0, 0);
}

const isLabelChar = (char: string): boolean => char !== '.' && char !== ':' && char !== '/';
const isLabelsChar = (char: string): boolean => char !== ':' && char !== '/';

/** Host globs: the pattern in lower case; `*` any run inside one label, `**` (or more stars) any run crossing `.`, `?` one label character. */
function referenceHostMatch(pattern: string, text: string): boolean {
  const lower = pattern.toLowerCase();
  const from = (p: number, t: number): boolean => {
    if (p === lower.length) return t === text.length;
    if (lower[p] === '*') {
      let end = p;
      while (lower[end] === '*') end++;
      const allowed = end - p >= 2 ? isLabelsChar : isLabelChar;
      for (let take = t; ; take++) {
        if (from(end, take)) return true;
        if (take === text.length || !allowed(text[take] as string)) return false;
      }
    }
    if (t === text.length) return false;
    if (lower[p] === '?') return isLabelChar(text[t] as string) && from(p + 1, t + 1);
    return lower[p] === text[t] && from(p + 1, t + 1);
  };
  return from(0, 0);
}

const referenceMatch = (pattern: string, text: string, kind: GlobKind): boolean =>
  kind === 'path' ? referencePathMatch(pattern, text) : referenceHostMatch(pattern, text);

// ---- properties -----------------------------------------------------------------------------

const patternText = fc.string({ unit: fc.constantFrom('a', 'b', 'A', '/', '.', ':', '*', '*', '?'), maxLength: 12 });
const subjectText = fc.string({ unit: fc.constantFrom('a', 'b', 'A', '/', '.', ':', '*', '?'), maxLength: 12 });

/** Texts built from the pattern (stars and marks replaced), so that matches are common, not rare. */
const nearText = (pattern: string): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom('', 'a', 'b', '/', '.', 'a/b', 'a.b', ':'), { minLength: pattern.length, maxLength: pattern.length }).map((fill) =>
    [...pattern]
      .map((char, index) => (char === '*' || char === '?' ? (fill[index] as string) : char.toLowerCase()))
      .join('')
      .slice(0, 12),
  );

/** Adversarial patterns of up to 255 characters, and texts that almost match them. */
const ADVERSARIAL: readonly [string, string][] = [
  ['**a**a**a**a**a**a**b', 'a'.repeat(255)],
  ['*a*a*a*a*a*a*a*b', 'a'.repeat(255)],
  ['**/a/**/a/**/a/**/a/**/a/**/b', 'a/'.repeat(127)],
  [`${'*a'.repeat(127)}b`, 'a'.repeat(255)],
  [`${'**a'.repeat(85)}`, `${'a'.repeat(254)}b`],
  [`${'?*'.repeat(127)}b`, 'a'.repeat(255)],
  [`${'**/'.repeat(85)}b`, 'a/'.repeat(127)],
  [`${'a*'.repeat(127)}b`, 'a'.repeat(255)],
  [`${'*.'.repeat(127)}b`, 'a.'.repeat(127)],
  [`${'**.'.repeat(85)}b`, 'a.'.repeat(127)],
];

describe('globs', () => {
  it('match in linear time: adversarial 255-character patterns against 255-character texts', (t) => {
    let slowest = 0;
    let slowestCase = '';
    let matches = 0;
    const time = (pattern: string, text: string, kind: GlobKind): void => {
      const started = process.hrtime.bigint();
      // Compiled each time: what a new namespaced policy costs, not only what a cached one does.
      if (compileGlob(pattern, kind).test(text)) matches++;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (ms > slowest) {
        slowest = ms;
        slowestCase = `${kind} ${pattern.slice(0, 30)}… (${pattern.length}) vs ${text.slice(0, 20)}… (${text.length})`;
      }
    };
    for (const kind of ['path', 'host'] as const) {
      for (const [pattern, text] of ADVERSARIAL) for (let round = 0; round < 5; round++) time(pattern, text, kind);
    }
    // And random ones: stars, marks and letters in every arrangement, 255 characters each.
    const long = fc.tuple(
      fc.string({ unit: fc.constantFrom('*', '*', '*', 'a', '?', '/', '.', 'b'), minLength: 200, maxLength: 255 }),
      fc.string({ unit: fc.constantFrom('a', 'a', 'a', '/', '.', 'b'), minLength: 200, maxLength: 255 }),
      fc.constantFrom<GlobKind>('path', 'host'),
    );
    for (const [pattern, text, kind] of fc.sample(long, { seed: 5101, numRuns: 400 })) time(pattern, text, kind);
    t.diagnostic(`slowest match ${slowest.toFixed(2)} ms: ${slowestCase}; ${matches} matched`);
    assert.ok(slowest < 100, `a glob match took ${slowest.toFixed(1)} ms (${slowestCase}); it must stay far under 50 ms`);
  });

  for (const kind of ['path', 'host'] as const) {
    it(`${kind} globs agree with a backtracking matcher of the documented semantics (fixed seed)`, (t) => {
      let matched = 0;
      let runs = 0;
      fc.assert(
        fc.property(
          patternText.chain((pattern) => fc.tuple(fc.constant(pattern), fc.oneof(subjectText, nearText(pattern)))),
          ([pattern, text]) => {
            runs++;
            const expected = referenceMatch(pattern, text, kind);
            if (expected) matched++;
            assert.equal(matchesGlob(pattern, text, kind), expected, `${kind} glob ${JSON.stringify(pattern)} on ${JSON.stringify(text)}`);
          },
        ),
        fuzzParameters(kind === 'path' ? 5201 : 5202, 50000),
      );
      t.diagnostic(`${kind}: ${runs} pairs, ${matched} matches`);
      assert.ok(matched >= runs / 10, `too few matching pairs to compare (${matched} of ${runs})`);
    });
  }

  it('consecutive ** segments match as one does: a/**/** matches a, as a/** does (found by the differential)', () => {
    for (const [pattern, text] of [
      ['a/**/**', 'a'],
      ['*/**/**', ''],
      ['a/**/**/**', 'a'],
    ] as const) {
      assert.equal(referenceMatch(pattern, text, 'path'), true, `reference matcher: ${pattern} on ${text}`);
      assert.equal(matchesGlob(pattern.replace(/(\/\*\*)+$/, '/**'), text, 'path'), true, `${pattern} without the repeats on ${JSON.stringify(text)}`);
      assert.equal(matchesGlob(pattern, text, 'path'), true, `${pattern} on ${JSON.stringify(text)}`);
    }
  });

  it('the documented examples', () => {
    const cases: [string, string, GlobKind, boolean][] = [
      ['a/**', 'a', 'path', true],
      ['a/**', 'a/b/c', 'path', true],
      ['a/**', 'ab', 'path', false],
      ['**/b', 'b', 'path', true],
      ['**/b', 'x/y/b', 'path', true],
      ['**', 'x/y', 'path', true],
      ['a/*', 'a/b/c', 'path', false],
      ['x**y', 'x/y', 'path', false],
      ['x**y', 'xay', 'path', true],
      ['*.corp.example', 'a.corp.example', 'host', true],
      ['*.corp.example', 'a.b.corp.example', 'host', false],
      ['**.corp.example', 'a.b.corp.example', 'host', true],
      ['*.corp.example', 'a.corp.example:5000', 'host', false],
      ['*.corp.example:*', 'a.corp.example:5000', 'host', true],
      ['GHCR.IO', 'ghcr.io', 'host', true],
    ];
    for (const [pattern, text, kind, expected] of cases) {
      assert.equal(referenceMatch(pattern, text, kind), expected, `reference matcher: ${kind} ${pattern} on ${text}`);
      assert.equal(matchesGlob(pattern, text, kind), expected, `${kind} ${pattern} on ${text}`);
    }
  });
});
