/**
 * Signature benchmark (issue 5): cold admissions of models signed by one key
 * authority, against local registries, with the policy's only registry rule
 * being `signatures` (or, last, `attestations`: a SLSA provenance bundle with
 * two CEL conditions, issue 14). Targets: median ≤ 25 ms and ≤ 5 HTTP requests per cold
 * admission. Warm admissions make no request.
 *
 *   - cosign v2 layout (legacy `sha256-<hex>.sig` tag) on Debian's docker-registry, which has no referrers API;
 *   - cosign v3 layout (sigstore bundle as an OCI 1.1 referrer) on the test bed's referrers registry.
 * Signatures are made in-process with the layouts cosign writes (test/support/sigstore/cosign.ts):
 * signing hundreds of digests with the cosign binary would measure cosign, not modelgate.
 *
 *   npm run bench:signatures     (BENCH_DIGESTS to change the count, default 200)
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleAdmission } from '../src/admission/handle.ts';
import { parseAdmissionReview } from '../src/admission/review.ts';
import { createEngine } from '../src/engine/engine.ts';
import { policySetFromTexts } from '../src/policy/load.ts';
import { EMPTY_CONFIG, blob, ociManifest } from '../test/support/artifacts.ts';
import { startDistribution } from '../test/support/distribution.ts';
import { closePushAgents, pushManifest } from '../test/support/push.ts';
import { hasGo, startReferrersRegistry } from '../test/support/referrers-registry.ts';
import { BUNDLE_TYPE, SIMPLE_SIGNING, bundleSignature, cosignStatement, legacySignature, simpleSigningPayload } from '../test/support/sigstore/cosign.ts';
import type { Signer } from '../test/support/sigstore/cosign.ts';
import { modelFile, modelPack } from '../test/support/models.ts';
import { admissionReview, kubeObject } from '../test/support/objects.ts';

const DIGESTS = Number(process.env['BENCH_DIGESTS'] ?? '200');
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer: Signer = { kind: 'key', privateKey, publicKey };
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
const results: string[] = [];
let failed = false;

const indentedKey = (spaces: number): string =>
  publicPem
    .trim()
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');

const SIGNATURES_SPEC = `  signatures:
    authorities:
      - name: release-key
        tlog: optional
        key: |
${indentedKey(10)}`;

/** One provenance requirement with two conditions (issue 14). */
const ATTESTATIONS_SPEC = `  attestations:
    - name: built-by-our-pipeline
      predicateType: https://slsa.dev/provenance/v1
      authorities:
        - name: release-key
          tlog: optional
          key: |
${indentedKey(12)}
      conditions:
        - expression: predicate.runDetails.builder.id == "https://ci.acme.example/train@refs/heads/main"
          message: the model was not built by the release pipeline
        - expression: predicate.buildDefinition.resolvedDependencies.exists(d, d.uri.startsWith("git+https://github.com/acme/"))`;

const policy = (host: string, spec = SIGNATURES_SPEC): string => `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: signed-models}
spec:
${spec}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${host}", insecure: true}]
`;

async function run(label: string, host: string, url: string, sign: (digest: string) => Promise<void>, spec = SIGNATURES_SPEC): Promise<void> {
  const digests: string[] = [];
  for (let i = 0; i < DIGESTS; i++) {
    const model = modelPack([modelFile('model.safetensors', `weights ${label} ${i}`)]);
    await pushManifest({ url }, 'models/llama', model);
    await sign(model.digest);
    digests.push(model.digest);
  }
  const engine = createEngine(policySetFromTexts([{ source: 'bench', text: policy(host, spec) }]));
  const client = engine.client;
  if (client === undefined) throw new Error('the policy reads a registry, so the engine has a client');
  const review = (digest: string) => parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${host}/models/llama@${digest}` }])));
  // Warm the connection pool on the last digest, as a running webhook has it open; measure the others.
  await handleAdmission(review(digests.at(-1) as string), engine);
  const latencies: number[] = [];
  const requests: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (const digest of digests.slice(0, -1)) {
    const before = client.requestCount;
    const started = performance.now();
    const outcome = await handleAdmission(review(digest), engine);
    latencies.push(performance.now() - started);
    requests.push(client.requestCount - before);
    if (!outcome.decision.allowed) throw new Error(outcome.decision.message);
  }
  // CPU time (all of this process's threads: GC and JIT included), steadier than wall time on a shared machine.
  const cpu = process.cpuUsage(cpuBefore);
  const cpuPerCold = (cpu.user + cpu.system) / 1000 / latencies.length;
  const warm: number[] = [];
  const beforeWarm = client.requestCount;
  for (const digest of digests.slice(0, -1)) {
    const prepared = review(digest);
    const started = performance.now();
    await handleAdmission(prepared, engine);
    warm.push(performance.now() - started);
  }
  const warmRequests = client.requestCount - beforeWarm;
  latencies.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  const median = percentile(latencies, 50);
  const maxRequests = Math.max(...requests);
  console.log(`\n${label} (${latencies.length} cold admissions, in-process engine):`);
  console.log(
    `  cold: median ${median.toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, HTTP requests per admission max ${maxRequests}, mean ${(requests.reduce((a, b) => a + b, 0) / requests.length).toFixed(2)}`,
  );
  console.log(`  cold CPU: ${cpuPerCold.toFixed(2)} ms per admission (this process: engine, client, GC and JIT; the registry is another process)`);
  console.log(
    `  warm: median ${(percentile(warm, 50) * 1000).toFixed(0)} µs, p99 ${(percentile(warm, 99) * 1000).toFixed(0)} µs, ${warmRequests} HTTP requests`,
  );
  const ok = median <= 25 && maxRequests <= 5 && warmRequests === 0;
  failed ||= !ok;
  results.push(
    `  ${label}: cold median ${median.toFixed(2)} ms (≤ 25 ms), ${cpuPerCold.toFixed(2)} ms CPU, ≤ ${maxRequests} requests (≤ 5), warm ${warmRequests} requests   ${ok ? 'OK' : 'MISSED'}`,
  );
  await client.close();
}

/** An in-toto statement of SLSA provenance v1 about the digest, as `cosign attest --type slsaprovenance1` writes it. */
function provenanceStatement(digest: string): Buffer {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'models/llama', digest: { [algorithm]: hex } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {
        buildDefinition: {
          buildType: 'https://ci.acme.example/train/v1',
          resolvedDependencies: Array.from({ length: 20 }, (_, index) => ({ uri: `git+https://github.com/acme/data@${index}` })),
        },
        runDetails: { builder: { id: 'https://ci.acme.example/train@refs/heads/main' } },
      },
    }),
  );
}

const dir = await mkdtemp(join(tmpdir(), 'modelgate-bench-signatures-'));
const distribution = await startDistribution({ dir });
await run('cosign v2 legacy .sig tag, docker-registry (no referrers API)', distribution.host, distribution.url, async (digest) => {
  const layer = legacySignature(signer, simpleSigningPayload(`${distribution.host}/models/llama`, digest));
  const signature = ociManifest({
    config: blob('{"architecture":"","os":""}', 'application/vnd.oci.image.config.v1+json'),
    layers: [blob(layer.payload, SIMPLE_SIGNING, layer.annotations)],
  });
  await pushManifest({ url: distribution.url }, 'models/llama', signature, `${digest.replace(':', '-')}.sig`);
});
await distribution.stop();

if (hasGo()) {
  const referrers = await startReferrersRegistry();
  await run('cosign v3 bundle as OCI 1.1 referrer, referrers registry', referrers.host, referrers.url, async (digest) => {
    const bundle = bundleSignature(signer, cosignStatement(digest));
    const size = 0;
    const referrer = ociManifest({
      artifactType: BUNDLE_TYPE,
      config: EMPTY_CONFIG,
      layers: [blob(bundle, BUNDLE_TYPE)],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size },
    });
    await pushManifest({ url: referrers.url }, 'models/llama', referrer);
  });
  await run(
    'cosign v3 attestation (SLSA provenance, 2 CEL conditions) as OCI 1.1 referrer, referrers registry',
    referrers.host,
    referrers.url,
    async (digest) => {
      const bundle = bundleSignature(signer, provenanceStatement(digest));
      const referrer = ociManifest({
        artifactType: BUNDLE_TYPE,
        config: EMPTY_CONFIG,
        layers: [blob(bundle, BUNDLE_TYPE)],
        subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 0 },
        annotations: { 'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1' },
      });
      await pushManifest({ url: referrers.url }, 'models/llama', referrer);
    },
    ATTESTATIONS_SPEC,
  );
  await referrers.stop();
} else {
  console.log('\n(no Go toolchain: the referrers registry cannot be built, cosign v3 case not measured)');
}
await closePushAgents();
console.log(`\nsummary:\n${results.join('\n')}`);
process.exitCode = failed ? 1 : 0;
