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
const EDITS_PER_SECOND = 10;
const CHURN_SECONDS = 5;
const APPLY_BOUND_MS = 2_000;

function churnConfigMap(edit: number): ConfigMapBody {
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
    metadata: { name: 'churn', namespace: NS, labels: POLICY_LABELS },
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
  let gate: PolicyGate;
  let lastEdit = 0;

  const put = (edit: number): Promise<void> => putConfigMap(cluster, churnConfigMap(edit));

  async function review(): Promise<Answer> {
    const { uid, allowed, text } = await gate.review(TEAM);
    const policies = [...new Set([...text.matchAll(/\br(\d+)-(a|b)\b/g)].map((match) => match[0]))].sort();
    return { uid, allowed, edits: policies.map((name) => Number(name.slice(1, name.indexOf('-')))), policies };
  }

  before(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(NS);
    await cluster.createNamespace(TEAM);
    await put(0);
    // modelgate reaches the API server only through the proxy.
    gate = await startPolicyGate(cluster, NS);
  });
  after(async () => {
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
    lastEdit = edit;
    const lastPut = Date.now();
    const appliedMs = await appliedAfter(lastEdit, lastPut);
    running = false;
    await Promise.all(workers);

    // Each answer: both policies of one edit, in that edit's mode.
    const mixed = answers.filter(
      (answer) => answer.policies.length !== 2 || answer.edits[0] !== answer.edits[1] || answer.allowed !== ((answer.edits[0] ?? 0) % 2 === 1),
    );
    // The revision in each review's log line is the reload that lists exactly those policies.
    const lines = gate.logLines();
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
  const appliedAfter = (edit: number, since: number): Promise<number> => msUntil(async () => (await review()).edits.every((n) => n === edit), since);

  it('the API server unreachable for 5 s, then the watch cut: last good policy, ready throughout, edits apply within 2 s after', async () => {
    const figures: string[] = [];
    for (const [what, downMs] of [
      ['API server unreachable', 5_000],
      ['watch cut', 0],
    ] as const) {
      gate.proxy.cut();
      const cutAt = Date.now();
      const during: Answer[] = [];
      const readiness: number[] = [];
      // While it is unreachable an edit is stored (straight at the API server, not through the proxy).
      await put(++lastEdit);
      while (Date.now() - cutAt < downMs) {
        during.push(await review());
        readiness.push(await gate.readyz());
        await sleep(100);
      }
      gate.proxy.restore();
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
