/**
 * The artifact facts cache is bounded by an estimate of each entry's heap (issue 9: it used
 * to count the manifest's JSON text, which a hostile manifest makes small while its layers
 * are many). Measured here against V8's own heap accounting, with facts read by the strict
 * reader as the registry client reads them (its strings are slices of the manifest text,
 * which the cache must not keep alive): the estimate may be generous, never far short.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { compactFacts, estimateHeapBytes } from '../../../src/artifact/compact.ts';
import { parseStrictJson } from '../../../src/core/strict-json.ts';
import type { ArtifactFacts } from '../../../src/artifact/rules.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const digest = (seed: string): string => `sha256:${createHash('sha256').update(seed).digest('hex')}`;

function parsedFacts(seed: string, layers: number, nameLength: number): ArtifactFacts {
  const name = (j: number): string => `${'w'.repeat(nameLength)}-${seed}-${j}.safetensors`;
  const text = JSON.stringify({
    kind: 'manifest',
    digest: digest(seed),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: digest(`${seed}c`), size: 300 },
    layers: Array.from({ length: layers }, (_, j) => ({
      mediaType: 'application/vnd.cncf.model.weight.v1.raw',
      digest: digest(`${seed}-${j}`),
      size: 1000 + j,
      annotations: { 'org.cncf.model.filepath': name(j), 'org.opencontainers.image.title': name(j), 'org.example.notes': 'n'.repeat(200) },
    })),
    annotations: { 'org.opencontainers.image.licenses': 'Apache-2.0' },
  });
  const manifest = parseStrictJson(Buffer.from(text, 'utf8')) as ArtifactFacts['manifests'][number];
  return { root: manifest, manifests: [manifest], configs: new Map() };
}

/** Heap per cached entry, measured, and as estimated. */
function measure(entries: number, layers: number, nameLength: number): { measured: number; estimated: number } {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = Array.from({ length: entries }, (_, i) => compactFacts(parsedFacts(`${layers}-${nameLength}-${i}`, layers, nameLength)));
  gc();
  gc();
  const measured = (process.memoryUsage().heapUsed - before) / entries;
  const estimated = kept.reduce((sum, facts) => sum + estimateHeapBytes(facts), 0) / entries;
  return { measured, estimated };
}

describe('cache entries are counted by their heap (issue 9)', () => {
  for (const [entries, layers, nameLength] of [
    [4000, 3, 10],
    [200, 200, 20],
    [12, 4096, 40],
  ] as const) {
    it(`${entries} manifests of ${layers} layers: the estimate is within 0.8× and 2× of the measured heap`, (t) => {
      const { measured, estimated } = measure(entries, layers, nameLength);
      const ratio = estimated / measured;
      t.diagnostic(`estimated ${Math.round(estimated)} B, measured ${Math.round(measured)} B per entry (ratio ${ratio.toFixed(2)})`);
      assert.ok(ratio >= 0.8 && ratio <= 2, `estimated ${Math.round(estimated)} B, measured ${Math.round(measured)} B per entry (ratio ${ratio.toFixed(2)})`);
    });
  }
});
