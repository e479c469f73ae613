// AI workloads through a real kube-apiserver (issue 10): with their CRDs
// installed (test/e2e/fixtures/ai-workload-crds.yaml, trimmed from each
// project's published CRDs) and manifests/optional/ai-workloads-webhook.yaml
// registered, `kubectl apply` of each workload with a tag-pinned model is
// denied at once, naming the field path; pinned, it is created; a label
// change never reaches modelgate.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';
import { makeModelgateCerts, renderWebhookConfiguration, renderWebhookFile, startModelgate, writePolicyDirectory } from './lib/modelgate.ts';
import type { Modelgate } from './lib/modelgate.ts';
import type { RunResult } from './lib/processes.ts';
import { stopAll } from './lib/processes.ts';
import { loadTools } from './lib/tools.ts';

type KubeObject = Record<string, unknown>;
const REPO = join(import.meta.dirname, '..', '..');
const FIXTURES = join(REPO, 'test', 'fixtures', 'workloads');
const DIGEST = `sha256:${'a'.repeat(64)}`;
const NAMESPACE = 'team-a';

/** Each fixture's model references, pinned by digest (the fixtures pin them by tag). */
const pinned = (text: string): string => text.replace(/(ghcr\.io\/acme\/(?:models|datasets)\/[a-z]+):v1/g, `$1@${DIGEST}`);
const load = (text: string): KubeObject => (parseAllDocuments(text)[0]?.toJS() ?? {}) as KubeObject;

describe('AI workloads through the apiserver (kubectl end to end)', { timeout: 600_000 }, () => {
  let cluster: Cluster | undefined;
  let gate: Modelgate | undefined;
  const c = (): Cluster => cluster ?? assert.fail('the cluster did not start');
  const kubectl = (args: readonly string[], input?: string): Promise<RunResult> =>
    c().kubectl(args, { allowFailure: true, timeoutMs: 60_000, ...(input === undefined ? {} : { input }) });

  let barriers = 0;
  /** A dry-run that does reach modelgate; resolves once its review is in the log. */
  async function barrier(): Promise<void> {
    const name = `barrier-${++barriers}`;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NAMESPACE },
      spec: {
        containers: [{ name: 'c', image: `ghcr.io/acme/app@${DIGEST}` }],
        volumes: [{ name: 'm', image: { reference: `ghcr.io/acme/models/llama@${DIGEST}` } }],
      },
    };
    const result = await kubectl(['apply', '--dry-run=server', '-f', '-'], JSON.stringify(pod));
    assert.equal(result.code, 0, result.stderr);
    for (const deadline = Date.now() + 20_000; !(gate?.reviews().some((review) => review.name === name) ?? false); ) {
      if (Date.now() > deadline) assert.fail(`modelgate logged no review for ${name}`);
      await sleep(50);
    }
  }

  before(async () => {
    loadTools();
    const [started, certs] = await Promise.all([startCluster(), makeModelgateCerts()]);
    cluster = started;
    const policyDir = writePolicyDirectory({
      'pinned.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'pinned' },
          spec: { match: { namespaces: [NAMESPACE] }, requireDigest: true },
        },
      ],
    });
    gate = await startModelgate({ certs, policyPaths: [policyDir] });
    await c().createNamespace(NAMESPACE);
    const crds = await kubectl(['create', '-f', join(REPO, 'test', 'e2e', 'fixtures', 'ai-workload-crds.yaml')]);
    assert.equal(crds.code, 0, crds.stderr);
    const established = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    assert.equal(established.code, 0, established.stderr);
    const main = await renderWebhookConfiguration(c(), gate);
    const ai = renderWebhookFile('optional/ai-workloads-webhook.yaml', gate);
    for (const configuration of [main.configuration, ai]) {
      const applied = await kubectl(['apply', '-f', '-'], JSON.stringify(configuration));
      assert.equal(applied.code, 0, applied.stderr);
    }
    // Webhook configurations take effect shortly after they are stored.
    const probe = readFileSync(join(FIXTURES, 'leaderworkerset.yaml'), 'utf8');
    for (const deadline = Date.now() + 30_000; ; ) {
      const result = await kubectl(['apply', '--dry-run=server', '-f', '-'], probe);
      if (result.code !== 0 && result.stderr.includes('modelgate denied')) break;
      if (Date.now() > deadline) assert.fail(`the AI workloads webhook did not become effective: ${result.stdout}${result.stderr}`);
      await sleep(250);
    }
  });

  after(async () => {
    await Promise.allSettled([gate?.stop()]);
    await Promise.allSettled([cluster?.stop()]);
    await stopAll();
  });

  for (const file of readdirSync(FIXTURES)
    .filter((name) => name.endsWith('.yaml'))
    .sort()) {
    it(`${file}: a tag-pinned model is denied at apply time with its field path; pinned, the workload is created`, async () => {
      const text = readFileSync(join(FIXTURES, file), 'utf8');
      const object = load(text);
      const denied = await kubectl(['apply', '-f', '-'], text);
      assert.equal(denied.code, 1, `${file} was not denied: ${denied.stdout}`);
      assert.match(denied.stderr, /admission webhook "validate-ai-workloads\.modelgate\.dev" denied the request: modelgate denied /);
      assert.match(denied.stderr, /rule requireDigest: pinned only by tag "v1"/);
      assert.match(denied.stderr, / at spec\.[^,]+, reference "ghcr\.io\/acme\//);
      const created = await kubectl(['apply', '-f', '-'], pinned(text));
      assert.equal(created.code, 0, `${file}: ${created.stderr}`);
      const name = String((object['metadata'] as KubeObject)['name']);
      const kind = String(object['kind']).toLowerCase();
      const before = gate?.reviews().length ?? 0;
      const labelled = await kubectl(['label', kind, name, '-n', NAMESPACE, 'tier=gold']);
      assert.equal(labelled.code, 0, labelled.stderr);
      // A label change leaves the spec as it was: the matchCondition never sends it. A barrier
      // review sent after it, once logged, shows that nothing came for the label change before.
      await barrier();
      assert.deepEqual(
        gate
          ?.reviews()
          .slice(before)
          .filter((review) => review.name === name),
        [],
      );
    });
  }
});
