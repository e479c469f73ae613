/**
 * Policy churn under load: `modelgate serve` following policy ConfigMaps of a
 * real kube-apiserver while one ConfigMap is replaced 10 times a second and
 * reviews flow. Edit i holds two files, policies `r<i>-a` and `r<i>-b`, both
 * enforce when i is even, both warn when odd. Every answer must come from
 * one complete revision: both policies of the same edit, in that edit's
 * mode, and the revision in its log line must be the one whose reload line
 * lists exactly those policies. After the churn the last edit applies within
 * 2 s.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
    port = await freePort();
    gate = await startProcess({
      name: 'modelgate-churn',
      command: process.execPath,
      args: serveArgs(port, certs.certFile, certs.keyFile, ['--namespace', NS]),
      cwd: REPO_ROOT,
      env: loopbackEnv({ KUBECONFIG: cluster.kubeconfig, MODELGATE_LOG_LEVEL: 'info', HOME: join(certs.dir, 'home') }),
      ready: { kind: 'http', url: `https://127.0.0.1:${port}/readyz`, ca: certs.caPem },
    });
  });
  after(async () => {
    await agent?.close();
    await gate?.stop();
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
    const lastEdit = edit;
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
});
