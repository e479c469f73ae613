/**
 * Manifests, differentially against Go's decoder (containers/image's
 * OCI1FromManifest, which CRI-O decodes with): whatever modelgate accepts,
 * Go accepts too and reads the same layers, annotations and file names.
 * Refusing more than Go is allowed; reading differently is the bypass of
 * issue 9.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { mutate, nodeOf, textOf } from './lib/json-text.ts';
import { MANIFEST_CORPUS } from './lib/manifest-corpus.ts';
import { TITLE, assertSameReading, byteChange, changeBytes, contentType, manifestValue, mutation, readAsModelgate } from './lib/manifests.ts';
import { Oracle } from './lib/oracle.ts';
import type { OracleManifest } from './lib/oracle.ts';
import { Tally, fuzzParameters } from './lib/settings.ts';

describe('manifests: what modelgate judges is what Go decodes', () => {
  let oracle: Oracle<OracleManifest>;
  before(() => {
    oracle = new Oracle('manifest');
  });
  after(async () => oracle.close());

  describe('hand-made corpus', () => {
    for (const entry of MANIFEST_CORPUS) {
      it(entry.name, async () => {
        const reading = readAsModelgate(entry.bytes, entry.contentType);
        const go = await oracle.ask(entry.bytes);
        if (entry.expect !== undefined) {
          assert.equal(
            reading.accepted ? 'accept' : 'refuse',
            entry.expect,
            reading.accepted ? 'modelgate accepted it' : `modelgate refused it: ${reading.reason}`,
          );
        }
        if (reading.accepted) assertSameReading(entry.name, reading.manifest, go);
        if (entry.twoReadings === true) {
          // The attack is real: Go mounts other files than a JSON.parse reader would judge.
          const naive = JSON.parse(entry.bytes.toString('utf8')) as { layers?: { annotations?: Record<string, string> }[] };
          const titles = (layers: readonly { annotations?: Record<string, string> | null }[] | undefined): (string | undefined)[] =>
            (layers ?? []).map((layer) => layer.annotations?.[TITLE]);
          assert.ok(go.ok, `Go refuses it (${go.error})`);
          assert.notDeepEqual(titles(go.layers), titles(naive.layers), 'Go and JSON.parse read the same files');
        }
      });
    }
  });

  it('generated and mutated manifests (fixed seed)', async (t) => {
    const tally = new Tally();
    let mutatedAccepted = 0;
    await fc.assert(
      fc.asyncProperty(manifestValue, fc.array(mutation, { maxLength: 4 }), byteChange, fc.nat(), contentType, async (value, mutations, change, at, type) => {
        const bytes = changeBytes(textOf(mutate(nodeOf(value), mutations)), change, at);
        const reading = readAsModelgate(bytes, type);
        const go = await oracle.ask(bytes);
        tally.add('inputs');
        if (!reading.accepted) tally.add(reading.asIndex ? 'modelgate read an index' : 'modelgate refused');
        if (!go.ok) tally.add('Go refused');
        if (!reading.accepted && go.ok) tally.add('refused by modelgate only');
        if (reading.accepted) {
          tally.add('accepted by modelgate');
          if (mutations.length > 0 || change !== 'none') mutatedAccepted++;
          assertSameReading(`${bytes.toString('utf8').slice(0, 2000)}`, reading.manifest, go);
        }
      }),
      fuzzParameters(9011, 20000),
    );
    t.diagnostic(`manifests: ${tally}`);
    // The property is only as strong as what modelgate accepts: most plain manifests, and mutated ones too.
    assert.ok(tally.get('accepted by modelgate') >= tally.get('inputs') / 5, `too few accepted to compare: ${tally}`);
    assert.ok(mutatedAccepted >= 100, `too few mutated manifests accepted to compare (${mutatedAccepted})`);
  });
});
