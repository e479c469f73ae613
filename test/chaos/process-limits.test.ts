/**
 * Process limits: `modelgate serve` from dist/, with the production node flags
 * and malloc settings (package.json "config", as the Dockerfile sets them), in
 * the Deployment's memory limit (256Mi: a cgroup v1 memory group with
 * memory.limit_in_bytes and, where swap is accounted, memsw), under the
 * attacks of bench/abuse.ts all at once while ordinary reviews flow:
 *
 *   2.9 MB Pods with 11,000 image volumes (two at a time); 24 ModelPack manifests
 *   of 3.8 MiB under artifact rules (all at once); 40 stalled 8 MiB bodies; 2,000
 *   idle TLS connections; reviews of 1,000 references over 10 registries that
 *   answer after 1.5 s; long references against a backtracking-prone glob; JSON
 *   nested 100,000 deep. Each attacking loop rests CHAOS_LIMITS_PAUSE_MS between
 *   its reviews.
 *
 * Asserted: the process is alive at the end and the OOM killer never ran in
 * its group; the group's peak (max_usage_in_bytes) stayed under the limit;
 * every ordinary review was answered, allowed, with its own uid, within the
 * API server's webhook timeout; every attack review was answered. Where no
 * memory cgroup can be made (no v1 controller, not root) the test says so and
 * asserts the peak of the process's anonymous memory (RssAnon) instead, the
 * heap bounded by the node flags.
 *
 *   CHAOS_LIMITS_SECONDS (default 30): how long the attacks run.
 *   CHAOS_LIMITS_PAUSE_MS (default 1000): the rest between an attacker's reviews (0: a flood).
 *   CHAOS_LIMITS_NO_CGROUP=1: the fallback without a cgroup.
 *   CHAOS_LIMITS_ONLY, CHAOS_LIMITS_NODE_FLAGS, CHAOS_LIMITS_SERVER_LOG: for diagnosis.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, Pool, request } from 'undici';
import { GLOB_POLICY, artifactPolicies, bigManifests, bigPodReview, deepReview, globReview } from '../../bench/lib/abuse-payloads.ts';
import { ensureBuilt } from '../../bench/lib/build.ts';
import { now, startOrdinaryInWorker, summarize } from '../../bench/lib/ordinary.ts';
import { watchMemory } from '../../bench/lib/process-watch.ts';
import { PRODUCTION_ENV, PRODUCTION_NODE_FLAGS } from '../../bench/lib/servers.ts';
import { startSlowRegistries } from '../../bench/lib/slow-registries.ts';
import type { SlowRegistries } from '../../bench/lib/slow-registries.ts';
import { holdConnections } from '../../bench/lib/tls-hold.ts';
import type { Hold, HoldOptions } from '../../bench/lib/tls-hold.ts';
import { REPO_ROOT, makeModelgateCerts } from '../e2e/lib/modelgate.ts';
import type { ModelgateCerts } from '../e2e/lib/modelgate.ts';
import { freePort } from '../e2e/lib/ports.ts';
import { scratchDir } from '../e2e/lib/workdir.ts';
import { OCI_MANIFEST, blob } from '../support/artifacts.ts';
import { goodLayers, modelFile, modelPack, modelPackConfig } from '../support/models.ts';
import { PINNED, admissionReview, kubeObject } from '../support/objects.ts';
import { createMemoryCgroup } from './lib/memory-cgroup.ts';
import type { CgroupFigures, MemoryCgroup } from './lib/memory-cgroup.ts';

const MiB = 1024 * 1024;
/** manifests/base/deployment.yaml: resources.limits.memory. */
const LIMIT = 256 * MiB;
const SECONDS = Number(process.env['CHAOS_LIMITS_SECONDS'] ?? '30');
const ATTACKS = ['bigPod', 'bigManifests', 'manyReferences', 'globAndDeep', 'stalled', 'idle'] as const;
/**
 * Each attacking loop rests this long between its reviews: at 0 (a flood) the attacks
 * together keep modelgate's one event loop busy all the time on a shared 2-core machine,
 * and ordinary reviews then wait seconds behind them whatever the memory does.
 */
const PAUSE_MS = Number(process.env['CHAOS_LIMITS_PAUSE_MS'] ?? '1000');
/** Diagnosis: the server's whole output goes to this file too; CHAOS_LIMITS_NODE_FLAGS (e.g. --trace-gc) are added to its node flags. */
const SERVER_LOG = process.env['CHAOS_LIMITS_SERVER_LOG'];
/** Diagnosis: `CHAOS_LIMITS_ONLY=bigPod,idle` runs some attacks only. */
const ONLY = new Set((process.env['CHAOS_LIMITS_ONLY'] ?? ATTACKS.join(',')).split(','));
/** The API server's timeoutSeconds for the webhook (manifests/base/validatingwebhookconfiguration.yaml). */
const WEBHOOK_TIMEOUT_MS = 5_000;
const SLOW_REGISTRIES = 10;
const SLOW_DELAY_MS = 1_500;
const REFERENCES = 1_000;

/** utime + stime of a process, from /proc/<pid>/stat (clock ticks of 10 ms). */
const cpuSecondsOf = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** Answers of one attack: HTTP statuses (with the verdict for 200), errors, slowest. */
class Tally {
  readonly outcomes = new Map<string, number>();
  slowestMs = 0;
  errors = 0;

  async post(pool: Pool, body: string): Promise<void> {
    const started = performance.now();
    try {
      const response = await pool.request({ path: '/validate', method: 'POST', body, headers: { 'content-type': 'application/json' } });
      const text = await response.body.text();
      this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
      const allowed = response.statusCode === 200 ? (JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed : undefined;
      this.#bump(response.statusCode === 200 ? (allowed === true ? 'allowed' : 'denied') : `HTTP ${response.statusCode}`);
    } catch (error) {
      this.errors++;
      this.#bump(String((error as { code?: unknown }).code ?? (error as Error).message.slice(0, 40)));
      await sleep(20);
    }
  }

  #bump(key: string): void {
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
  }

  toString(): string {
    return `${[...this.outcomes].map(([key, count]) => `${key} ×${count}`).join(', ') || 'none'}; slowest ${(this.slowestMs / 1000).toFixed(2)} s`;
  }
}

const config = (registries: readonly string[]): string =>
  `apiVersion: modelgate.dev/v1alpha1
kind: Config
spec:
  limits: {maxReferencesPerObject: ${REFERENCES}}
  registries:
${registries.map((host) => `    - {host: "${host}", insecure: true}\n`).join('')}`;

const POLICIES = `${artifactPolicies('127.0.0.1:*/**')}---
${GLOB_POLICY}`;

describe('process limits: modelgate serve in the Deployment’s 256Mi under every abuse attack at once', { timeout: 240_000 }, () => {
  let certs: ModelgateCerts;
  let cgroup: MemoryCgroup | undefined;
  let fallback = '';
  let server: ChildProcess | undefined;
  let origin = '';
  const logTail: string[] = [];
  let big: SlowRegistries;
  let slow: SlowRegistries;

  before(async () => {
    const rebuilt = ensureBuilt();
    if (rebuilt !== undefined) process.stdout.write(`# dist/ was older than ${rebuilt}: rebuilt\n`);
    certs = await makeModelgateCerts();
    [big, slow] = await Promise.all([startSlowRegistries(1, 0), startSlowRegistries(SLOW_REGISTRIES, SLOW_DELAY_MS)]);
    const dir = scratchDir('process-limits');
    writeFileSync(join(dir, 'policy.yaml'), POLICIES);
    writeFileSync(join(dir, 'config.yaml'), config([...big.hosts, ...slow.hosts]));
    const made = process.env['CHAOS_LIMITS_NO_CGROUP'] === '1' ? 'CHAOS_LIMITS_NO_CGROUP=1' : createMemoryCgroup(`modelgate-chaos-${process.pid}`, LIMIT);
    if (typeof made === 'string') fallback = made;
    else cgroup = made;
    const port = await freePort();
    origin = `https://127.0.0.1:${port}`;
    const args = [
      ...PRODUCTION_NODE_FLAGS,
      ...(process.env['CHAOS_LIMITS_NODE_FLAGS'] ?? '').split(' ').filter(Boolean),
      join(REPO_ROOT, 'bin', 'modelgate.js'),
      'serve',
      ...['--host', '127.0.0.1', '--port', String(port), '--tls-cert', certs.certFile, '--tls-key', certs.keyFile],
      ...['--policy', join(dir, 'policy.yaml'), '--config', join(dir, 'config.yaml')],
    ];
    const command = cgroup === undefined ? { command: process.execPath, args } : cgroup.wrap(process.execPath, args);
    // The log goes to a pipe, as to a container runtime (a file would charge its page cache to the group).
    server = spawn(command.command, command.args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...PRODUCTION_ENV, MODELGATE_LOG_LEVEL: 'info', MODELGATE_POLICY: '', MODELGATE_CONFIG: '' },
    });
    for (const stream of [server.stdout, server.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        if (SERVER_LOG !== undefined) appendFileSync(SERVER_LOG, chunk);
        logTail.push(chunk.slice(-2_000));
        if (logTail.length > 20) logTail.shift();
      });
    }
    const agent = new Agent({ connect: { ca: certs.caPem, servername: 'localhost' } });
    try {
      for (let ready = false; !ready; ) {
        assert.equal(server.exitCode, null, `modelgate exited before it was ready:\n${logTail.join('')}`);
        ready = await request(`${origin}/readyz`, { dispatcher: agent })
          .then(async (response) => {
            await response.body.text();
            return response.statusCode === 200;
          })
          .catch(() => false);
        if (!ready) await sleep(100);
      }
    } finally {
      await agent.close();
    }
  });

  after(async () => {
    if (server !== undefined && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000).then(() => server?.kill('SIGKILL'))]);
    }
    await cgroup?.remove();
    await big?.close();
    await slow?.close();
  });

  it('stays alive, never OOM-killed, under the limit, and ordinary reviews keep their answers', async () => {
    const pid = server?.pid as number;
    const memory = watchMemory(pid, 50);
    const { caPem: ca } = certs;
    // The large manifests (bench/abuse.ts attack 2) and the many references (attack 5, distinct digests per round).
    const layer = blob('weights: 0.1 0.2 0.3', modelFile('x', 'x').mediaType);
    const manifests = bigManifests(layer, modelPackConfig({}, [layer]));
    for (const manifest of manifests) big.add(manifest.digest, OCI_MANIFEST, manifest.bytes);
    const layers = goodLayers();
    const packConfig = modelPackConfig({}, layers);
    const manyReferences = (round: number): string =>
      JSON.stringify(
        admissionReview(
          kubeObject(
            'Pod',
            Array.from({ length: REFERENCES }, (_, i) => {
              const manifest = modelPack(layers, packConfig, { 'org.opencontainers.image.version': `round-${round}-${i}` });
              slow.add(manifest.digest, manifest.mediaType, manifest.bytes);
              return { name: `model-${i}`, reference: `${slow.hosts[i % SLOW_REGISTRIES]}/models/m${i}@${manifest.digest}` };
            }),
          ),
        ),
      );
    const bigPod = bigPodReview(11_000, 2_900_000);
    const deep = deepReview(100_000);
    assert.ok(deep.includes('[[[[') && deep.length > 200_000, 'the deep review nests');
    const glob = globReview();
    const bigReviews = manifests.map((manifest) =>
      JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${big.hosts[0]}/models/big@${manifest.digest}` }]))),
    );

    const ordinaryTemplate = JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]))).replace(
      /"uid":"[^"]*"/,
      '"uid":"@UID@"',
    );
    const ordinary = startOrdinaryInWorker(origin, ca, ordinaryTemplate, 50);
    await sleep(1_000);
    const from = now();
    const until = performance.now() + SECONDS * 1000;
    const pool = (connections: number): Pool =>
      new Pool(origin, { connections, pipelining: 1, connect: { ca, servername: 'localhost' }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const hold = (attack: (typeof ATTACKS)[number], options: Omit<HoldOptions, 'port' | 'ca'>): Hold | undefined =>
      ONLY.has(attack) ? holdConnections({ port: Number(new URL(origin).port), ca, ...options }) : undefined;
    const stalled = hold('stalled', {
      count: 40,
      opening: 40,
      afterHandshake: (socket) =>
        socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 8388608\r\n\r\n{"apiVersion":"adm'),
    });
    const idle = hold('idle', { count: 2_000, opening: 16 });
    const tallies = { bigPod: new Tally(), bigManifests: new Tally(), manyReferences: new Tally(), globAndDeep: new Tally() };
    const pools = [pool(2), pool(24), pool(1), pool(2)];
    const [bigPodPool, manifestPool, referencePool, globPool] = pools as [Pool, Pool, Pool, Pool];
    const rest = (): Promise<void> => sleep(PAUSE_MS);
    const running = (attack: keyof typeof tallies): boolean => ONLY.has(attack) && performance.now() < until;
    await Promise.all([
      sleep(SECONDS * 1000),
      ...[0, 1].map(async () => {
        while (running('bigPod')) await tallies.bigPod.post(bigPodPool, bigPod).then(rest);
      }),
      (async () => {
        while (running('bigManifests')) await Promise.all(bigReviews.map((body) => tallies.bigManifests.post(manifestPool, body))).then(rest);
      })(),
      (async () => {
        for (let round = 0; running('manyReferences'); round++) {
          await tallies.manyReferences.post(referencePool, manyReferences(round));
          await sleep(2 * PAUSE_MS);
        }
      })(),
      ...[glob, deep].map(async (body) => {
        while (running('globAndDeep')) await tallies.globAndDeep.post(globPool, body).then(rest);
      }),
    ]);
    const to = now();
    await Promise.all([stalled?.stop(), idle?.stop(), ...pools.map((each) => each.close())]);
    const stats = summarize(await ordinary.stop(), from, to);
    const figures = memory.stop();
    const alive = server?.exitCode === null && server.signalCode === null;
    const cpuSeconds = alive ? cpuSecondsOf(pid) : Number.NaN;
    const group: CgroupFigures | undefined = cgroup?.read();

    const where =
      cgroup === undefined
        ? `no memory cgroup (${fallback}): heap bounded by ${PRODUCTION_NODE_FLAGS.join(' ')}, RssAnon asserted under ${mib(LIMIT)}`
        : `memory cgroup ${cgroup.path}, limit ${mib(LIMIT)}${cgroup.swapLimited ? ' (memsw too)' : ' (swap not accounted)'}`;
    process.stdout.write(
      [
        `# process limits, ${SECONDS} s of ${[...ONLY].join(', ')} at once (${PAUSE_MS} ms between an attacker's reviews); ${where}`,
        `# big Pods (2.9 MB, 11,000 volumes): ${tallies.bigPod}`,
        `# 24 manifests of 3.8 MiB: ${tallies.bigManifests}`,
        `# ${REFERENCES} references over ${SLOW_REGISTRIES} registries answering after ${SLOW_DELAY_MS} ms: ${tallies.manyReferences}; upstream ${slow.stats.requests} requests, at most ${slow.stats.maxInFlight} in flight`,
        `# glob and 100,000-deep JSON: ${tallies.globAndDeep}`,
        `# stalled 8 MiB bodies: ${stalled?.stats.handshakes ?? '–'} opened, ${stalled?.stats.closed ?? '–'} closed by the server; idle TLS: ${idle?.stats.handshakes ?? '–'} handshakes, at most ${idle?.stats.maxOpen ?? '–'} open`,
        `# ordinary reviews (the sender's own delay at most ${stats.maxLag.toFixed(0)} ms): ${stats.sent} sent, ${stats.failed} failed${stats.failed > 0 ? ` (${[...stats.failures].map(([key, count]) => `${key} ×${count}`).join(', ')})` : ''}; p50 ${stats.p50.toFixed(0)} ms, p99 ${stats.p99.toFixed(0)} ms, max ${stats.max.toFixed(0)} ms`,
        `# server: alive ${alive}, ${cpuSeconds.toFixed(1)} s of CPU; VmHWM ${mib(figures.hwm)}, largest RssAnon ${mib(figures.maxAnon)}${group === undefined ? '' : `; cgroup peak ${mib(group.maxUsage)} (now rss ${mib(group.rss)}, cache ${mib(group.cache)}), failcnt ${group.failcnt}, under_oom ${group.underOom}, oom_kill ${group.oomKills ?? 'not counted'}`}`,
        '',
      ].join('\n'),
    );

    assert.ok(alive, `modelgate died (${server?.signalCode ?? server?.exitCode}):\n${logTail.join('')}`);
    if (group !== undefined) {
      assert.equal(group.oomKills ?? 0, 0, 'the OOM killer ran in the group');
      assert.equal(group.underOom, false, 'the group is under OOM');
      assert.ok(group.maxUsage < LIMIT, `the group's peak ${mib(group.maxUsage)} reached the limit`);
    } else {
      // VmHWM counts the node binary's file pages too, which a limit reclaims; anonymous memory it cannot.
      assert.ok(figures.maxAnon < LIMIT, `RssAnon reached ${mib(figures.maxAnon)}`);
    }
    assert.ok(stats.sent > SECONDS * 10, `ordinary reviews were sent (${stats.sent})`);
    assert.deepEqual([...stats.failures], [], 'every ordinary review answered, allowed, with its own uid');
    assert.ok(stats.max < WEBHOOK_TIMEOUT_MS, `the slowest ordinary review took ${stats.max.toFixed(0)} ms`);
    for (const [attack, tally] of Object.entries(tallies).filter(([attack]) => ONLY.has(attack))) {
      assert.equal(tally.errors, 0, `${attack}: every review answered (${tally})`);
      assert.ok(tally.outcomes.size > 0, `${attack}: reviews were sent`);
    }
  });
});
