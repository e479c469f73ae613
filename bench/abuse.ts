/**
 * Abuse benchmark (issue 9 §3): each attack runs against the real server
 * (`modelgate serve` in a child process with the production node flag, a
 * fresh process per attack, policy and Config from files), while an
 * "ordinary" client sends a small allowed review (one pinned image volume)
 * every 50 ms over a keep-alive connection of its own. Per attack: the server's
 * peak RSS (VmHWM, /proc/<pid>/status), whether it is still alive, and the
 * ordinary reviews' latency and failures during the attack. Targets: peak RSS
 * < 256 MiB, no process death, every ordinary review answered (200, allowed,
 * its own uid) within 1 s; where the attack itself sends reviews, each is
 * answered within the webhook timeout (5 s).
 *
 * The ordinary client runs in a worker thread (lib/ordinary.ts), so that the
 * attack's load generator cannot delay its sends; like the API server's Go
 * client it opens another connection only when its own is busy or was closed,
 * and measures each latency from the scheduled send time. In attack 2,
 * modelgate reads docker-registry through a caching front (lib/caching-front.ts):
 * on this machine docker-registry needs ~150 ms of CPU per 3.8 MiB manifest,
 * so 16 at once would time out in the registry and never reach modelgate.
 *
 *   1. four concurrent dry-run reviews of a 2.9 MB Pod with 11,000 unpinned image volumes, in a loop;
 *   2. 24 distinct 3.8 MiB manifests in docker-registry, pinned, under artifact rules, all reviewed at once, repeatedly;
 *   3. 40 stalled 8 MiB request bodies, reopened as the server closes them;
 *   4. 4,000 idle TLS connections, reopened as the server closes them;
 *   5. reviews of 1,000 image volumes over 50 slow registries (in-flight upstream requests counted there);
 *   6. a tenant glob `**a**a**a**a**a**a**b` in match.references, reviews of long references of `a`.
 *
 *   npm run bench:abuse     (BENCH_ABUSE_SECONDS per attack, default 20; BENCH_ABUSE_ONLY=1,4 to run some;
 *                            BENCH_ABUSE_REGISTRY_DELAY_MS for attack 5, default 1500;
 *                            BENCH_ABUSE_DIRECT_REGISTRY=1: attack 2 without the caching front;
 *                            the server runs with the production node flags and malloc settings (package.json "config",
 *                            as the Dockerfile sets them: --max-old-space-size=160, MALLOC_ARENA_MAX=2, ...);
 *                            BENCH_ABUSE_SERVER_ENV="NAME=value …" added to the server's environment, e.g.
 *                            NODE_OPTIONS=--import=$PWD/bench/lib/memory-probe.js; the server's log is kept
 *                            in the run's directory, attack-N/server.log)
 */
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Pool } from 'undici';
import { blob, OCI_MANIFEST } from '../test/support/artifacts.ts';
import { startDistribution } from '../test/support/distribution.ts';
import type { RunningDistribution } from '../test/support/distribution.ts';
import { closePushAgents, pushBlob, putManifest } from '../test/support/push.ts';
import { goodLayers, modelFile, modelPack, modelPackConfig } from '../test/support/models.ts';
import { PINNED, admissionReview, kubeObject } from '../test/support/objects.ts';
import { makeCerts } from '../test/support/webhook-server.ts';
import { GLOB, GLOB_POLICY, PINNED_POLICY, artifactPolicies, bigManifests, bigPodReview, globReview } from './lib/abuse-payloads.ts';
import type { BigManifest } from './lib/abuse-payloads.ts';
import { ensureBuilt } from './lib/build.ts';
import { startCachingFront } from './lib/caching-front.ts';
import { now, percentile, startOrdinaryInWorker, summarize } from './lib/ordinary.ts';
import type { OrdinaryStats } from './lib/ordinary.ts';
import { watchMemory } from './lib/process-watch.ts';
import type { MemoryFigures } from './lib/process-watch.ts';
import { PRODUCTION_NODE_FLAGS, spawnModelgate } from './lib/servers.ts';
import type { ModelgateProcess } from './lib/servers.ts';
import { startSlowRegistries } from './lib/slow-registries.ts';
import { holdConnections } from './lib/tls-hold.ts';

const MiB = 1024 * 1024;
const SECONDS = Number(process.env['BENCH_ABUSE_SECONDS'] ?? '20');
const ONLY = (process.env['BENCH_ABUSE_ONLY'] ?? '')
  .split(',')
  .filter((item) => item.trim() !== '')
  .map(Number);
const REGISTRY_DELAY_MS = Number(process.env['BENCH_ABUSE_REGISTRY_DELAY_MS'] ?? '1500');
/**
 * Node 24 sizes V8's old generation from the cgroup memory limit (libuv's constrained memory): a
 * quarter of it, times two on 64-bit, i.e. 128 MiB in the Deployment's 256Mi. Without such a limit
 * here, the server's heap limit comes from the host's RAM and V8 collects far more lazily.
 */
/** Diagnosis only: extra environment for the server (`NAME=value` pairs separated by spaces; a value may hold spaces). */
const SERVER_ENV: Record<string, string> = Object.fromEntries(
  (process.env['BENCH_ABUSE_SERVER_ENV'] ?? '')
    .trim()
    .split(/\s+(?=[A-Z_][A-Z0-9_]*=)/)
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const RSS_LIMIT = 256 * MiB;
const ORDINARY_LIMIT_MS = 1000;
const WEBHOOK_TIMEOUT_MS = 5000;
const ORDINARY_INTERVAL_MS = 50;
/** The ordinary client runs this long before an attack starts (not counted). */
const WARM_UP_MS = 1000;
const WEIGHT = modelFile('x', 'x').mediaType;

const benchStarted = performance.now();
const rebuilt = ensureBuilt();
if (rebuilt !== undefined) console.log(`dist/ was older than src/ (${rebuilt}): rebuilt it, since bin/modelgate.js runs dist/`);
const dir = await mkdtemp(join(tmpdir(), 'modelgate-abuse-'));
const certs = await makeCerts(join(dir, 'certs'));
const { ca } = certs;

const config = (spec: string): string => `apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
${spec}`;

// The ordinary review: one pinned image volume, allowed by the digest-pinning policy alone.
const ordinaryTemplate = JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]))).replace(
  /"uid":"0df28fbd[^"]*"/,
  '"uid":"@UID@"',
);

// ---------------------------------------------------------------------------------------------
// Measuring one attack

interface AttackContext {
  readonly server: ModelgateProcess;
  /** performance.now() at which the attack stops sending. */
  readonly until: number;
  readonly dir: string;
}

interface AttackReport {
  /** Lines describing what the attack did and saw. */
  readonly lines: readonly string[];
  /** Slowest answer to a review the attack sent itself (ms), when it sent reviews. */
  readonly slowestReview?: number;
  /** Reviews of the attack itself left unanswered (errors, not HTTP answers). */
  readonly unanswered?: number;
}

interface Attack {
  readonly id: number;
  readonly title: string;
  readonly policy: string;
  readonly config: string;
  run(context: AttackContext): Promise<AttackReport>;
  /** Stops what the attack started besides the server (registries). */
  cleanUp?(): Promise<void>;
}

interface Outcome {
  readonly attack: Attack;
  readonly memory: MemoryFigures;
  readonly startRss: number;
  readonly alive: boolean;
  readonly exitReason: string | undefined;
  readonly ordinary: OrdinaryStats;
  readonly report: AttackReport;
  readonly seconds: number;
  readonly checks: readonly { readonly what: string; readonly ok: boolean }[];
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
const ms = (value: number): string => (Number.isNaN(value) ? '–' : value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`);
const counts = (map: ReadonlyMap<string, number>): string =>
  map.size === 0
    ? 'none'
    : [...map]
        .sort((a, b) => b[1] - a[1])
        .map(([key, value]) => `${key} ×${value}`)
        .join(', ');
const bump = (map: Map<string, number>, key: string): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};
const latencySummary = (values: readonly number[]): string => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 'none answered' : `p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) as number)}`;
};

async function measure(attack: Attack): Promise<Outcome> {
  const attackDir = join(dir, `attack-${attack.id}`);
  await mkdir(attackDir, { recursive: true });
  const policyFile = join(attackDir, 'policy.yaml');
  const configFile = join(attackDir, 'config.yaml');
  await writeFile(policyFile, attack.policy);
  await writeFile(configFile, attack.config);
  const log = openSync(join(attackDir, 'server.log'), 'w');
  const server = await spawnModelgate(certs.dir, ca, ['--policy', policyFile, '--config', configFile], SERVER_ENV, { stdout: log }).finally(() =>
    closeSync(log),
  );
  const memory = watchMemory(server.pid, 50);
  const startRss = memory.read().maxRss;
  const ordinary = startOrdinaryInWorker(server.origin, ca, ordinaryTemplate, ORDINARY_INTERVAL_MS);
  await sleep(WARM_UP_MS);
  const from = now();
  let report: AttackReport;
  try {
    report = await attack.run({ server, until: performance.now() + SECONDS * 1000, dir: attackDir });
  } catch (error) {
    report = { lines: [`the attack itself failed: ${(error as Error).stack ?? String(error)}`] };
  }
  const to = now();
  const figures = memory.read();
  const run = await ordinary.stop();
  memory.stop();
  const alive = server.alive();
  const exitReason = server.exitReason();
  await server.stop();
  const stats = summarize(run, from, to);
  const checks = [
    { what: 'peak RSS < 256 MiB', ok: figures.hwm < RSS_LIMIT },
    { what: 'alive', ok: alive },
    { what: 'every ordinary review answered within 1 s', ok: stats.failed === 0 && stats.sent > 0 && stats.max <= ORDINARY_LIMIT_MS },
    ...(report.slowestReview === undefined
      ? []
      : [{ what: 'attack reviews answered within 5 s', ok: (report.unanswered ?? 0) === 0 && report.slowestReview <= WEBHOOK_TIMEOUT_MS }]),
  ];
  return { attack, memory: figures, startRss, alive, exitReason, ordinary: stats, report, seconds: (to - from) / 1000, checks };
}

function print(outcome: Outcome): void {
  const { attack, memory, ordinary } = outcome;
  console.log(`\n${attack.id}. ${attack.title} (${outcome.seconds.toFixed(1)} s)`);
  for (const line of outcome.report.lines) console.log(`   ${line}`);
  console.log(
    `   server: peak RSS (VmHWM) ${mib(memory.hwm)}; largest VmRSS sampled every 50 ms ${mib(memory.maxRss)} (RssAnon ${mib(memory.maxAnon)}); at start ${mib(outcome.startRss)}; alive afterwards: ${outcome.alive ? 'yes' : `NO (${outcome.exitReason ?? '?'})`}`,
  );
  console.log(
    `   ordinary reviews: ${ordinary.sent} sent, ${ordinary.failed} failed${ordinary.failed > 0 ? ` (${counts(ordinary.failures)})` : ''}; latency p50 ${ms(ordinary.p50)}, p99 ${ms(ordinary.p99)}, max ${ms(ordinary.max)}; new connections ${ordinary.connections}; the generator's own send delay at most ${ms(ordinary.maxLag)}`,
  );
  const missed = outcome.checks.filter((check) => !check.ok);
  console.log(`   ${missed.length === 0 ? 'OK' : `MISSED: ${missed.map((check) => check.what).join('; ')}`}`);
}

// ---------------------------------------------------------------------------------------------
// Load helpers

function pool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, connect: { ca, servername: 'localhost' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
}

interface Answer {
  readonly status: number;
  readonly latencyMs: number;
  readonly bytes: number;
  readonly allowed: boolean | undefined;
  readonly message: string | undefined;
}

async function post(client: Pool | Client, body: string): Promise<Answer> {
  const started = performance.now();
  const response = await client.request({ path: '/validate', method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await response.body.text();
  const latencyMs = performance.now() - started;
  let allowed: boolean | undefined;
  let message: string | undefined;
  try {
    const answer = JSON.parse(text) as { response?: { allowed?: boolean; status?: { message?: string } }; error?: string };
    allowed = answer.response?.allowed;
    message = answer.response?.status?.message ?? answer.error;
  } catch {
    // not JSON
  }
  return { status: response.statusCode, latencyMs, bytes: Buffer.byteLength(text), allowed, message };
}

/** Runs `workers` loops of `send` until `until`; collects answers and errors. */
async function loop(until: number, workers: number, send: (worker: number) => Promise<Answer>): Promise<{ answers: Answer[]; errors: Map<string, number> }> {
  const answers: Answer[] = [];
  const errors = new Map<string, number>();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < until) {
        try {
          answers.push(await send(worker));
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          bump(errors, typeof code === 'string' ? code : (error as Error).message.slice(0, 60));
          await sleep(20);
        }
      }
    }),
  );
  return { answers, errors };
}

function describeAnswers(answers: readonly Answer[], errors: ReadonlyMap<string, number>): string[] {
  const statuses = new Map<string, number>();
  for (const answer of answers) bump(statuses, answer.status === 200 ? (answer.allowed === true ? '200 allowed' : '200 denied') : `HTTP ${answer.status}`);
  const largest = Math.max(0, ...answers.map((answer) => answer.bytes));
  return [
    `attack reviews: ${answers.length} answered (${counts(statuses)})${errors.size > 0 ? `, ${[...errors.values()].reduce((a, b) => a + b, 0)} unanswered (${counts(errors)})` : ''}; largest answer ${(largest / 1024).toFixed(1)} KiB`,
    `attack review latency: ${latencySummary(answers.map((answer) => answer.latencyMs))}`,
  ];
}

const errorTotal = (errors: ReadonlyMap<string, number>): number => [...errors.values()].reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------------------------------------
// 1. Four concurrent dry-run reviews of a ~2.9 MB Pod with 11,000 unpinned image volumes

const attack1: Attack = {
  id: 1,
  title: 'four concurrent dry-run reviews of a 2.9 MB Pod with 11,000 unpinned image volumes, in a loop',
  policy: PINNED_POLICY,
  config: config('  registries: []\n'),
  async run({ server, until }) {
    const body = bigPodReview(11_000, 2_900_000);
    const client = pool(server.origin, 4);
    try {
      const { answers, errors } = await loop(until, 4, () => post(client, body));
      const sample = answers
        .find((answer) => answer.status === 200)
        ?.message?.split('\n')[0]
        ?.slice(0, 160);
      return {
        lines: [
          `review body ${(body.length / 1e6).toFixed(2)} MB (${Buffer.byteLength(body)} bytes)`,
          ...describeAnswers(answers, errors),
          ...(sample === undefined ? [] : [`denial: ${sample}`]),
        ],
        slowestReview: Math.max(0, ...answers.map((answer) => answer.latencyMs)),
        unanswered: errorTotal(errors),
      };
    } finally {
      await client.close();
    }
  },
};

// ---------------------------------------------------------------------------------------------
// 2. 24 distinct ~3.8 MiB manifests in docker-registry

/** The reason of a denial's first failed rule, digests shortened, for counting alike denials together. */
function denialReason(message: string | undefined): string {
  const line = (message ?? '').split('\n').find((text) => /^\s+(?:policy "[^"]*" )?rule \w+: /.test(text)) ?? (message ?? '').split('\n', 1)[0] ?? '';
  return line
    .replace(/^\s+(?:policy "[^"]*" )?rule \w+: /, '')
    .replace(/sha256:[0-9a-f]{64}/g, 'sha256:…')
    .replace(/127\.0\.0\.1:\d+/g, 'the registry')
    .slice(0, 150);
}

async function attack2(): Promise<Attack> {
  // modelgate reads the manifests through a caching front (lib/caching-front.ts), filled before the
  // attack: docker-registry here spends ~150 ms of CPU per 3.8 MiB manifest, on the cores modelgate
  // uses, and 16 at once exceed modelgate's 2 s per request. Read directly, the registry gets one
  // core of Go threads at most (GOMAXPROCS), so that it does not starve the server.
  const direct = process.env['BENCH_ABUSE_DIRECT_REGISTRY'] === '1';
  const goMaxProcs = process.env['GOMAXPROCS'];
  if (direct) process.env['GOMAXPROCS'] = '1';
  const registry: RunningDistribution = await startDistribution({ dir: join(dir, 'registry') }).finally(() => {
    if (goMaxProcs === undefined) delete process.env['GOMAXPROCS'];
    else process.env['GOMAXPROCS'] = goMaxProcs;
  });
  const target = { url: registry.url };
  const layer = blob('weights: 0.1 0.2 0.3', WEIGHT);
  const configBlob = modelPackConfig({}, [layer]);
  await pushBlob(target, 'models/big', layer);
  await pushBlob(target, 'models/big', configBlob);
  const started = performance.now();
  const manifests = bigManifests(layer, configBlob);
  for (let i = 0; i < manifests.length; i += 4) {
    await Promise.all(manifests.slice(i, i + 4).map((manifest) => putManifest(target, 'models/big', manifest.digest, OCI_MANIFEST, manifest.bytes)));
  }
  await closePushAgents();
  const front = direct ? undefined : await startCachingFront(registry.url);
  if (front !== undefined) for (const manifest of manifests) await front.warm(`/v2/models/big/manifests/${manifest.digest}`, OCI_MANIFEST);
  const pushed = `pushed ${manifests.length} manifests of ${mib(Math.min(...manifests.map((m) => m.bytes.length)))}–${mib(Math.max(...manifests.map((m) => m.bytes.length)))} (${[...new Set(manifests.map((m) => m.kind))].join('; ')}; layers ${[...new Set(manifests.map((m) => m.layers))].join(', ')}) to docker-registry at ${registry.host} in ${((performance.now() - started) / 1000).toFixed(1)} s${front === undefined ? '; modelgate reads docker-registry directly' : `; modelgate reads them through a caching front at ${front.host}`}`;
  const host = front?.host ?? registry.host;
  return {
    id: 2,
    title: '24 distinct 3.8 MiB manifests in docker-registry, pinned, artifact rules, all 24 reviewed at once, repeatedly',
    policy: artifactPolicies(`${host}/**`),
    config: config(`  registries: [{host: "${host}", insecure: true}]\n`),
    async run({ server, until }) {
      const bodies = manifests.map((manifest) =>
        JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${host}/models/big@${manifest.digest}` }]))),
      );
      const client = pool(server.origin, manifests.length);
      const answers: Answer[] = [];
      const errors = new Map<string, number>();
      const byKind = new Map<string, Map<string, number>>();
      let rounds = 0;
      try {
        while (performance.now() < until) {
          rounds++;
          await Promise.all(
            bodies.map(async (body, i) => {
              try {
                const answer = await post(client, body);
                answers.push(answer);
                const kind = (manifests[i] as BigManifest).kind.slice(0, 1);
                const outcome =
                  answer.status !== 200 ? `HTTP ${answer.status}` : answer.allowed === true ? 'allowed' : `denied (${denialReason(answer.message)})`;
                let map = byKind.get(kind);
                if (map === undefined) {
                  map = new Map();
                  byKind.set(kind, map);
                }
                bump(map, outcome);
              } catch (error) {
                const code = (error as { code?: unknown }).code;
                bump(errors, typeof code === 'string' ? code : (error as Error).message.slice(0, 60));
              }
            }),
          );
        }
      } finally {
        await client.close();
      }
      return {
        lines: [
          pushed,
          `${rounds} rounds of 24 reviews`,
          ...describeAnswers(answers, errors),
          ...[...byKind].sort().map(([kind, map]) => `manifests ${kind}: ${counts(map)}`),
        ],
        slowestReview: Math.max(0, ...answers.map((answer) => answer.latencyMs)),
        unanswered: errorTotal(errors),
      };
    },
    cleanUp: async () => {
      await front?.close();
      await registry.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 3. 40 stalled 8 MiB request bodies

/** A large review the API server could send (a Pod with 200 KB of annotations), for a look at what stalled bodies do to it. */
const largeLegitBody = JSON.stringify(
  admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }], { annotations: { 'example.com/notes': 'n'.repeat(200_000) } })),
);

const attack3: Attack = {
  id: 3,
  title: '40 stalled 8 MiB request bodies (headers, a few bytes, then nothing), reopened as the server closes them',
  policy: PINNED_POLICY,
  config: config('  registries: []\n'),
  async run({ server, until }) {
    const port = Number(new URL(server.origin).port);
    const hold = holdConnections({
      port,
      ca,
      count: 40,
      opening: 40,
      afterHandshake: (socket) => {
        socket.write(
          'POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 8388608\r\n\r\n{"apiVersion":"admission.k8s.io/v1","kind":"Adm',
        );
      },
    });
    // Meanwhile, one large legitimate review a second (informational, not a target).
    const probe = new Client(server.origin, { connect: { ca, servername: 'localhost' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const large = new Map<string, number>();
    const largeLatencies: number[] = [];
    while (performance.now() < until) {
      const next = performance.now() + 1000;
      try {
        const answer = await post(probe, largeLegitBody);
        bump(large, answer.status === 200 ? (answer.allowed === true ? '200 allowed' : '200 denied') : `HTTP ${answer.status}`);
        largeLatencies.push(answer.latencyMs);
      } catch (error) {
        bump(large, String((error as { code?: unknown }).code ?? (error as Error).message.slice(0, 40)));
      }
      await sleep(Math.max(0, Math.min(next, until) - performance.now()));
    }
    await hold.stop();
    await probe.close().catch(() => undefined);
    const { stats } = hold;
    return {
      lines: [
        `stalled bodies: ${stats.handshakes} connections opened (${stats.maxOpen} at most at once), ${stats.closed} closed by the server; the server answered them with ${counts(stats.statuses)}`,
        `(not a target) a ${(largeLegitBody.length / 1024).toFixed(0)} KiB legitimate review once a second meanwhile: ${counts(large)}; latency ${latencySummary(largeLatencies)}`,
      ],
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 4. 4,000 idle TLS connections

const attack4: Attack = {
  id: 4,
  title: '4,000 idle TLS connections (handshake, then nothing), reopened as the server closes them',
  policy: PINNED_POLICY,
  config: config('  registries: []\n'),
  async run({ server, until }) {
    const port = Number(new URL(server.origin).port);
    const hold = holdConnections({ port, ca, count: 4000, opening: 128 });
    let maxOpen = 0;
    while (performance.now() < until) {
      await sleep(Math.min(250, Math.max(0, until - performance.now())));
      maxOpen = Math.max(maxOpen, hold.stats.open);
    }
    const seconds = SECONDS;
    await hold.stop();
    const { stats } = hold;
    return {
      lines: [
        `idle connections: ${stats.handshakes} handshakes completed (${(stats.handshakes / seconds).toFixed(0)}/s), ${stats.failedHandshakes} failed before completing, ${stats.closed} closed; at most ${stats.maxOpen} open at once as the client saw them (the server holds ≤ 256, the rest are closed and reopened)`,
      ],
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 5. 1,000 image volumes over 50 slow registries

const REGISTRIES = 50;
const VOLUMES = 1000;

async function attack5(): Promise<Attack> {
  const slow = await startSlowRegistries(REGISTRIES, REGISTRY_DELAY_MS);
  const layers = goodLayers();
  const configBlob = modelPackConfig({}, layers);
  // Distinct digests every round, so that nothing is cached from the round before.
  const rounds = Math.ceil(SECONDS / 3) + 2;
  const references: string[][] = [];
  for (let round = 0; round < rounds; round++) {
    const list: string[] = [];
    for (let i = 0; i < VOLUMES; i++) {
      const manifest = modelPack(layers, configBlob, { 'org.opencontainers.image.version': `round-${round}-${i}` });
      slow.add(manifest.digest, manifest.mediaType, manifest.bytes);
      list.push(`${slow.hosts[i % REGISTRIES]}/models/m${i}@${manifest.digest}`);
    }
    references.push(list);
  }
  return {
    id: 5,
    title: `reviews of ${VOLUMES} image volumes over ${REGISTRIES} registries that answer after ${REGISTRY_DELAY_MS} ms (maxReferencesPerObject: ${VOLUMES})`,
    policy: artifactPolicies('127.0.0.1:*/**'),
    config: config(
      `  limits: {maxReferencesPerObject: ${VOLUMES}}\n  registries:\n${slow.hosts.map((host) => `    - {host: "${host}", insecure: true}\n`).join('')}`,
    ),
    async run({ server, until }) {
      slow.reset();
      const client = new Client(server.origin, { connect: { ca, servername: 'localhost' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
      const answers: Answer[] = [];
      const errors = new Map<string, number>();
      const outcomes = new Map<string, number>();
      let round = 0;
      try {
        while (performance.now() < until && round < references.length) {
          const volumes = (references[round] as string[]).map((reference, i) => ({ name: `model-${i}`, reference }));
          round++;
          const body = JSON.stringify(admissionReview(kubeObject('Pod', volumes)));
          try {
            const answer = await post(client, body);
            answers.push(answer);
            bump(outcomes, answer.status !== 200 ? `HTTP ${answer.status}` : answer.allowed === true ? 'allowed' : 'denied');
          } catch (error) {
            const code = (error as { code?: unknown }).code;
            bump(errors, typeof code === 'string' ? code : (error as Error).message.slice(0, 60));
          }
          // A moment between reviews: the upstream requests modelgate abandoned at the deadline are
          // seen closed here before the next review's requests arrive (else both count as in flight).
          await sleep(250);
        }
      } finally {
        await client.close();
      }
      const firstLine = answers
        .find((answer) => answer.allowed === false)
        ?.message?.split('\n')
        .slice(0, 3)
        .join(' | ')
        .slice(0, 240);
      return {
        lines: [
          `${answers.length} reviews of ${VOLUMES} volumes (${counts(outcomes)}${errors.size > 0 ? `; unanswered: ${counts(errors)}` : ''}), each answered in: ${answers.map((answer) => ms(answer.latencyMs)).join(', ')}`,
          `upstream: ${slow.stats.requests} requests to the fake registries, at most ${slow.stats.maxInFlight} in flight at once as counted here (limit 64), at most ${slow.stats.maxInFlightPerHost} at one host (limit 16); ${slow.stats.abandoned} abandoned by modelgate before their answer (its deadline), ${slow.stats.abandonedAtOnce} of them within 20 ms of being sent (an abandoned request counts here until its connection is seen closed, so these can lift the count over 64 for a moment)`,
          `largest answer ${(Math.max(0, ...answers.map((answer) => answer.bytes)) / 1024).toFixed(1)} KiB${firstLine === undefined ? '' : `; denial begins: ${firstLine}`}`,
        ],
        slowestReview: Math.max(0, ...answers.map((answer) => answer.latencyMs)),
        unanswered: errorTotal(errors),
      };
    },
    cleanUp: () => slow.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// 6. A tenant glob that backtracking would explode on

const attack6: Attack = {
  id: 6,
  title: `a tenant glob ${GLOB} (and **/${GLOB}) in match.references; reviews of 64 long references of "a", 4 at a time`,
  policy: `${PINNED_POLICY}---
${GLOB_POLICY}`,
  config: config('  registries: []\n'),
  async run({ server, until }) {
    const body = globReview();
    const client = pool(server.origin, 4);
    try {
      const { answers, errors } = await loop(until, 4, () => post(client, body));
      return {
        lines: [`review body ${(body.length / 1024).toFixed(0)} KiB, 64 references (up to 100,000 characters)`, ...describeAnswers(answers, errors)],
        slowestReview: Math.max(0, ...answers.map((answer) => answer.latencyMs)),
        unanswered: errorTotal(errors),
      };
    } finally {
      await client.close();
    }
  },
};

// ---------------------------------------------------------------------------------------------

const selected = (id: number): boolean => ONLY.length === 0 || ONLY.includes(id);
console.log(
  `modelgate abuse benchmark: ${SECONDS} s per attack, a fresh \`modelgate serve\` (node ${PRODUCTION_NODE_FLAGS.join(' ')}) per attack, ordinary review every ${ORDINARY_INTERVAL_MS} ms; Node ${process.version}; files in ${dir}${Object.keys(SERVER_ENV).length > 0 ? `; server environment: ${JSON.stringify(SERVER_ENV)}` : ''}`,
);
const outcomes: Outcome[] = [];
const plan: (() => Promise<Attack>)[] = [async () => attack1, attack2, async () => attack3, async () => attack4, attack5, async () => attack6];
for (const [index, make] of plan.entries()) {
  if (!selected(index + 1)) continue;
  const attack = await make();
  try {
    const outcome = await measure(attack);
    print(outcome);
    outcomes.push(outcome);
  } finally {
    await attack.cleanUp?.();
  }
}

const yesNo = (ok: boolean): string => (ok ? 'yes' : 'NO');
console.log('\nsummary (targets: peak RSS < 256 MiB, alive, every ordinary review answered within 1 s; attack reviews within 5 s where sent)\n');
console.log('| attack | peak RSS (VmHWM) | largest RssAnon | alive | ordinary p99 | ordinary max | ordinary failed | slowest attack review | result |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const outcome of outcomes) {
  const missed = outcome.checks.filter((check) => !check.ok);
  console.log(
    `| ${outcome.attack.id} | ${mib(outcome.memory.hwm)} | ${mib(outcome.memory.maxAnon)} | ${yesNo(outcome.alive)} | ${ms(outcome.ordinary.p99)} | ${ms(outcome.ordinary.max)} | ${outcome.ordinary.failed} / ${outcome.ordinary.sent} | ${outcome.report.slowestReview === undefined ? '–' : ms(outcome.report.slowestReview)} | ${missed.length === 0 ? 'OK' : `MISSED (${missed.map((check) => check.what).join('; ')})`} |`,
  );
}
console.log(`\ntotal ${((performance.now() - benchStarted) / 1000).toFixed(0)} s`);
process.exitCode = outcomes.every((outcome) => outcome.checks.every((check) => check.ok)) ? 0 : 1;
