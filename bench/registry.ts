/**
 * Registry-backed admission benchmark (issue 4), against Debian's
 * docker-registry on loopback:
 *   1. cold admissions of uncached pinned ModelPack references: median, p99 and HTTP requests each
 *      (targets: median ≤ 15 ms, ≤ 3 requests with a manifest-only policy);
 *   2. 200 concurrent admissions of one uncached digest: manifest requests (target: exactly 1);
 *   3. warm admissions through the HTTPS server vs allow-all (foundation targets: ≥ 80%, p99 ≤ 5 ms @500/s);
 *   4. RSS after 100,000 admissions over 20,000 distinct digests (target: < 200 MB).
 *
 *   npm run bench:registry      (BENCH_DIGESTS, BENCH_ADMISSIONS, BENCH_SECONDS to change the sizes)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleAdmission } from '../src/admission/handle.ts';
import { parseAdmissionReview } from '../src/admission/review.ts';
import { createEngine } from '../src/engine/engine.ts';
import { policySetFromTexts } from '../src/policy/load.ts';
import { PACKAGE_ROOT } from '../src/core/package-root.ts';

import { startDistribution } from '../test/support/distribution.ts';
import { closePushAgents, pushBlob, putManifest } from '../test/support/push.ts';
import { goodLayers, modelPack, modelPackConfig } from '../test/support/models.ts';
import { admissionReview, kubeObject } from '../test/support/objects.ts';
import { makeCerts } from '../test/support/webhook-server.ts';
import { compare, describeComparison, meetsTargets } from './lib/compare.ts';
import { PRODUCTION_NODE_FLAGS, startAllowAll, startModelgate } from './lib/servers.ts';

const run = promisify(execFile);
const DIGESTS = Number(process.env['BENCH_DIGESTS'] ?? '20000');
const ADMISSIONS = Number(process.env['BENCH_ADMISSIONS'] ?? '100000');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '5');
const COLD = 300;

const dir = await mkdtemp(join(tmpdir(), 'modelgate-bench-'));
const registry = await startDistribution({ dir });
const target = { url: registry.url };
const policy = (artifact: string): string => `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec:
  artifact: {${artifact}}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${registry.host}", insecure: true}]
`;
const MANIFEST_ONLY = 'types: [modelpack], mountable: true, denyFiles: ["*.pkl"], maxSize: 200Gi';

// Distinct digests share their blobs: each manifest differs by one annotation.
const layers = goodLayers();
const config = modelPackConfig({}, layers);
for (const item of [config, ...layers]) await pushBlob(target, 'models/llama', item);
const digests: string[] = [];
process.stdout.write(`pushing ${DIGESTS} ModelPack manifests to ${registry.host} … `);
const started = performance.now();
for (let i = 0; i < DIGESTS; i++) {
  const manifest = modelPack(layers, config, { 'org.opencontainers.image.version': `build-${i}` });
  await putManifest(target, 'models/llama', manifest.digest, manifest.mediaType, manifest.bytes);
  digests.push(manifest.digest);
}
console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
const reviewFor = (digest: string) =>
  parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${registry.host}/models/llama@${digest}` }])));
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const results: string[] = [];
let failed = false;
const report = (line: string, ok: boolean): void => {
  failed ||= !ok;
  results.push(`  ${line}   ${ok ? 'OK' : 'MISSED'}`);
};

// 1. Cold admissions.
{
  const engine = createEngine(policySetFromTexts([{ source: 'bench', text: policy(MANIFEST_ONLY) }]));
  const client = engine.client;
  if (client === undefined) throw new Error('the policy reads a registry, so the engine has a client');
  // One warm-up on another digest opens the connection pool, as a running webhook has it open.
  await handleAdmission(reviewFor(digests[DIGESTS - 1] as string), engine);
  const latencies: number[] = [];
  const requests: number[] = [];
  for (const digest of digests.slice(0, COLD)) {
    const review = reviewFor(digest);
    const before = client.requestCount;
    const t0 = performance.now();
    const outcome = await handleAdmission(review, engine);
    latencies.push(performance.now() - t0);
    requests.push(client.requestCount - before);
    if (!outcome.decision.allowed) throw new Error(outcome.decision.message);
  }
  latencies.sort((a, b) => a - b);
  const median = percentile(latencies, 50);
  const maxRequests = Math.max(...requests);
  console.log(`\ncold admission, manifest-only policy (${COLD} distinct digests, in-process engine):`);
  console.log(
    `  median ${median.toFixed(2)} ms  p99 ${percentile(latencies, 99).toFixed(2)} ms  HTTP requests per admission: max ${maxRequests}, mean ${(requests.reduce((a, b) => a + b, 0) / requests.length).toFixed(2)}`,
  );
  report(`cold median ${median.toFixed(2)} ms (≤ 15 ms), ≤ ${maxRequests} requests (≤ 3)`, median <= 15 && maxRequests <= 3);
  await client.close();
}

// 2. Concurrent admissions of one uncached digest.
{
  let manifestRequests = 0;
  const engine = createEngine(policySetFromTexts([{ source: 'bench', text: policy(MANIFEST_ONLY) }]), {
    onRequest: (event) => {
      if (event.path.includes('/manifests/')) manifestRequests++;
    },
  });
  const review = reviewFor(digests[COLD] as string);
  const outcomes = await Promise.all(Array.from({ length: 200 }, () => handleAdmission(review, engine)));
  const allowed = outcomes.every((outcome) => outcome.decision.allowed);
  console.log(`\n200 concurrent admissions of one uncached digest: ${manifestRequests} manifest request(s), all allowed: ${allowed}`);
  report(`concurrent: ${manifestRequests} manifest request(s) (exactly 1)`, manifestRequests === 1 && allowed);
  await engine.client?.close();
}

// 3. Warm admissions through the HTTPS server.
{
  const certs = await makeCerts();
  const ca = await readFile(join(certs.dir, 'ca.crt'), 'utf8');
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(policyFile, policy(MANIFEST_ONLY));
  const body = JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${registry.host}/models/llama@${digests[0]}` }])));
  const comparison = await compare({
    baseline: () => startAllowAll(certs.dir, ca),
    gate: () => startModelgate(certs.dir, ca, ['--policy', policyFile]),
    ca,
    body,
    seconds: SECONDS,
    rounds: Number(process.env['BENCH_ROUNDS'] ?? '3'),
    rate: 500,
  });
  console.log(`\nwarm admission through HTTPS (cached facts), alternating rounds of ${SECONDS} s:`);
  for (const line of describeComparison(comparison, 500)) console.log(line);
  report(
    `warm ratio ${(comparison.ratio * 100).toFixed(1)}% (≥ 80%, CPU-cost ratio ${(comparison.cpuRatio * 100).toFixed(1)}%), p99 ${comparison.gateLatency.p99.toFixed(2)} ms (≤ 5 ms)`,
    meetsTargets(comparison),
  );
}

// 4. Memory over many distinct digests, in a process of its own.
{
  const policyFile = join(dir, 'memory-policy.yaml');
  const digestsFile = join(dir, 'digests.txt');
  await writeFile(policyFile, policy(MANIFEST_ONLY));
  await writeFile(digestsFile, digests.join('\n'));
  // Not spawnSync: this process must keep reading the registry's log pipe meanwhile.
  // The same V8 flag as the container image (Dockerfile NODE_OPTIONS).
  const child = await run(
    process.execPath,
    [
      ...PRODUCTION_NODE_FLAGS,
      '--expose-gc',
      join(PACKAGE_ROOT, 'bench', 'lib', 'memory-child.js'),
      policyFile,
      digestsFile,
      registry.host,
      String(ADMISSIONS),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
    rssMb: number;
    rssBeforeMb: number;
    heapUsedMb: number;
    seconds: number;
    cacheEntries: number;
    requests: number;
  };
  console.log(
    `\n${ADMISSIONS} admissions over ${DIGESTS} distinct digests in ${result.seconds.toFixed(1)} s (${(ADMISSIONS / result.seconds).toFixed(0)}/s): RSS ${result.rssMb.toFixed(0)} MB (at start ${result.rssBeforeMb.toFixed(0)} MB, heap ${result.heapUsedMb.toFixed(0)} MB), cache ${result.cacheEntries} entries, ${result.requests} registry requests`,
  );
  report(`RSS ${result.rssMb.toFixed(0)} MB (< 200 MB)`, result.rssMb < 200);
}

await closePushAgents();
await registry.stop();
console.log(`\nsummary:\n${results.join('\n')}`);
process.exitCode = failed ? 1 : 0;
