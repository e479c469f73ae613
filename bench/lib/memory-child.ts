/**
 * Runs admissions in a process of its own, so that the RSS it reports is the
 * engine's (cache, client, policies) and not the benchmark harness's.
 * argv: <policy file> <digests file> <registry host> <admissions>
 */
import { readFileSync } from 'node:fs';
import { handleAdmission } from '../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../src/admission/review.ts';
import { createEngine } from '../../src/engine/engine.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { admissionReview, kubeObject } from '../../test/unit/helpers/objects.ts';

const [policyFile, digestsFile, host, count] = process.argv.slice(2) as [string, string, string, string];
const digests = readFileSync(digestsFile, 'utf8').trim().split('\n');
const admissions = Number(count);
const engine = createEngine(policySetFromTexts([{ source: policyFile, text: readFileSync(policyFile, 'utf8') }]));
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const rssBefore = process.memoryUsage().rss;
const started = performance.now();
let next = 0;
// 16 admissions in flight at a time, as a busy webhook would have them; each builds its review as the server's JSON parser would.
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < admissions) {
      const i = next++;
      const body = JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${host}/models/llama@${digests[i % digests.length]}` }])));
      const outcome = await handleAdmission(parseAdmissionReview(JSON.parse(body)), engine);
      if (!outcome.decision.allowed) throw new Error(outcome.decision.message);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
gc?.();
console.log(
  JSON.stringify({
    rssMb: process.memoryUsage().rss / 2 ** 20,
    rssBeforeMb: rssBefore / 2 ** 20,
    heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
    seconds,
    cacheEntries: engine.cache?.entries,
    requests: engine.client?.requestCount,
  }),
);
await engine.client?.close();
