/**
 * `modelgate serve` following policy ConfigMaps of a real kube-apiserver,
 * through a TCP proxy that can cut its connections (its watch and lists).
 *
 * Policy churn under load: one ConfigMap is replaced 10 times a second while
 * reviews flow. Edit i holds two files, policies `r<i>-a` and `r<i>-b`, both
 * enforce when i is even, both warn when odd. Every answer must come from
 * one complete revision: both policies of the same edit, in that edit's
 * mode, and the revision in its log line must be the one whose reload line
 * lists exactly those policies. After the churn the last edit applies within
 * 2 s.
 *
 * The API server unreachable (every connection reset, new ones refused) for
 * a while, and the watch cut briefly: reviews keep the last good policy,
 * /readyz stays ready, and an edit stored meanwhile applies within 2 s of
 * the API server being reachable again.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { startCluster } from '../e2e/lib/cluster.ts';
import type { Cluster } from '../e2e/lib/cluster.ts';
import { makeModelgateCerts, serveArgs, REPO_ROOT } from '../e2e/lib/modelgate.ts';
import type { ModelgateCerts } from '../e2e/lib/modelgate.ts';
import { freePort } from '../e2e/lib/ports.ts';
import { loopbackEnv, startProcess, stopAll } from '../e2e/lib/processes.ts';
import type { ManagedProcess } from '../e2e/lib/processes.ts';
import { admissionReview, kubeObject } from '../support/objects.ts';
import { UNPINNED } from './lib/load.ts';
import { startTcpProxy } from './lib/tcp-proxy.ts';
import type { TcpProxy } from './lib/tcp-proxy.ts';

const NS = 'modelgate';
const TEAM = 'team-a';
const EDITS_PER_SECOND = 10;
const CHURN_SECONDS = 5;
const APPLY_BOUND_MS = 2_000;

function churnConfigMap(edit: number): Record<string, unknown> {
  const mode = edit % 2 === 0 ? 'enforce' : 'warn';
  const policy = (name: string) => ({
    apiVersion: 'modelgate.dev/v1alpha1',
    kind: 'ModelPolicy',
    metadata: { name },
    spec: { mode, match: { namespaces: ['team-*'] }, requireDigest: true },
  });
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'churn', namespace: NS, labels: { 'modelgate.dev/policy': 'true' } },
    data: {
      'a.yaml': stringify(policy(`r${edit}-a`)),
      'b.yaml': stringify(policy(`r${edit}-b`)),
      'config.yaml': stringify({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'Config', spec: { defaultAction: 'allow' } }),
    },
  };
}

interface Answer {
  readonly uid: string;
  readonly allowed: boolean;
  /** The edits named by the answer's rules, e.g. [12, 12]. */
  readonly edits: readonly number[];
  readonly policies: readonly string[];
}

describe('policy churn: a ConfigMap replaced 10 times a second while reviews flow', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let gate: ManagedProcess;
  let certs: ModelgateCerts;
  let agent: Agent;
  let port = 0;
  let proxy: TcpProxy;
  let lastEdit = 0;

  const logLines = (): Record<string, unknown>[] =>
    readFileSync(gate.logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  async function put(edit: number): Promise<void> {
    const path = `/api/v1/namespaces/${NS}/configmaps`;
    const response =
      edit === 0 ? await cluster.request('POST', path, churnConfigMap(edit)) : await cluster.request('PUT', `${path}/churn`, churnConfigMap(edit));
    assert.ok(response.status === 200 || response.status === 201, `edit ${edit}: HTTP ${response.status} ${response.body}`);
  }

  async function review(): Promise<Answer> {
    const body = admissionReview(kubeObject('Pod', [{ name: 'model', reference: UNPINNED }], { namespace: TEAM }));
    const uid = String((body['request'] as Record<string, unknown>)['uid']);
    const response = await request(`https://127.0.0.1:${port}/validate`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    });
    const parsed = (await response.body.json()) as { response: { allowed: boolean; warnings?: string[]; status?: { message?: string } } };
    const text = [parsed.response.status?.message ?? '', ...(parsed.response.warnings ?? [])].join('\n');
    const policies = [...new Set([...text.matchAll(/\br(\d+)-(a|b)\b/g)].map((match) => match[0]))].sort();
    return { uid, allowed: parsed.response.allowed, edits: policies.map((name) => Number(name.slice(1, name.indexOf('-')))), policies };
  }

  before(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(NS);
    await cluster.createNamespace(TEAM);
    certs = await makeModelgateCerts();
    agent = new Agent({ connect: { ca: certs.caPem, servername: 'localhost' }, connections: 4 });
    await put(0);
    // modelgate reaches the API server only through the proxy.
    proxy = await startTcpProxy(Number(new URL(cluster.server).port));
    const kubeconfig = JSON.parse(readFileSync(cluster.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    for (const entry of kubeconfig.clusters) entry.cluster.server = `https://127.0.0.1:${proxy.port}`;
    const kubeconfigFile = join(certs.dir, 'kubeconfig-via-proxy');
    writeFileSync(kubeconfigFile, JSON.stringify(kubeconfig), { mode: 0o600 });
    port = await freePort();
    gate = await startProcess({
      name: 'modelgate-churn',
      command: process.execPath,
      args: serveArgs(port, certs.certFile, certs.keyFile, ['--namespace', NS]),
      cwd: REPO_ROOT,
      env: loopbackEnv({ KUBECONFIG: kubeconfigFile, MODELGATE_LOG_LEVEL: 'info', HOME: join(certs.dir, 'home') }),
      ready: { kind: 'http', url: `https://127.0.0.1:${port}/readyz`, ca: certs.caPem },
    });
  });
  after(async () => {
    await agent?.close();
    await gate?.stop();
    await proxy?.close();
    await cluster?.stop();
    await stopAll();
  });

  it('every answer is one complete revision, the one in its log line; the last edit applies within 2 s', async () => {
    const answers: Answer[] = [];
    let running = true;
    const workers = [0, 1, 2, 3].map(async () => {
      while (running) {
        answers.push(await review());
        await sleep(20);
      }
    });
    let edit = 0;
    const churnEnd = Date.now() + CHURN_SECONDS * 1000;
    while (Date.now() < churnEnd) {
      const started = Date.now();
      await put(++edit);
      await sleep(Math.max(0, 1000 / EDITS_PER_SECOND - (Date.now() - started)));
    }
    lastEdit = edit;
    const lastPut = Date.now();
    let appliedMs = -1;
    while (appliedMs < 0 && Date.now() - lastPut < 10_000) {
      if ((await review()).edits.every((n) => n === lastEdit)) appliedMs = Date.now() - lastPut;
      else await sleep(20);
    }
    running = false;
    await Promise.all(workers);

    // Each answer: both policies of one edit, in that edit's mode.
    const mixed = answers.filter(
      (answer) => answer.policies.length !== 2 || answer.edits[0] !== answer.edits[1] || answer.allowed !== ((answer.edits[0] ?? 0) % 2 === 1),
    );
    // The revision in each review's log line is the reload that lists exactly those policies.
    const lines = logLines();
    const policiesOfRevision = new Map<string, string>();
    for (const line of lines) {
      if (typeof line['revision'] === 'string' && Array.isArray(line['policies']))
        policiesOfRevision.set(line['revision'], [...(line['policies'] as string[])].sort().join(','));
    }
    const revisionOfUid = new Map(lines.filter((line) => line['msg'] === 'review').map((line) => [String(line['uid']), String(line['revision'])]));
    const mislogged = answers.filter((answer) => policiesOfRevision.get(revisionOfUid.get(answer.uid) ?? '') !== answer.policies.join(','));
    const distinct = new Set(answers.map((answer) => answer.edits[0]));
    const reloads = lines.filter((line) => line['msg'] === 'policy reloaded from ConfigMaps').length;
    process.stdout.write(
      `# policy churn: ${lastEdit} edits in ${CHURN_SECONDS} s, ${reloads} reloads; ${answers.length} answers from ${distinct.size} revisions, ${mixed.length} mixed, ${mislogged.length} with another revision in the log; last edit applied ${appliedMs} ms after it was stored\n`,
    );
    assert.deepEqual(mixed.slice(0, 3), [], 'an answer mixed two revisions');
    assert.deepEqual(mislogged.slice(0, 3), [], "an answer's log line names another revision");
    assert.ok(distinct.size > 5, `the answers followed the churn (${distinct.size} revisions seen)`);
    assert.ok(appliedMs >= 0 && appliedMs <= APPLY_BOUND_MS, `the last edit applied after ${appliedMs} ms`);
  });

  /** Polls until answers come from `edit`; ms from `since`, or -1 after 10 s. */
  async function appliedAfter(edit: number, since: number): Promise<number> {
    while (Date.now() - since < 10_000) {
      if ((await review()).edits.every((n) => n === edit)) return Date.now() - since;
      await sleep(20);
    }
    return -1;
  }

  async function readyz(): Promise<number> {
    const response = await request(`https://127.0.0.1:${port}/readyz`, { dispatcher: agent });
    await response.body.text();
    return response.statusCode;
  }

  it('the API server unreachable for 5 s, then the watch cut: last good policy, ready throughout, edits apply within 2 s after', async () => {
    const figures: string[] = [];
    for (const [what, downMs] of [
      ['API server unreachable', 5_000],
      ['watch cut', 0],
    ] as const) {
      proxy.cut();
      const cutAt = Date.now();
      const during: Answer[] = [];
      const readiness: number[] = [];
      // While it is unreachable an edit is stored (straight at the API server, not through the proxy).
      await put(++lastEdit);
      while (Date.now() - cutAt < downMs) {
        during.push(await review());
        readiness.push(await readyz());
        await sleep(100);
      }
      proxy.restore();
      const restoredAt = Date.now();
      const appliedMs = await appliedAfter(lastEdit, restoredAt);
      figures.push(
        `${what}: ${during.length} reviews during it on the last good policy, /readyz ${[...new Set(readiness)].join(',') || '-'}; the edit applied ${appliedMs} ms after recovery`,
      );
      assert.ok(
        during.every((answer) => answer.edits.every((n) => n === lastEdit - 1)),
        `${what}: answers kept the last good policy (edit ${lastEdit - 1})`,
      );
      assert.ok(
        readiness.every((status) => status === 200),
        `${what}: /readyz stayed ready`,
      );
      assert.ok(appliedMs >= 0 && appliedMs <= APPLY_BOUND_MS, `${what}: the edit applied ${appliedMs} ms after recovery`);
    }
    process.stdout.write(`# ${figures.join('\n# ')}\n`);
  });
});
