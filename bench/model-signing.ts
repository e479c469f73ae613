/**
 * Model signing benchmark (issue 13): cold verification of OpenSSF Model Signing signatures
 * from the manifest and the signature alone. Models of 2, 50 and 1,000 files, and a 256 MiB
 * model against a 1 MiB one, each signed with the real `model_signing` 1.1.1 CLI of the test
 * bed (key mode), pushed as raw layers to the referrers registry with the signature as an OCI
 * 1.1 referrer. Cold: every admission names a digest no cache has seen (the same files under a
 * manifest of its own), on an engine whose connection pool is open, as in bench/signatures.ts;
 * the policy's only registry rule is `modelSignature`. A counting TCP proxy in front of the registry measures
 * every byte read from it. Figures only, no assertion: the targets are a cold median ≤ 15 ms
 * for 50 files and bytes read independent of the model's size.
 *
 *   npm run bench:model-signing     (BENCH_ROUNDS to change the rounds per model, default 15)
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { handleAdmission } from '../src/admission/handle.ts';
import { parseAdmissionReview } from '../src/admission/review.ts';
import { createEngine } from '../src/engine/engine.ts';
import { policySetFromTexts } from '../src/policy/load.ts';
import { EMPTY_CONFIG, blob, ociManifest } from '../test/support/artifacts.ts';
import type { TestBlob } from '../test/support/artifacts.ts';
import { loadTools } from '../test/e2e/lib/tools.ts';
import { modelPack } from '../test/support/models.ts';
import { admissionReview, kubeObject } from '../test/support/objects.ts';
import { closePushAgents, pushBlob, pushManifest } from '../test/support/push.ts';
import { hasGo, startReferrersRegistry } from '../test/support/referrers-registry.ts';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '15');
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const MiB = 1024 * 1024;

let modelSigning: string;
try {
  modelSigning = loadTools().paths.MODEL_SIGNING;
} catch (error) {
  console.log(`model_signing is not installed (${(error as Error).message}); run bash test/e2e/tools/install.sh`);
  process.exit(0);
}
if (!hasGo()) {
  console.log('no Go toolchain: the referrers registry cannot be built');
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'modelgate-bench-oms-'));
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyFile = join(work, 'key.pem');
writeFileSync(keyFile, privateKey.export({ type: 'sec1', format: 'pem' }));
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** A loopback TCP proxy that counts the bytes the registry sends. */
async function countingProxy(target: URL): Promise<{ host: string; bytes: () => number; close: () => void }> {
  let received = 0;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    upstream.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `127.0.0.1:${port}`, bytes: () => received, close: () => server.close() };
}

const policy = (host: string): string => `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: signed-models}
spec:
  modelSignature:
    authorities:
      - name: release
        tlog: optional
        key: |
${publicPem
  .trim()
  .split('\n')
  .map((line) => `          ${line}`)
  .join('\n')}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${host}", insecure: true}]
`;

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

const registry = await startReferrersRegistry();
const proxy = await countingProxy(new URL(registry.url));
const lines: string[] = [];

async function measure(label: string, files: Readonly<Record<string, Buffer>>): Promise<void> {
  const slug = label.replace(/\W+/g, '-').replace(/^-|-$/g, '').toLowerCase();
  // A repository per model: the referrers registry scans a repository's manifests to list referrers.
  const repository = `models/${slug}`;
  const dir = join(work, slug);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  const signatureFile = join(work, `${label.replace(/\W+/g, '-')}.sig`);
  const signStarted = performance.now();
  execFileSync(modelSigning, ['sign', 'key', dir, '--private_key', keyFile, '--signature', signatureFile], { stdio: 'ignore' });
  const signMs = performance.now() - signStarted;
  const signature = blob(readFileSync(signatureFile), BUNDLE_TYPE, { 'org.opencontainers.image.title': 'model.sig' });
  const layers: TestBlob[] = Object.entries(files).map(([path, content]) => blobOf(path, content));
  for (const layer of layers) await pushBlob({ url: registry.url }, repository, layer);
  const digests: string[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    // The same files under another manifest (annotations differ): a digest no cache has seen.
    const model = modelPack(layers, undefined, { 'org.opencontainers.image.description': `${label} round ${round}` });
    await pushManifest({ url: registry.url }, repository, model);
    const referrer = ociManifest({
      artifactType: BUNDLE_TYPE,
      config: EMPTY_CONFIG,
      layers: [signature],
      subject: { mediaType: model.mediaType, digest: model.digest, size: model.bytes.length },
    });
    await pushManifest({ url: registry.url }, repository, referrer);
    digests.push(model.digest);
  }
  const latencies: number[] = [];
  const bytes: number[] = [];
  const engine = createEngine(policySetFromTexts([{ source: 'bench', text: policy(proxy.host) }]));
  for (const [round, digest] of digests.entries()) {
    const review = parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${proxy.host}/${repository}@${digest}` }])));
    const before = proxy.bytes();
    const started = performance.now();
    const outcome = await handleAdmission(review, engine);
    const elapsed = performance.now() - started;
    if (!outcome.decision.allowed) throw new Error(`${label}: ${outcome.decision.message}`);
    // Round 0 opens the connection pool, as a running webhook has it open; every digest is uncached.
    if (round === 0) continue;
    latencies.push(elapsed);
    bytes.push(proxy.bytes() - before);
  }
  await engine.client?.close();
  latencies.sort((a, b) => a - b);
  const modelBytes = Object.values(files).reduce((sum, content) => sum + content.length, 0);
  const line = `${label.padEnd(26)} model ${(modelBytes / MiB).toFixed(2).padStart(8)} MiB  signature ${(signature.bytes.length / 1024).toFixed(1).padStart(6)} KiB  cold median ${percentile(latencies, 50).toFixed(2).padStart(6)} ms  p90 ${percentile(latencies, 90).toFixed(2).padStart(6)} ms  read from registry ${(Math.max(...bytes) / 1024).toFixed(1).padStart(6)} KiB per admission  (model_signing sign: ${(signMs / 1000).toFixed(1)} s)`;
  console.log(line);
  lines.push(line);
}

function blobOf(path: string, content: Buffer): TestBlob {
  return blob(content, 'application/vnd.cncf.model.weight.v1.raw', { 'org.cncf.model.filepath': path, 'org.opencontainers.image.title': path });
}

const filesOf = (count: number, size: number): Record<string, Buffer> =>
  Object.fromEntries(
    Array.from({ length: count }, (_, index) => [
      count > 10 ? `shard-${String(Math.floor(index / 100))}/part-${index}.bin` : `file-${index}.bin`,
      Buffer.alloc(size, index % 251),
    ]),
  );

try {
  console.log(`cold verification (uncached digests), ${ROUNDS} admissions per model (referrers registry, signature as a referrer):`);
  await measure('2 files', filesOf(2, 4096));
  await measure('50 files', filesOf(50, 4096));
  await measure('1,000 files', filesOf(1000, 512));
  await measure('1 MiB model (2 files)', { 'config.json': Buffer.from('{}'), 'model.safetensors': Buffer.alloc(MiB, 3) });
  await measure('256 MiB model (2 files)', { 'config.json': Buffer.from('{}'), 'model.safetensors': Buffer.alloc(256 * MiB, 5) });
} finally {
  proxy.close();
  await registry.stop();
  await closePushAgents();
  rmSync(work, { recursive: true, force: true });
}
