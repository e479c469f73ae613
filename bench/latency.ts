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
 * registry and on docker-registry (the referrers tag schema), and artifact rules only; then
 * artifact-only and cosign v2 on a docker-registry with token auth (the test bed's token
 * service behind a delay proxy of its own): first contact includes the 401 and the token
 * exchange, and "known registry, new repository" a token for the new scope. Figures only, no
 * assertion; the targets: registry known within half a round trip of the protocol floor, first
 * contact within one and a half (token auth: see the floor printed with it).
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
import { EMPTY_CONFIG, blob, ociManifest, referrersIndex } from '../test/support/artifacts.ts';
import type { TestManifest } from '../test/support/artifacts.ts';
import { hasDistribution, startDistribution } from '../test/support/distribution.ts';
import { modelFile, modelPack } from '../test/support/models.ts';
import { admissionReview, kubeObject } from '../test/support/objects.ts';
import { createCA, issueSigningCert } from '../test/support/pki.ts';
import { closePushAgents, pushBlob, pushManifest } from '../test/support/push.ts';
import type { PushTarget } from '../test/support/push.ts';
import { hasGo, startReferrersRegistry } from '../test/support/referrers-registry.ts';
import { BUNDLE_TYPE, SIMPLE_SIGNING, bundleSignature, cosignStatement, legacySignature, simpleSigningPayload } from '../test/support/sigstore/cosign.ts';
import type { Signer } from '../test/support/sigstore/cosign.ts';
import { startTokenServer } from '../test/support/token-server.ts';
import { referrersTag } from '../src/oci/digest.ts';
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

const config = (hosts: readonly string[]): string => `---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  registries: [${hosts.map((host) => `{host: "${host}", insecure: true}`).join(', ')}]
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
  /** Round trips first contact adds to the floor at best: new connections, and with token auth the 401 and the token exchange. */
  readonly firstContactExtra?: number;
  /** The registry's proxy (named in image references), then any other a review reaches (the token service). */
  readonly proxies: readonly [DelayProxy, ...DelayProxy[]];
  readonly repository: string;
  /** Also measure a known registry asked for a repository it has not seen (token auth: a token for the new scope). */
  readonly newRepositories?: boolean;
  /** Pushes a fresh, signed artifact to `repository`; its digest. */
  readonly fresh: (round: number, repository: string) => Promise<string>;
}

interface Sample {
  readonly rtts: number;
  readonly waves: number;
  readonly requests: number;
  readonly connections: number;
}

async function admit(engine: Engine, item: Case, digest: string, repository = item.repository): Promise<Sample> {
  const [registry] = item.proxies;
  const review = parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${registry.host}/${repository}@${digest}` }])));
  const from = item.proxies.map((proxy) => proxy.requests.length);
  const connections = item.proxies.reduce((sum, proxy) => sum + proxy.connections, 0);
  const started = performance.now();
  const outcome = await handleAdmission(review, engine);
  const elapsed = performance.now() - started;
  if (!outcome.decision.allowed) throw new Error(`${item.label}: ${outcome.decision.message}`);
  const requests = item.proxies.flatMap((proxy, index) => proxy.requests.slice(from[index])).sort((a, b) => a.at - b.at);
  if (process.env['BENCH_TRACE'] !== undefined)
    for (const request of requests)
      console.log(`    ${((request.at - started) / RTT).toFixed(2)} RTT  connection ${request.connection}  ${request.method} ${request.path}`);
  const opened = item.proxies.reduce((sum, proxy) => sum + proxy.connections, 0) - connections;
  return { rtts: elapsed / RTT, waves: wavesOf(requests, RTT).length, requests: requests.length, connections: opened };
}

const newEngine = (item: Case): Engine =>
  createEngine(policySetFromTexts([{ source: 'bench', text: item.policy + config(item.proxies.map((proxy) => proxy.host)) }]));

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
  for (let round = 0; round < 2 * ROUNDS + 1; round++) digests.push(await item.fresh(round, item.repository));
  const firstContact: Sample[] = [];
  for (const digest of digests.slice(0, ROUNDS)) {
    const engine = newEngine(item);
    firstContact.push(await admit(engine, item, digest));
    await engine.client?.close();
  }
  const known: Sample[] = [];
  const newRepository: Sample[] = [];
  const engine = newEngine(item);
  // One admission opens the connections and learns the registry, as a running webhook has them.
  await admit(engine, item, digests[ROUNDS] as string);
  for (const digest of digests.slice(ROUNDS + 1)) known.push(await admit(engine, item, digest));
  if (item.newRepositories === true)
    for (let round = 0; round < ROUNDS; round++) {
      const repository = `${item.repository}-${round}`;
      newRepository.push(await admit(engine, item, await item.fresh(round, repository), repository));
    }
  await engine.client?.close();
  const extra = item.firstContactExtra ?? 1;
  const block = [
    `${item.label} (protocol floor ${item.floor} waves; ${item.floor + extra} on first contact)`,
    `  registry known: ${describe(known, item.floor, 0.5)}`,
    ...(newRepository.length === 0 ? [] : [`  known registry, new repository: ${describe(newRepository, item.floor + 1, 0.5)}`]),
    `  first contact:  ${describe(firstContact, item.floor + extra - 1, 1.5)}`,
  ];
  for (const line of block) console.log(line);
  lines.push(...block);
}

/** A model pushed with a cosign v2 `.sig` tag naming it. */
const v2Fresh =
  (target: PushTarget, host: string, label: string) =>
  async (round: number, repository: string): Promise<string> => {
    const model = modelPack([modelFile('model.safetensors', `weights ${label} ${round}`)]);
    await pushManifest(target, repository, model);
    const layer = legacySignature(signer, simpleSigningPayload(`${host}/${repository}`, model.digest));
    const signature = ociManifest({
      config: blob('{"architecture":"","os":""}', 'application/vnd.oci.image.config.v1+json'),
      layers: [blob(layer.payload, SIMPLE_SIGNING, layer.annotations)],
    });
    await pushManifest(target, repository, signature, `${model.digest.replace(':', '-')}.sig`);
    return model.digest;
  };

const artifactFresh =
  (target: PushTarget, label: string) =>
  async (round: number, repository: string): Promise<string> => {
    const model = modelPack([modelFile('model.safetensors', `weights ${label} ${round}`)]);
    await pushManifest(target, repository, model);
    return model.digest;
  };

/** A referrer of `model` pushed as a client does: by its subject where the registry has the referrers API, in the `sha256-<hex>` tag index where not. */
async function pushReferrer(target: PushTarget, repository: string, model: TestManifest, referrer: TestManifest, tagSchema: boolean): Promise<void> {
  if (tagSchema) await pushManifest(target, repository, referrersIndex([referrer]), referrersTag(model.digest));
  else await pushManifest(target, repository, referrer);
}

/** A model with a cosign v3 bundle referrer. */
const v3Fresh =
  (target: PushTarget, tagSchema: boolean, label: string) =>
  async (round: number, repository: string): Promise<string> => {
    const model = modelPack([modelFile('model.safetensors', `weights ${label} ${round}`)]);
    await pushManifest(target, repository, model);
    const referrer = ociManifest({
      artifactType: BUNDLE_TYPE,
      config: EMPTY_CONFIG,
      layers: [blob(bundleSignature(signer, cosignStatement(model.digest)), BUNDLE_TYPE)],
      subject: { mediaType: model.mediaType, digest: model.digest, size: model.bytes.length },
    });
    await pushReferrer(target, repository, model, referrer, tagSchema);
    return model.digest;
  };

/** The files of a model signed once with the real model_signing CLI; a model with them and the signature as a referrer. */
async function omsFresh(target: PushTarget, tagSchema: boolean, modelSigning: string): Promise<(round: number, repository: string) => Promise<string>> {
  const dir = join(work, `model-${tagSchema ? 'tag' : 'api'}`);
  await mkdir(dir, { recursive: true });
  const files = { 'config.json': '{}', 'model.safetensors': 'weights' };
  for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
  const keyFile = join(work, 'key.pem');
  await writeFile(keyFile, privateKey.export({ type: 'sec1', format: 'pem' }));
  const signatureFile = join(dir, '..', `model-${tagSchema ? 'tag' : 'api'}.sig`);
  execFileSync(modelSigning, ['sign', 'key', dir, '--private_key', keyFile, '--signature', signatureFile], { stdio: 'ignore' });
  const signature = blob(await readFile(signatureFile), BUNDLE_TYPE, { 'org.opencontainers.image.title': 'model.sig' });
  const layers = Object.entries(files).map(([path, content]) => modelFile(path, content));
  return async (round, repository) => {
    for (const layer of layers) await pushBlob(target, repository, layer);
    // The same files under a manifest of its own: a digest no cache has seen, one signature for all.
    const model = modelPack(layers, undefined, { 'org.opencontainers.image.description': `round ${round}` });
    await pushManifest(target, repository, model);
    const referrer = ociManifest({
      artifactType: BUNDLE_TYPE,
      config: EMPTY_CONFIG,
      layers: [signature],
      subject: { mediaType: model.mediaType, digest: model.digest, size: model.bytes.length },
    });
    await pushReferrer(target, repository, model, referrer, tagSchema);
    return model.digest;
  };
}

function modelSigningTool(): string | undefined {
  try {
    return loadTools().paths.MODEL_SIGNING;
  } catch {
    console.log('(model_signing is not installed: run bash test/e2e/tools/install.sh; model signing cases not measured)');
    return undefined;
  }
}

const work = await mkdtemp(join(tmpdir(), 'modelgate-bench-latency-'));
const stops: (() => Promise<void> | void)[] = [];
console.log(`cold admissions at ${RTT} ms round trip (${ONE_WAY} ms each way, one more round trip per new connection), ${ROUNDS} rounds per case\n`);
/**
 * docker-registry with token auth: the test bed's token service (anonymous pull of `public/…`)
 * behind a delay proxy of its own, named as the realm, so the 401 and the token exchange cross
 * the same distance. First contact costs, beyond the floor, a connection to each, the 401 and
 * the token: four round trips.
 */
async function measureTokenAuth(): Promise<void> {
  const dir = join(work, 'token');
  await mkdir(dir, { recursive: true });
  const ca = await createCA(dir, 'token-ca');
  const tokenSigner = await issueSigningCert(ca, dir, 'token-signer');
  const bundlePath = join(dir, 'token-root.pem');
  await writeFile(bundlePath, ca.certPem);
  const service = 'bench-registry';
  const issuer = 'bench-token-service';
  const tokens = await startTokenServer({ signer: tokenSigner, issuer, service });
  stops.push(() => tokens.stop());
  const tokenProxy = await startDelayProxy(new URL(tokens.realm), ONE_WAY);
  stops.push(() => tokenProxy.close());
  const realm = `http://${tokenProxy.host}${new URL(tokens.realm).pathname}`;
  const registry = await startDistribution({ dir: join(dir, 'registry'), token: { realm, service, issuer, rootCertBundlePath: bundlePath } });
  stops.push(() => registry.stop());
  const proxy = await startDelayProxy(new URL(registry.url), ONE_WAY);
  stops.push(() => proxy.close());
  const target: PushTarget = { url: registry.url, authorization: (repository) => `Bearer ${tokens.mint('bench', [`repository:${repository}:pull,push`])}` };
  const on = { proxies: [proxy, tokenProxy] as const, firstContactExtra: 4, newRepositories: true };
  await measure({
    label: 'artifact rules only, docker-registry with token auth',
    policy: artifactPolicy,
    floor: 1,
    ...on,
    repository: 'public/artifact',
    fresh: artifactFresh(target, 'token artifact'),
  });
  await measure({
    label: 'cosign v2 .sig tag, docker-registry with token auth',
    policy: signaturesPolicy,
    floor: 2,
    ...on,
    repository: 'public/v2',
    fresh: v2Fresh(target, proxy.host, 'token v2'),
  });
}

const modelSigning = modelSigningTool();
/**
 * The sigstore bundle referrers (cosign v3, model signing) on one registry: the referrers API
 * where it has one, else the referrers tag index. Floor: the listing (with the manifest, for
 * model signing), then the referrer manifest, then the bundle.
 */
async function measureReferrers(target: PushTarget, proxy: DelayProxy, where: string, tagSchema: boolean): Promise<void> {
  const on = { proxies: [proxy] as const, floor: 3 };
  await measure({
    label: `cosign v3 bundle referrer, ${where}`,
    policy: signaturesPolicy,
    ...on,
    repository: 'models/v3',
    fresh: v3Fresh(target, tagSchema, where),
  });
  if (modelSigning === undefined) return;
  const fresh = await omsFresh(target, tagSchema, modelSigning);
  await measure({ label: `model signing (spec.modelSignature) referrer, ${where}`, policy: modelSigningPolicy, ...on, repository: 'models/oms', fresh });
}

try {
  if (hasDistribution()) {
    const distribution = await startDistribution({ dir: join(work, 'plain') });
    stops.push(() => distribution.stop());
    const proxy = await startDelayProxy(new URL(distribution.url), ONE_WAY);
    stops.push(() => proxy.close());
    const target = { url: distribution.url };
    const on = { proxies: [proxy] as const };
    await measure({
      label: 'cosign v2 .sig tag, docker-registry (no referrers API)',
      policy: signaturesPolicy,
      floor: 2,
      ...on,
      repository: 'models/v2',
      fresh: v2Fresh(target, proxy.host, 'v2'),
    });
    await measure({
      label: 'artifact rules only, docker-registry',
      policy: artifactPolicy,
      floor: 1,
      ...on,
      repository: 'models/artifact',
      fresh: artifactFresh(target, 'artifact'),
    });
    await measureReferrers(target, proxy, 'docker-registry (referrers tag)', true);
    await measureTokenAuth();
  } else console.log('(docker-registry is not installed: run bash test/e2e/tools/install.sh; docker-registry cases not measured)');

  if (hasGo()) {
    const referrers = await startReferrersRegistry();
    stops.push(() => referrers.stop());
    const proxy = await startDelayProxy(new URL(referrers.url), ONE_WAY);
    stops.push(() => proxy.close());
    await measureReferrers({ url: referrers.url }, proxy, 'referrers registry', false);
  } else console.log('(no Go toolchain: the referrers registry cannot be built; referrers registry cases not measured)');
} finally {
  for (const stop of stops.reverse()) await stop();
  await closePushAgents();
  await rm(work, { recursive: true, force: true });
}
console.log(`\nsummary (${RTT} ms RTT):\n${lines.join('\n')}`);
