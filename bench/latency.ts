/**
 * Latency benchmark (issue 16): cold admissions when the registry is a round trip away. A TCP
 * proxy (lib/delay-proxy.ts) in front of the test bed's registries delays each direction's
 * data by BENCH_ONE_WAY_MS and a new connection by one round trip; it sees every request, so
 * the figures are the sequential waves and requests per admission as the registry sees them,
 * and the latency in round trips. Every admission names a digest no cache has seen.
 *
 *   - first contact: a new engine (registry client, connection pool) per admission;
 *   - registry known: one engine whose connections are open (one admission before measuring).
 *
 * Policies: cosign v2 `.sig` tag on docker-registry (no referrers API), cosign v3 bundle referrer
 * and OpenSSF model signing (spec.modelSignature, real model_signing CLI) on the referrers
 * registry, and artifact rules only. Figures only, no assertion; the targets: registry known
 * within half a round trip of the protocol floor, first contact within one and a half.
 *
 *   npm run bench:latency     (BENCH_ONE_WAY_MS, default 40; BENCH_ROUNDS per case, default 8)
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleAdmission } from '../src/admission/handle.ts';
import { parseAdmissionReview } from '../src/admission/review.ts';
import { createEngine } from '../src/engine/engine.ts';
import { policySetFromTexts } from '../src/policy/load.ts';
import { loadTools } from '../test/e2e/lib/tools.ts';
import { EMPTY_CONFIG, blob, ociManifest } from '../test/support/artifacts.ts';
import { hasDistribution, startDistribution } from '../test/support/distribution.ts';
import { modelFile, modelPack } from '../test/support/models.ts';
import { admissionReview, kubeObject } from '../test/support/objects.ts';
import { closePushAgents, pushBlob, pushManifest } from '../test/support/push.ts';
import { hasGo, startReferrersRegistry } from '../test/support/referrers-registry.ts';
import { BUNDLE_TYPE, SIMPLE_SIGNING, bundleSignature, cosignStatement, legacySignature, simpleSigningPayload } from '../test/support/sigstore/cosign.ts';
import type { Signer } from '../test/support/sigstore/cosign.ts';
import { startDelayProxy, wavesOf } from './lib/delay-proxy.ts';
import type { DelayProxy } from './lib/delay-proxy.ts';

const ONE_WAY = Number(process.env['BENCH_ONE_WAY_MS'] ?? '40');
const RTT = 2 * ONE_WAY;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '8');
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer: Signer = { kind: 'key', privateKey, publicKey };
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const indented = (text: string, spaces: number): string =>
  text
    .trim()
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');
const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

const config = (host: string): string => `---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [{host: "${host}", insecure: true}]
`;
const signaturesPolicy = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: signed-models}
spec:
  signatures:
    authorities:
      - name: release-key
        tlog: optional
        key: |
${indented(publicPem, 10)}
`;
const artifactPolicy = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: modelpack-only}
spec:
  artifact:
    types: [modelpack]
    denyFiles: ["*.pkl"]
`;
const modelSigningPolicy = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: model-signing}
spec:
  modelSignature:
    authorities:
      - name: release
        tlog: optional
        key: |
${indented(publicPem, 10)}
`;

type Engine = ReturnType<typeof createEngine>;

interface Case {
  readonly label: string;
  readonly policy: string;
  /** Protocol floor in sequential waves, with the connections open. */
  readonly floor: number;
  readonly proxy: DelayProxy;
  readonly repository: string;
  /** Pushes a fresh, signed artifact; its digest. */
  readonly fresh: (round: number) => Promise<string>;
}

interface Sample {
  readonly rtts: number;
  readonly waves: number;
  readonly requests: number;
  readonly connections: number;
}

async function admit(engine: Engine, item: Case, digest: string): Promise<Sample> {
  const review = parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${item.proxy.host}/${item.repository}@${digest}` }])));
  const from = item.proxy.requests.length;
  const connections = item.proxy.connections;
  const started = performance.now();
  const outcome = await handleAdmission(review, engine);
  const elapsed = performance.now() - started;
  if (!outcome.decision.allowed) throw new Error(`${item.label}: ${outcome.decision.message}`);
  const requests = item.proxy.requests.slice(from);
  if (process.env['BENCH_TRACE'] !== undefined)
    for (const request of requests)
      console.log(`    ${((request.at - started) / RTT).toFixed(2)} RTT  connection ${request.connection}  ${request.method} ${request.path}`);
  return { rtts: elapsed / RTT, waves: wavesOf(requests, RTT).length, requests: requests.length, connections: item.proxy.connections - connections };
}

const newEngine = (item: Case): Engine => createEngine(policySetFromTexts([{ source: 'bench', text: item.policy + config(item.proxy.host) }]));

function describe(samples: readonly Sample[], floor: number, slack: number): string {
  const rtts = samples.map((sample) => sample.rtts).sort((a, b) => a - b);
  const median = percentile(rtts, 50);
  const range = (values: number[]): string => {
    const low = Math.min(...values);
    const high = Math.max(...values);
    return low === high ? `${low}` : `${low}–${high}`;
  };
  return `median ${median.toFixed(2)} RTT, p95 ${percentile(rtts, 95).toFixed(2)} RTT, waves ${range(samples.map((s) => s.waves))}, requests ${range(samples.map((s) => s.requests))}, new connections ${range(samples.map((s) => s.connections))}   target ≤ ${(floor + slack).toFixed(1)} RTT ${median <= floor + slack ? 'OK' : 'MISSED'}`;
}

const lines: string[] = [];
async function measure(item: Case): Promise<void> {
  const digests: string[] = [];
  for (let round = 0; round < 2 * ROUNDS + 1; round++) digests.push(await item.fresh(round));
  const firstContact: Sample[] = [];
  for (const digest of digests.slice(0, ROUNDS)) {
    const engine = newEngine(item);
    firstContact.push(await admit(engine, item, digest));
    await engine.client?.close();
  }
  const known: Sample[] = [];
  const engine = newEngine(item);
  // One admission opens the connections and learns the registry, as a running webhook has them.
  await admit(engine, item, digests[ROUNDS] as string);
  for (const digest of digests.slice(ROUNDS + 1)) known.push(await admit(engine, item, digest));
  await engine.client?.close();
  const block = [
    `${item.label} (protocol floor ${item.floor} waves; ${item.floor + 1} with new connections)`,
    `  registry known: ${describe(known, item.floor, 0.5)}`,
    `  first contact:  ${describe(firstContact, item.floor, 1.5)}`,
  ];
  for (const line of block) console.log(line);
  lines.push(...block);
}

const work = await mkdtemp(join(tmpdir(), 'modelgate-bench-latency-'));
const stops: (() => Promise<void> | void)[] = [];
console.log(`cold admissions at ${RTT} ms round trip (${ONE_WAY} ms each way, one more round trip per new connection), ${ROUNDS} rounds per case\n`);
try {
  if (hasDistribution()) {
    const distribution = await startDistribution({ dir: work });
    stops.push(() => distribution.stop());
    const proxy = await startDelayProxy(new URL(distribution.url), ONE_WAY);
    stops.push(() => proxy.close());
    const target = { url: distribution.url };
    await measure({
      label: 'cosign v2 .sig tag, docker-registry (no referrers API)',
      policy: signaturesPolicy,
      floor: 2,
      proxy,
      repository: 'models/v2',
      fresh: async (round) => {
        const model = modelPack([modelFile('model.safetensors', `weights v2 ${round}`)]);
        await pushManifest(target, 'models/v2', model);
        const layer = legacySignature(signer, simpleSigningPayload(`${proxy.host}/models/v2`, model.digest));
        const signature = ociManifest({
          config: blob('{"architecture":"","os":""}', 'application/vnd.oci.image.config.v1+json'),
          layers: [blob(layer.payload, SIMPLE_SIGNING, layer.annotations)],
        });
        await pushManifest(target, 'models/v2', signature, `${model.digest.replace(':', '-')}.sig`);
        return model.digest;
      },
    });
    await measure({
      label: 'artifact rules only, docker-registry',
      policy: artifactPolicy,
      floor: 1,
      proxy,
      repository: 'models/artifact',
      fresh: async (round) => {
        const model = modelPack([modelFile('model.safetensors', `weights artifact ${round}`)]);
        await pushManifest(target, 'models/artifact', model);
        return model.digest;
      },
    });
  } else console.log('(docker-registry is not installed: run bash test/e2e/tools/install.sh; cosign v2 and artifact cases not measured)');

  if (hasGo()) {
    const referrers = await startReferrersRegistry();
    stops.push(() => referrers.stop());
    const proxy = await startDelayProxy(new URL(referrers.url), ONE_WAY);
    stops.push(() => proxy.close());
    const target = { url: referrers.url };
    await measure({
      label: 'cosign v3 bundle referrer, referrers registry',
      policy: signaturesPolicy,
      floor: 3,
      proxy,
      repository: 'models/v3',
      fresh: async (round) => {
        const model = modelPack([modelFile('model.safetensors', `weights v3 ${round}`)]);
        await pushManifest(target, 'models/v3', model);
        const referrer = ociManifest({
          artifactType: BUNDLE_TYPE,
          config: EMPTY_CONFIG,
          layers: [blob(bundleSignature(signer, cosignStatement(model.digest)), BUNDLE_TYPE)],
          subject: { mediaType: model.mediaType, digest: model.digest, size: model.bytes.length },
        });
        await pushManifest(target, 'models/v3', referrer);
        return model.digest;
      },
    });
    let modelSigning: string | undefined;
    try {
      modelSigning = loadTools().paths.MODEL_SIGNING;
    } catch {
      console.log('(model_signing is not installed: run bash test/e2e/tools/install.sh; model signing case not measured)');
    }
    if (modelSigning !== undefined) {
      const dir = join(work, 'model');
      await mkdir(dir, { recursive: true });
      const files = { 'config.json': '{}', 'model.safetensors': 'weights' };
      for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
      const keyFile = join(work, 'key.pem');
      await writeFile(keyFile, privateKey.export({ type: 'sec1', format: 'pem' }));
      const signatureFile = join(work, 'model.sig');
      execFileSync(modelSigning, ['sign', 'key', dir, '--private_key', keyFile, '--signature', signatureFile], { stdio: 'ignore' });
      const signature = blob(await readFile(signatureFile), BUNDLE_TYPE, { 'org.opencontainers.image.title': 'model.sig' });
      const layers = Object.entries(files).map(([path, content]) => modelFile(path, content));
      for (const layer of layers) await pushBlob(target, 'models/oms', layer);
      await measure({
        label: 'model signing (spec.modelSignature) referrer, referrers registry',
        policy: modelSigningPolicy,
        // The manifest and the referrers listing together, then the referrer manifest, then the bundle.
        floor: 3,
        proxy,
        repository: 'models/oms',
        fresh: async (round) => {
          // The same files under a manifest of its own: a digest no cache has seen, one signature for all.
          const model = modelPack(layers, undefined, { 'org.opencontainers.image.description': `round ${round}` });
          await pushManifest(target, 'models/oms', model);
          const referrer = ociManifest({
            artifactType: BUNDLE_TYPE,
            config: EMPTY_CONFIG,
            layers: [signature],
            subject: { mediaType: model.mediaType, digest: model.digest, size: model.bytes.length },
          });
          await pushManifest(target, 'models/oms', referrer);
          return model.digest;
        },
      });
    }
  } else console.log('(no Go toolchain: the referrers registry cannot be built; cosign v3 and model signing cases not measured)');
} finally {
  for (const stop of stops.reverse()) await stop();
  await closePushAgents();
  await rm(work, { recursive: true, force: true });
}
console.log(`\nsummary (${RTT} ms RTT):\n${lines.join('\n')}`);
