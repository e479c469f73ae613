// Runs admissions in a process of its own, from the built JavaScript the
// container runs (dist/), so that the RSS it reports is the engine's (cache,
// client, policies) and not the benchmark harness's or the TypeScript loader's.
// argv: <policy file> <digests file> <registry host> <admissions>
import { readFileSync } from 'node:fs';
import { handleAdmission } from '../../dist/src/admission/handle.js';
import { parseAdmissionReview } from '../../dist/src/admission/review.js';
import { createEngine } from '../../dist/src/engine/engine.js';
import { policySetFromTexts } from '../../dist/src/policy/load.js';

const [policyFile, digestsFile, host, count] = process.argv.slice(2);
const digests = readFileSync(digestsFile, 'utf8').trim().split('\n');
const admissions = Number(count);
const engine = createEngine(policySetFromTexts([{ source: policyFile, text: readFileSync(policyFile, 'utf8') }]));
globalThis.gc?.();
const rssBefore = process.memoryUsage().rss;
const started = performance.now();
let next = 0;
// A review as the API server sends it, parsed from JSON as the server's body parser does.
const reviewText = (reference, uid) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: 'llm',
      namespace: 'team-a',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'llm', namespace: 'team-a' },
        spec: { containers: [{ name: 'server', image: 'registry.k8s.io/pause:3.10' }], volumes: [{ name: 'model', image: { reference } }] },
      },
      oldObject: null,
      dryRun: false,
    },
  });
// 16 admissions in flight at a time, as a busy webhook would have them.
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (next < admissions) {
      const i = next++;
      const review = parseAdmissionReview(JSON.parse(reviewText(`${host}/models/llama@${digests[i % digests.length]}`, `uid-${i}`)));
      const outcome = await handleAdmission(review, engine);
      if (!outcome.decision.allowed) throw new Error(outcome.decision.message);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
globalThis.gc?.();
const memory = process.memoryUsage();
console.log(
  JSON.stringify({
    rssMb: memory.rss / 2 ** 20,
    rssBeforeMb: rssBefore / 2 ** 20,
    heapUsedMb: memory.heapUsed / 2 ** 20,
    seconds,
    cacheEntries: engine.cache?.entries,
    requests: engine.client?.requestCount,
  }),
);
await engine.client?.close();
