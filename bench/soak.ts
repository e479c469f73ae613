/**
 * Soak (issue 17): `modelgate serve` (dist/, production node flags and malloc
 * settings) under mixed traffic at a fixed rate for SOAK_MINUTES, with its
 * registry (Debian's docker-registry) stopped for SOAK_FLAP_DOWN_SECONDS every
 * SOAK_FLAP_EVERY_SECONDS. The traffic, over keep-alive connections:
 *   warm   30 %  a digest of one of 20 ModelPacks in the registry: admitted, also while the registry is down (cached);
 *   signed 15 %  a digest of one of 10 ModelPacks signed with a cosign v2 `.sig` (key): admitted (its
 *                 policy says onError: allow, so a verification that is due again while the registry is
 *                 down is not an error);
 *   cold   15 %  a digest never pushed: denied (not found, or onError while the registry is down);
 *   denied 15 %  a tag-only reference: denied before any registry read;
 *   plain  10 %  a pod without model references: admitted;
 *   bad    15 %  a malformed body: 400.
 * Every minute: RSS, heap, event-loop delay p99 (worst 10 s window), open
 * handles (fewest in a 10 s sample) and file descriptors of the server,
 * reviews and errors. At the end,
 * the targets: RSS and handles grew under 5 % between minute 10 (a third of
 * the run when shorter) and the end, ELD p99 under 20 ms, zero errors (an
 * answer other than the one expected, no answer, or one slower than 5 s).
 * It prints figures; it never fails.
 *
 *   npm run bench:soak     (SOAK_MINUTES, default 30; SOAK_RATE reviews/s, default 50;
 *                           SOAK_FLAP_EVERY_SECONDS default 120, SOAK_FLAP_DOWN_SECONDS default 20)
 */
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { startDistribution } from '../test/support/distribution.ts';
import type { RunningDistribution } from '../test/support/distribution.ts';
import { admissionReview, kubeObject } from '../test/support/objects.ts';
import { makeCerts } from '../test/support/webhook-server.ts';
import { pushModelPacks } from '../test/chaos/lib/model-packs.ts';
import { blob, ociManifest } from '../test/support/artifacts.ts';
import { closePushAgents, pushManifest } from '../test/support/push.ts';
import { SIMPLE_SIGNING, legacySignature, simpleSigningPayload } from '../test/support/sigstore/cosign.ts';
import type { Signer } from '../test/support/sigstore/cosign.ts';
import { ensureBuilt } from './lib/build.ts';
import { spawnModelgate } from './lib/servers.ts';

const number = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const MINUTES = number('SOAK_MINUTES', 30);
const RATE = number('SOAK_RATE', 50);
const FLAP_EVERY_S = number('SOAK_FLAP_EVERY_SECONDS', 120);
const FLAP_DOWN_S = number('SOAK_FLAP_DOWN_SECONDS', 20);
const SLOW_MS = 5_000;
const MODELS = 20;

const SIGNED = 10;

type Kind = 'warm' | 'signed' | 'cold' | 'denied' | 'plain' | 'bad';
const MIX: readonly [Kind, number][] = [
  ['warm', 30],
  ['signed', 15],
  ['cold', 15],
  ['denied', 15],
  ['plain', 10],
  ['bad', 15],
];
const kindAt = (index: number): Kind => {
  let slot = index % 100;
  for (const [kind, share] of MIX) {
    if (slot < share) return kind;
    slot -= share;
  }
  return 'plain';
};

const dir = await mkdtemp(join(tmpdir(), 'modelgate-soak-'));
const stale = ensureBuilt();
if (stale !== undefined) process.stdout.write(`rebuilt dist/ (${stale} was newer)\n`);

// The registry, on a fixed port and storage so that it comes back as it was.
let registry: RunningDistribution = await startDistribution({ dir: join(dir, 'registry') });
const { port: registryPort, storageDir } = registry;
const digests = await pushModelPacks(registry.url, 'soak/model', MODELS);
const host = registry.host;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signer: Signer = { kind: 'key', privateKey, publicKey };
const signedDigests = await pushModelPacks(registry.url, 'soak/signed', SIGNED);
for (const digest of signedDigests) {
  const layer = legacySignature(signer, simpleSigningPayload(`${host}/soak/signed`, digest));
  const signature = ociManifest({
    config: blob('{"architecture":"","os":""}', 'application/vnd.oci.image.config.v1+json'),
    layers: [blob(layer.payload, SIMPLE_SIGNING, layer.annotations)],
  });
  await pushManifest({ url: registry.url }, 'soak/signed', signature, `${digest.replace(':', '-')}.sig`);
}
await closePushAgents();
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString().trim().replaceAll('\n', '\n          ');

const policyFile = join(dir, 'policy.yaml');
writeFileSync(
  policyFile,
  `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: registry-models}
spec:
  match: {references: ["${host}/**"]}
  requireDigest: true
  onError: deny
  artifact: {types: [modelpack]}
---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: signed-models}
spec:
  match: {references: ["${host}/soak/signed"]}
  requireDigest: true
  onError: allow
  signatures:
    authorities:
      - name: release-key
        tlog: optional
        key: |
          ${publicPem}
---
apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: pinning}
spec: {match: {namespaces: ["team-*"]}, requireDigest: true}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  defaultAction: allow
  registries: [{host: "${host}", insecure: true}]
  timeouts: {requestSeconds: 1, totalSeconds: 2}
`,
);
const certs = await makeCerts(join(dir, 'certs'));
const probeFile = join(dir, 'probe.jsonl');
const log = openSync(join(dir, 'server.log'), 'a');
const server = await spawnModelgate(
  certs.dir,
  certs.ca,
  ['--policy', policyFile],
  { NODE_OPTIONS: `--import=${join(import.meta.dirname, 'lib', 'soak-probe.js')}`, SOAK_PROBE_FILE: probeFile, MODELGATE_LOG_LEVEL: 'warn' },
  { stdout: log },
);
closeSync(log);

const pool = new Pool(server.origin, { connections: 8, connect: { ca: certs.ca, servername: 'localhost' } });
const body = (kind: Kind, index: number): string => {
  if (kind === 'bad') return `{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": ${index}`;
  const reference = {
    warm: `${host}/soak/model@${digests[index % MODELS]}`,
    signed: `${host}/soak/signed@${signedDigests[index % SIGNED]}`,
    cold: `${host}/soak/model@sha256:${randomBytes(32).toString('hex')}`,
    denied: `${host}/soak/model:v${index % 7}`,
    plain: undefined,
  }[kind];
  const volumes = reference === undefined ? [] : [{ name: 'model', reference }];
  return JSON.stringify(admissionReview(kubeObject('Pod', volumes, { namespace: 'team-soak' })));
};
const expected = (kind: Kind, status: number, allowed: boolean | undefined): boolean =>
  kind === 'bad' ? status === 400 : status === 200 && allowed === (kind === 'warm' || kind === 'signed' || kind === 'plain');

interface Minute {
  sent: number;
  errors: number;
  latencies: number[];
  errorSamples: string[];
}
const fresh = (): Minute => ({ sent: 0, errors: 0, latencies: [], errorSamples: [] });
let minute = fresh();
let sent = 0;
let totalErrors = 0;
const pending = new Set<Promise<void>>();

async function one(index: number): Promise<void> {
  const kind = kindAt(index);
  const bucket = minute;
  bucket.sent++;
  const started = performance.now();
  let problem: string | undefined;
  try {
    const response = await pool.request({ path: '/validate', method: 'POST', body: body(kind, index), headers: { 'content-type': 'application/json' } });
    const text = await response.body.text();
    const allowed = response.statusCode === 200 ? (JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed : undefined;
    if (!expected(kind, response.statusCode, allowed))
      problem = `${kind}: HTTP ${response.statusCode} ${(/"message":"((?:[^"\\]|\\.){0,600})/.exec(text)?.[1] ?? text).slice(0, 600)}`;
  } catch (error) {
    problem = `${kind}: ${(error as Error).message}`;
  }
  const ms = performance.now() - started;
  bucket.latencies.push(ms);
  if (problem === undefined && ms > SLOW_MS) problem = `${kind}: answered after ${Math.round(ms)} ms`;
  if (problem !== undefined) {
    bucket.errors++;
    totalErrors++;
    if (bucket.errorSamples.length < 3) bucket.errorSamples.push(problem);
  }
}

const sender = setInterval(() => {
  const request = one(sent++).finally(() => pending.delete(request));
  pending.add(request);
}, 1000 / RATE);

// The registry flaps: down FLAP_DOWN_S every FLAP_EVERY_S, back on the same port and storage.
let flaps = 0;
let flapping = true;
const flapper = (async () => {
  for (;;) {
    await sleep(FLAP_EVERY_S * 1000 - FLAP_DOWN_S * 1000);
    if (!flapping) return;
    await registry.stop();
    flaps++;
    await sleep(FLAP_DOWN_S * 1000);
    registry = await startDistribution({ dir: join(dir, 'registry'), port: registryPort, storageDir });
    if (!flapping) return;
  }
})();

interface Probe {
  readonly heapUsed: number;
  readonly eldP99Ms: number;
  readonly handles: number;
}
const probes = (): Probe[] => {
  try {
    return readFileSync(probeFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Probe);
  } catch {
    return [];
  }
};
const rssOf = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const fdsOf = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
const p99 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)] ?? 0;

interface Row {
  readonly minute: number;
  readonly rss: number;
  readonly heap: number;
  readonly eldP99: number;
  readonly handles: number;
  readonly fds: number;
}
const rows: Row[] = [];
process.stdout.write(
  `soak: ${MINUTES} min at ${RATE} reviews/s (${MIX.map(([kind, share]) => `${kind} ${share}%`).join(', ')}); registry down ${FLAP_DOWN_S} s every ${FLAP_EVERY_S} s; server pid ${server.pid}, files in ${dir}\n`,
);
process.stdout.write('minute   RSS MiB  heap MiB  ELD p99 ms  handles  fds  reviews  errors  latency p99 ms\n');
let seen = 0;
for (let m = 1; m <= MINUTES; m++) {
  await sleep(60_000);
  const done = minute;
  minute = fresh();
  const windows = probes();
  const recent = windows.slice(seen);
  seen = windows.length;
  const last = recent.at(-1);
  const row: Row = {
    minute: m,
    rss: rssOf(server.pid),
    heap: last?.heapUsed ?? 0,
    eldP99: Math.max(0, ...recent.map((probe) => probe.eldP99Ms)),
    // The floor of the minute's samples: in-flight requests come and go, a leak raises the floor.
    handles: recent.length === 0 ? 0 : Math.min(...recent.map((probe) => probe.handles)),
    fds: fdsOf(server.pid),
  };
  rows.push(row);
  process.stdout.write(
    `${String(m).padStart(6)}  ${mib(row.rss).padStart(8)}  ${mib(row.heap).padStart(8)}  ${row.eldP99.toFixed(1).padStart(10)}  ${String(row.handles).padStart(7)}  ${String(row.fds).padStart(3)}  ${String(done.sent).padStart(7)}  ${String(done.errors).padStart(6)}  ${p99(done.latencies).toFixed(1).padStart(14)}${done.errorSamples.length > 0 ? `   e.g. ${done.errorSamples.join(' | ')}` : ''}\n`,
  );
}
clearInterval(sender);
flapping = false;
await Promise.all([...pending]);
await pool.close();
await server.stop();
await registry.stop();
void flapper;

const baselineMinute = Math.min(10, Math.max(1, Math.ceil(MINUTES / 3)));
const baseline = rows[baselineMinute - 1];
const end = rows.at(-1);
const growth = (from: number, to: number): number => (from === 0 ? 0 : ((to - from) / from) * 100);
if (baseline !== undefined && end !== undefined) {
  const rssGrowth = growth(baseline.rss, end.rss);
  const handleGrowth = growth(baseline.handles, end.handles);
  const fdGrowth = growth(baseline.fds, end.fds);
  const worstEld = Math.max(...rows.map((row) => row.eldP99));
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  process.stdout.write(`\n${sent} reviews, ${totalErrors} errors; the registry went down ${flaps} time(s)\n`);
  process.stdout.write(`targets (from minute ${baselineMinute} to minute ${end.minute}):\n`);
  process.stdout.write(`  RSS growth      ${rssGrowth.toFixed(1)} % (${mib(baseline.rss)} → ${mib(end.rss)} MiB)   target < 5 %: ${verdict(rssGrowth < 5)}\n`);
  process.stdout.write(`  handles growth  ${handleGrowth.toFixed(1)} % (${baseline.handles} → ${end.handles})   target < 5 %: ${verdict(handleGrowth < 5)}\n`);
  process.stdout.write(`  fds growth      ${fdGrowth.toFixed(1)} % (${baseline.fds} → ${end.fds})\n`);
  process.stdout.write(`  ELD p99 worst   ${worstEld.toFixed(1)} ms   target < 20 ms: ${verdict(worstEld < 20)}\n`);
  process.stdout.write(`  errors          ${totalErrors}   target 0: ${verdict(totalErrors === 0)}\n`);
}
