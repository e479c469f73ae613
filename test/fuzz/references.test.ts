/**
 * References, differentially against distribution/reference: what modelgate
 * accepts, the runtime parses too, as the same repository under modelgate's
 * canonical name, with the same tag and digest. Policies match that name, so
 * two spellings of one repository must never give two names (issue 9, item 5).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { InvalidReferenceError, parseReference } from '../../src/reference/parse.ts';
import type { ImageReference } from '../../src/reference/parse.ts';
import { Oracle } from './lib/oracle.ts';
import type { OracleReference } from './lib/oracle.ts';
import { REFERENCE_CORPUS, canonicalFromGo, grammarReference, knownStricterReason, randomReference } from './lib/references.ts';
import { Tally, fuzzParameters } from './lib/settings.ts';

function parseOrUndefined(input: string): ImageReference | undefined {
  try {
    return parseReference(input);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    return undefined;
  }
}

/** The property for one input; returns what happened, for the tally. */
function compare(input: string, ours: ImageReference | undefined, go: OracleReference, refusedOnlyByUs: Map<string, string[]>): string {
  if (ours === undefined) {
    if (!go.ok) return 'refused by both';
    const reason = knownStricterReason(input, go) ?? 'UNEXPLAINED';
    const list = refusedOnlyByUs.get(reason) ?? [];
    if (list.length < 5) list.push(input.length > 80 ? `${input.slice(0, 80)}…(${input.length})` : input);
    refusedOnlyByUs.set(reason, list);
    return 'refused by modelgate only';
  }
  const label = JSON.stringify(input);
  assert.ok(go.ok, `${label}: modelgate accepted it as ${ours.registry}/${ours.repository}, distribution/reference refuses it (${go.error})`);
  const expected = canonicalFromGo(go);
  assert.equal(`${ours.registry}/${ours.repository}`, `${expected.registry}/${expected.repository}`, `${label}: canonical name (Go: ${go.domain}/${go.path})`);
  assert.equal(ours.tag, go.tag === undefined || go.tag === '' ? undefined : go.tag, `${label}: tag`);
  assert.equal(ours.digest, go.digest === undefined || go.digest === '' ? undefined : go.digest, `${label}: digest`);
  // A short name is Docker Hub's for Go; a qualified one names the host Go found in it (index.docker.io Go itself rewrites).
  if (ours.qualified)
    assert.ok(input.startsWith(`${go.domain}/`) || /^index\.docker\.io\//.test(input), `${label}: qualified, but Go's registry is ${go.domain}`);
  else assert.equal(go.domain, 'docker.io', `${label}: a short name, but Go's registry is ${go.domain}`);
  return 'accepted by both';
}

function diagnoseRefusals(t: { diagnostic(message: string): void }, refusedOnlyByUs: Map<string, string[]>): void {
  for (const [reason, examples] of refusedOnlyByUs)
    t.diagnostic(`refused by modelgate only (${reason}): ${examples.map((example) => JSON.stringify(example)).join(', ')}`);
  assert.equal(refusedOnlyByUs.get('UNEXPLAINED'), undefined, 'modelgate refuses references that Go accepts for no known reason');
}

describe('references: modelgate names what distribution/reference parses', () => {
  let oracle: Oracle<OracleReference>;
  before(() => {
    oracle = new Oracle('reference');
  });
  after(async () => oracle.close());

  it('hand-made corpus', async (t) => {
    const tally = new Tally();
    const refusedOnlyByUs = new Map<string, string[]>();
    const failures: string[] = [];
    for (const input of REFERENCE_CORPUS) {
      const go = await oracle.ask(input);
      try {
        tally.add(compare(input, parseOrUndefined(input), go, refusedOnlyByUs));
      } catch (error) {
        failures.push((error as Error).message.split('\n')[0] as string);
      }
    }
    t.diagnostic(`references (corpus): ${tally}`);
    diagnoseRefusals(t, refusedOnlyByUs);
    assert.deepEqual(failures, [], `${failures.length} corpus references read differently`);
  });

  for (const [name, arbitrary, seed, runs] of [
    ['grammar', grammarReference, 7101, 20000],
    ['random strings', randomReference, 7102, 10000],
  ] as const) {
    it(`generated from the ${name} (fixed seed)`, async (t) => {
      const tally = new Tally();
      const refusedOnlyByUs = new Map<string, string[]>();
      await fc.assert(
        fc.asyncProperty(arbitrary, async (input) => {
          tally.add(compare(input, parseOrUndefined(input), await oracle.ask(input), refusedOnlyByUs));
        }),
        fuzzParameters(seed, runs),
      );
      t.diagnostic(`references (${name}): ${tally}`);
      diagnoseRefusals(t, refusedOnlyByUs);
      if (name === 'grammar') assert.ok(tally.get('accepted by both') >= runs / 4, `too few accepted to compare: ${tally}`);
    });
  }
});
