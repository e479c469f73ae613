/**
 * `modelgate serve` following policy ConfigMaps while the control plane
 * fails under it (the API server and the watch cut are in policy-watch.test.ts):
 *
 * - etcd killed (SIGKILL) and restarted on its data directory, and
 *   kube-apiserver restarted (SIGTERM; with any watch open, kubectl's too, this
 *   apiserver does not exit within the 10 s grace and is killed): reviews keep
 *   the last good policy, /readyz stays ready, and an edit stored after
 *   recovery applies within 2 s.
 * - A 410 Gone: the watch is cut, an edit is stored and etcd compacted past
 *   the watch's resourceVersion meanwhile; the re-watch is refused with 410
 *   and modelgate lists again. ConfigMaps are served from etcd here
 *   (`--watch-cache-sizes=configmaps#0`): with the API server's watch cache
 *   a compaction does not reach watchers.
 * - Events: one unchanged invalid policy ConfigMap has one Event (count 1)
 *   through all of it, including a restart of modelgate itself; within one
 *   process it is never reported again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { startCluster } from '../e2e/lib/cluster.ts';
import type { Cluster } from '../e2e/lib/cluster.ts';
import { stopAll } from '../e2e/lib/processes.ts';
import { POLICY_LABELS, msUntil, putConfigMap, startPolicyGate } from './lib/policy-gate.ts';
import type { ConfigMapBody, PolicyGate } from './lib/policy-gate.ts';

const NS = 'modelgate';
const TEAM = 'team-a';
const APPLY_BOUND_MS = 2_000;
const RELISTED = 'policy ConfigMaps listed again (the watch could not resume where it stopped, e.g. 410 Gone)';

const policyConfigMap = (name: string, policy: Record<string, unknown>): ConfigMapBody => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: NS, labels: POLICY_LABELS },
  data: { 'policy.yaml': stringify({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'ModelPolicy', ...policy }) },
});

/** Generation n: one enforcing policy named gen-<n>, which denies the tag-only reviews. */
const generation = (n: number): ConfigMapBody =>
  policyConfigMap('policies', { metadata: { name: `gen-${n}` }, spec: { mode: 'enforce', match: { namespaces: ['team-*'] }, requireDigest: true } });

/** Never valid: rejected with an InvalidPolicy Event. */
const BROKEN = policyConfigMap('broken', { metadata: { name: 'broken' }, spec: { mode: 'block' } });

interface EventSummary {
  readonly name: string;
  readonly count: number;
  readonly lastTimestamp: string;
}

/** Every Event about a policy ConfigMap, newest state. */
async function eventsAbout(cluster: Cluster, name: string): Promise<EventSummary[]> {
  const response = await cluster.request('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`);
  assert.equal(response.status, 200, response.body);
  const items = (JSON.parse(response.body) as { items: { metadata: { name: string }; count?: number; lastTimestamp?: string }[] }).items;
  return items.map((item) => ({ name: item.metadata.name, count: item.count ?? 0, lastTimestamp: item.lastTimestamp ?? '' }));
}

async function apiserverReady(cluster: Cluster, since: number): Promise<number> {
  const ms = await msUntil(async () => (await cluster.request('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, since, 60_000);
  assert.ok(ms >= 0, 'the API server became ready again');
  return ms;
}

/** The test bed of one describe: a cluster, the two ConfigMaps, modelgate watching them. */
function controlPlaneBed(extraApiserverArgs: readonly string[]) {
  const bed = {
    cluster: undefined as unknown as Cluster,
    gate: undefined as unknown as PolicyGate,
    generation: 0,
    /** The tag-only review's policy generations (gen-<n> in its denial), e.g. [3]. */
    async generations(): Promise<number[]> {
      const answer = await bed.gate.review(TEAM);
      return [...answer.text.matchAll(/\bgen-(\d+)\b/g)].map((match) => Number(match[1]));
    },
    /** Stores the next generation; resolves with the ms until reviews answer with it (-1: not within 10 s). */
    async nextGenerationAppliesIn(): Promise<number> {
      await putConfigMap(bed.cluster, generation(++bed.generation));
      const stored = Date.now();
      return msUntil(async () => (await bed.generations()).join() === String(bed.generation), stored);
    },
    relists: () => bed.gate.logLines().filter((line) => line['msg'] === RELISTED).length,
    /**
     * Runs `fault` while reviews and /readyz are polled every 100 ms; every
     * answer must come from the last good generation and /readyz stay 200.
     */
    async during(what: string, fault: () => Promise<void>): Promise<string> {
      const good = String(bed.generation);
      const answers: string[] = [];
      const readiness: number[] = [];
      let running = true;
      const poller = (async () => {
        while (running) {
          answers.push((await bed.generations()).join());
          readiness.push(await bed.gate.readyz());
          await sleep(100);
        }
      })();
      try {
        await fault();
      } finally {
        running = false;
        await poller;
      }
      assert.ok(answers.length > 0, `${what}: reviews were answered during the fault`);
      assert.deepEqual(
        answers.filter((answer) => answer !== good),
        [],
        `${what}: every answer came from the last good policy gen-${good}`,
      );
      assert.deepEqual(
        readiness.filter((status) => status !== 200),
        [],
        `${what}: /readyz stayed ready`,
      );
      return `${answers.length} reviews on the last good policy, /readyz ${[...new Set(readiness)].join(',')}`;
    },
  };
  before(async () => {
    bed.cluster = await startCluster({ extraApiserverArgs });
    await bed.cluster.createNamespace(NS);
    await bed.cluster.createNamespace(TEAM);
    await putConfigMap(bed.cluster, generation(0));
    await putConfigMap(bed.cluster, BROKEN);
    bed.gate = await startPolicyGate(bed.cluster, NS);
    const recorded = await msUntil(async () => (await eventsAbout(bed.cluster, 'broken')).length > 0, Date.now());
    assert.ok(recorded >= 0, 'the invalid ConfigMap got its Event');
  });
  after(async () => {
    await bed.gate?.stop();
    await bed.cluster?.stop();
    await stopAll();
  });
  return bed;
}

describe('etcd and the API server restarted under a watching modelgate (watch cache on, as shipped)', { timeout: 240_000 }, () => {
  const bed = controlPlaneBed([]);
  let firstEvents: EventSummary[] = [];

  it('etcd killed and restarted on its data dir: last good policy, ready throughout, an edit after recovery applies within 2 s', async () => {
    firstEvents = await eventsAbout(bed.cluster, 'broken');
    const relistsBefore = bed.relists();
    let recoveredMs = 0;
    const seen = await bed.during('etcd restart', async () => {
      const killed = Date.now();
      await bed.cluster.restartEtcd({ signal: 'SIGKILL', downMs: 3_000 });
      recoveredMs = await apiserverReady(bed.cluster, killed);
    });
    const appliedMs = await bed.nextGenerationAppliesIn();
    process.stdout.write(
      `# etcd SIGKILL, down 3 s, API server ready ${recoveredMs} ms after the kill: ${seen}; modelgate listed again ${bed.relists() - relistsBefore}×; an edit after recovery applied in ${appliedMs} ms\n`,
    );
    assert.ok(appliedMs >= 0 && appliedMs <= APPLY_BOUND_MS, `the edit applied after ${appliedMs} ms`);
  });

  it('kube-apiserver restarted: last good policy, ready throughout, an edit after recovery applies within 2 s', async () => {
    const relistsBefore = bed.relists();
    let recoveredMs = 0;
    let exited = '';
    const seen = await bed.during('API server restart', async () => {
      const stopped = Date.now();
      const { exit, stopMs } = await bed.cluster.restartApiserver({ downMs: 1_000 });
      exited = `exited ${stopMs} ms after SIGTERM (${exit.signal ?? `code ${exit.code}`})`;
      recoveredMs = await apiserverReady(bed.cluster, stopped);
    });
    const appliedMs = await bed.nextGenerationAppliesIn();
    process.stdout.write(
      `# kube-apiserver SIGTERM, ${exited}, down 1 s, ready ${recoveredMs} ms after SIGTERM: ${seen}; modelgate listed again ${bed.relists() - relistsBefore}×; an edit after recovery applied in ${appliedMs} ms\n`,
    );
    assert.ok(appliedMs >= 0 && appliedMs <= APPLY_BOUND_MS, `the edit applied after ${appliedMs} ms`);
  });

  it('one Event for the unchanged invalid ConfigMap: not reported again within a process, shared after a restart of modelgate', async () => {
    const afterFaults = await eventsAbout(bed.cluster, 'broken');
    assert.deepEqual(afterFaults, firstEvents, 'etcd and API server restarts (watch cuts, relists) recorded nothing new');
    await bed.gate.restart();
    // The new process reports the problem once: the same Event (create → 409 → patch of lastTimestamp).
    await msUntil(async () => (await eventsAbout(bed.cluster, 'broken'))[0]?.lastTimestamp !== firstEvents[0]?.lastTimestamp, Date.now(), 3_000);
    const afterRestart = await eventsAbout(bed.cluster, 'broken');
    process.stdout.write(
      `# Events about the invalid ConfigMap: ${JSON.stringify(firstEvents)} → after the faults ${afterFaults.length}, after a restart of modelgate ${JSON.stringify(afterRestart)}\n`,
    );
    assert.equal(afterRestart.length, 1, 'one Event object');
    assert.equal(afterRestart[0]?.name, firstEvents[0]?.name);
    assert.equal(afterRestart[0]?.count, 1);
  });
});

/** etcd's current revision, through its gRPC gateway. */
async function etcdRevision(cluster: Cluster): Promise<number> {
  const response = await fetch(`${cluster.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
  return Number(((await response.json()) as { header: { revision: string } }).header.revision);
}

async function compactEtcd(cluster: Cluster, revision: number): Promise<void> {
  const response = await fetch(`${cluster.etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: String(revision), physical: true }) });
  assert.equal(response.status, 200, await response.text());
}

describe('a 410 Gone: the watch resumes from a resourceVersion etcd has compacted (ConfigMaps served from etcd)', { timeout: 240_000 }, () => {
  const bed = controlPlaneBed(['--watch-cache-sizes=configmaps#0']);

  it('the watch cut, an edit stored and etcd compacted meanwhile: last good policy, then the relist applies the edit within 2 s', async () => {
    const firstEvents = await eventsAbout(bed.cluster, 'broken');
    const relistsBefore = bed.relists();
    let compactedAt = 0;
    const seen = await bed.during('watch cut with compaction', async () => {
      bed.gate.proxy.cut();
      const cutAt = Date.now();
      await putConfigMap(bed.cluster, generation(bed.generation + 1));
      // More writes, so the compaction lies past the revision right after the watch's.
      for (let i = 0; i < 3; i++)
        await putConfigMap(bed.cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'scratch', namespace: NS }, data: { i: String(i) } });
      compactedAt = await etcdRevision(bed.cluster);
      await compactEtcd(bed.cluster, compactedAt);
      await sleep(Math.max(0, 2_000 - (Date.now() - cutAt)));
    });
    bed.gate.proxy.restore();
    bed.generation++;
    const restored = Date.now();
    const appliedMs = await msUntil(async () => (await bed.generations()).join() === String(bed.generation), restored);
    const relists = bed.relists() - relistsBefore;
    const events = await eventsAbout(bed.cluster, 'broken');
    process.stdout.write(
      `# watch cut 2 s, an edit stored and etcd compacted at revision ${compactedAt} meanwhile: ${seen}; the re-watch got 410, modelgate listed again ${relists}×, the edit applied ${appliedMs} ms after the cut ended; Events about the invalid ConfigMap ${events.length} (count ${events[0]?.count})\n`,
    );
    assert.ok(relists >= 1, 'modelgate listed again: the re-watch was refused with 410 Gone');
    assert.ok(appliedMs >= 0 && appliedMs <= APPLY_BOUND_MS, `the edit applied ${appliedMs} ms after the cut ended`);
    assert.deepEqual(events, firstEvents, 'the relist recorded no new Event');
  });
});
