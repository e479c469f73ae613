// modelgate as the validating admission webhook of a real kube-apiserver
// (v1.36, etcd, no nodes), driven with kubectl (issue 3).
//
//   npm run test:e2e            (needs `bash test/e2e/tools/install.sh` first)
//
// - modelgate's real `serve` runs as a child process on 127.0.0.1, with
//   certificates from scripts/certs.sh and a policy directory written here:
//   enforce in namespaces team-*, warn in lab, signatures and artifact rules
//   in signed-models (against the test bed's docker-registry), and a Config
//   with defaultAction allow.
// - The ValidatingWebhookConfiguration is manifests/' own (kubectl kustomize),
//   with clientConfig replaced by url https://127.0.0.1:<port>/validate and
//   the CA's caBundle. Never a Service: a ClusterIP would make the apiserver
//   dial off the machine.
// - "Never reaches the webhook" is measured in modelgate's own log: between
//   two barrier reviews (dry-run creates that do reach it, waited for by name)
//   no other review line may appear.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startCluster } from './lib/cluster.ts';
import type { Cluster } from './lib/cluster.ts';
import { generateSigningKeys } from './lib/cosign.ts';
import type { SigningKeys } from './lib/cosign.ts';
import { buildModelPack, pushArtifact, signCosign2 } from './lib/fixtures.ts';
import type { PushedArtifact } from './lib/fixtures.ts';
import {
  assertLoopbackWebhooks,
  makeModelgateCerts,
  renderWebhookConfiguration,
  startModelgate,
  WEBHOOK_CONFIGURATION_NAME,
  WEBHOOK_NAME,
  writeConfigFile,
  writePolicyDirectory,
} from './lib/modelgate.ts';
import type { Modelgate, ModelgateCerts, RenderedWebhookConfiguration, ReviewLog } from './lib/modelgate.ts';
import type { RunResult } from './lib/processes.ts';
import { stopAll } from './lib/processes.ts';
import { startDockerRegistry } from './lib/registries.ts';
import type { Registry } from './lib/registries.ts';
import { loadTools } from './lib/tools.ts';

// ---- references and objects -------------------------------------------------------

const hex = (seed: string): string => createHash('sha256').update(seed).digest('hex');
/** The container image; never pulled (no nodes), never judged (only image volumes are). */
const APP_IMAGE = `registry.invalid/modelgate-e2e/server@sha256:${hex('server')}`;
const PINNED = `ghcr.io/acme/models/llama@sha256:${hex('llama')}`;
const UNPINNED = 'ghcr.io/acme/models/llama:v1';
const PINNED_TOKENIZER = `ghcr.io/acme/models/tokenizer@sha256:${hex('tokenizer')}`;
const UNPINNED_TOKENIZER = 'ghcr.io/acme/models/tokenizer:v1';

const TEAM = 'team-a';
const LAB = 'lab';
const SIGNED = 'signed-models';

type Volume = Record<string, unknown>;
type KubeObject = Record<string, unknown>;

const modelVolume = (reference: string, name = 'model'): Volume => ({ name, image: { reference, pullPolicy: 'IfNotPresent' } });
const emptyDir = (name = 'scratch'): Volume => ({ name, emptyDir: {} });

function podSpec(volumes: readonly Volume[]): KubeObject {
  return {
    containers: [
      {
        name: 'server',
        image: APP_IMAGE,
        volumeMounts: volumes.map((volume) => ({ name: volume['name'], mountPath: `/models/${String(volume['name'])}`, readOnly: true })),
      },
    ],
    ...(volumes.length > 0 ? { volumes } : {}),
  };
}

function pod(name: string, namespace: string, volumes: readonly Volume[]): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace }, spec: podSpec(volumes) };
}

function deployment(name: string, namespace: string, volumes: readonly Volume[]): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec(volumes) } },
  };
}

function cronJob(name: string, namespace: string, volumes: readonly Volume[]): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace },
    spec: {
      schedule: '0 3 * * *',
      jobTemplate: { spec: { template: { spec: { ...podSpec(volumes), restartPolicy: 'Never' } } } },
    },
  };
}

function configMap(name: string, namespace: string): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { 'model.txt': UNPINNED } };
}

// ---- the suite ------------------------------------------------------------------------

describe("modelgate as the cluster's validating webhook (kubectl end to end)", { timeout: 1_200_000 }, () => {
  let cluster: Cluster | undefined;
  let registry: Registry | undefined;
  let gate: Modelgate | undefined;
  let certs: ModelgateCerts;
  let keys: SigningKeys;
  let rendered: RenderedWebhookConfiguration;

  const c = (): Cluster => {
    assert.ok(cluster !== undefined, 'the cluster did not start');
    return cluster;
  };
  const g = (): Modelgate => {
    assert.ok(gate !== undefined, 'modelgate did not start');
    return gate;
  };

  /** kubectl with the cluster's kubeconfig; never throws on a non-zero exit. */
  const kubectl = (args: readonly string[], input?: KubeObject): Promise<RunResult> =>
    c().kubectl(args, { allowFailure: true, timeoutMs: 60_000, ...(input === undefined ? {} : { input: JSON.stringify(input) }) });
  const apply = (object: KubeObject, dryRun = false): Promise<RunResult> => kubectl(['apply', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'], object);
  const get = (kind: string, namespace: string, name: string): Promise<RunResult> => kubectl(['get', kind, name, '-n', namespace, '-o', 'json']);

  async function getJson(kind: string, namespace: string, name: string): Promise<KubeObject> {
    const result = await get(kind, namespace, name);
    assert.equal(result.code, 0, `kubectl get ${kind} ${namespace}/${name}: ${result.stderr}`);
    return JSON.parse(result.stdout) as KubeObject;
  }

  async function assertNotFound(kind: string, plural: string, namespace: string, name: string): Promise<void> {
    const result = await get(kind, namespace, name);
    assert.equal(result.code, 1, `${kind} ${namespace}/${name} exists: ${result.stdout}`);
    assert.equal(result.stderr.trim(), `Error from server (NotFound): ${plural} "${name}" not found`);
  }

  /** Waits until modelgate logged a review that `match` accepts; returns the last such line. */
  async function waitForReview(match: (review: ReviewLog) => boolean, what: string): Promise<ReviewLog> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = g().reviews().filter(match).at(-1);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`modelgate logged no review for ${what}; log ${g().process.logFile}:\n${g().process.logTail(20)}`);
      await sleep(100);
    }
  }

  let barriers = 0;
  /** A dry-run create that does reach modelgate; resolves once its review line is in the log. */
  async function barrier(): Promise<ReviewLog> {
    barriers += 1;
    const name = `barrier-${barriers}`;
    const result = await apply(pod(name, TEAM, [modelVolume(PINNED)]), true);
    assert.equal(result.code, 0, `barrier ${name}: ${result.stderr}`);
    return waitForReview((review) => review.name === name && review.namespace === TEAM, `barrier ${name}`);
  }

  /** The reviews modelgate logged while `action` ran (bracketed by two barriers). */
  async function reviewsDuring(action: () => Promise<void>): Promise<ReviewLog[]> {
    await barrier();
    const before = g().reviews().length;
    await action();
    const closing = await barrier();
    const all = g().reviews();
    assert.deepEqual(all.at(-1), closing, 'the closing barrier is the last review logged');
    return all.slice(before, -1);
  }

  /** Polls a dry-run create of an unpinned pod until modelgate denies it. */
  async function waitUntilEffective(): Promise<void> {
    const probe = pod('probe-unpinned', TEAM, [modelVolume(UNPINNED)]);
    const deadline = Date.now() + 60_000;
    let last: RunResult | undefined;
    for (;;) {
      last = await apply(probe, true);
      if (last.code !== 0 && last.stderr.includes(`admission webhook "${WEBHOOK_NAME}" denied the request: modelgate denied`)) return;
      if (Date.now() > deadline)
        throw new Error(`the webhook did not become effective within 60 s; last kubectl exit ${last.code}: ${last.stdout}${last.stderr}`);
      await sleep(250);
    }
  }

  before(async () => {
    loadTools(); // fails fast with "run install.sh" when the test bed is missing
    // Each result is kept as soon as it is there, and every start is awaited
    // before a failure is thrown, so after() stops whatever did start.
    const started = await Promise.allSettled([
      startCluster().then((value) => (cluster = value)),
      startDockerRegistry().then((value) => (registry = value)),
      generateSigningKeys().then((value) => (keys = value)),
      makeModelgateCerts().then((value) => (certs = value)),
    ]);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    assert.ok(registry !== undefined);
    const policyDir = writePolicyDirectory({
      '10-namespaces.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'team-pinning' },
          spec: { mode: 'enforce', match: { namespaces: ['team-*'] }, requireDigest: true },
        },
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'lab-pinning' },
          spec: { mode: 'warn', match: { namespaces: [LAB] }, requireDigest: true },
        },
      ],
      // Only references to the loopback registry, only in one namespace: no
      // other model reference makes modelgate contact a registry.
      '20-signed.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'signed-models' },
          spec: {
            mode: 'enforce',
            match: { namespaces: [SIGNED], references: [`${registry.host}/**`] },
            requireDigest: true,
            artifact: { types: ['modelpack'], mountable: true },
            signatures: { authorities: [{ name: 'release', key: keys.publicKeyPem, tlog: 'optional' }] },
          },
        },
      ],
    });
    const configFile = writeConfigFile({
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'Config',
      // Room for the widest objects etcd stores (the matchConditions test below).
      spec: { defaultAction: 'allow', registries: [{ host: registry.host, insecure: true }], limits: { maxReferencesPerObject: 100_000 } },
    });
    gate = await startModelgate({ certs, policyPaths: [policyDir], configFile });

    for (const namespace of [TEAM, LAB, SIGNED, 'kube-system']) await c().createNamespace(namespace);

    rendered = await renderWebhookConfiguration(c(), g());
    assertLoopbackWebhooks(rendered.configuration, g().port);
    const applied = await kubectl(['apply', '-f', '-'], rendered.configuration);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout.trim(), `validatingwebhookconfiguration.admissionregistration.k8s.io/${WEBHOOK_CONFIGURATION_NAME} created`);
    // What the apiserver holds must call loopback only, before anything is sent.
    assertLoopbackWebhooks(await kubectlJsonVwc(), g().port);
    await waitUntilEffective();
  });

  async function kubectlJsonVwc(): Promise<KubeObject> {
    const result = await kubectl(['get', 'validatingwebhookconfiguration', WEBHOOK_CONFIGURATION_NAME, '-o', 'json']);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as KubeObject;
  }

  after(async () => {
    // Each on its own: one failure must not leave the others running.
    await Promise.allSettled([gate?.stop(), registry?.stop()]);
    await Promise.allSettled([cluster?.stop()]);
    await stopAll();
  });

  it("runs manifests/' webhook configuration, pointed only at https://127.0.0.1", async () => {
    // As shipped: the in-cluster Service, which is exactly what must not be used here.
    assert.deepEqual(rendered.shippedClientConfig, { service: { name: 'modelgate', namespace: 'modelgate', path: '/validate', port: 443 } });
    const live = await kubectlJsonVwc();
    const webhooks = live['webhooks'] as KubeObject[];
    assert.equal(webhooks.length, 1);
    const webhook = webhooks[0] as KubeObject & {
      clientConfig: { url?: string; service?: unknown; caBundle?: string };
      matchConditions: Array<{ name: string }>;
      namespaceSelector: unknown;
    };
    assert.equal(webhook['name'], WEBHOOK_NAME);
    assert.equal(webhook.clientConfig.url, `https://127.0.0.1:${g().port}/validate`);
    assert.equal(webhook.clientConfig.service, undefined);
    assert.equal(Buffer.from(webhook.clientConfig.caBundle ?? '', 'base64').toString('utf8'), certs.caPem);
    assert.equal(webhook['failurePolicy'], 'Fail');
    assert.equal(webhook['sideEffects'], 'None');
    assert.equal(webhook['matchPolicy'], 'Equivalent');
    assert.deepEqual(
      webhook.matchConditions.map((condition) => condition.name),
      ['has-image-volumes', 'image-volumes-changed'],
    );
    assert.deepEqual(webhook.namespaceSelector, {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'modelgate'] }],
    });
    // modelgate answered the readiness probe and logged the policy it loaded (sorted by name).
    const loaded = g()
      .logLines()
      .find((line) => line['msg'] === 'policy loaded');
    assert.deepEqual(loaded?.['policies'], ['lab-pinning', 'signed-models', 'team-pinning']);
    assert.equal(loaded?.['defaultAction'], 'allow');
  });

  describe('enforce (namespace team-a)', () => {
    it("dry-run=server of a Pod with an unpinned model: denied with modelgate's message, nothing written, logged with dryRun true", async () => {
      const result = await apply(pod('dry-unpinned', TEAM, [modelVolume(UNPINNED)]), true);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trimEnd().split('\n');
      assert.deepEqual(lines, [
        `Error from server (Forbidden): error when creating "STDIN": admission webhook "${WEBHOOK_NAME}" denied the request: modelgate denied Pod ${TEAM}/dry-unpinned: a model reference failed policy`,
        `- volume "model" at spec.volumes[0].image.reference, reference "${UNPINNED}":`,
        `    policy "team-pinning" rule requireDigest: pinned only by tag "v1", not by digest: the model behind it can change after it was checked`,
        `      Fix: pin it by digest as ${UNPINNED}@sha256:<digest> (the digest is printed by \`oras resolve ${UNPINNED}\` or \`crane digest ${UNPINNED}\`).`,
      ]);
      await assertNotFound('pod', 'pods', TEAM, 'dry-unpinned');
      const review = await waitForReview((r) => r.name === 'dry-unpinned', 'dry-unpinned');
      assert.deepEqual(
        {
          kind: review.kind,
          namespace: review.namespace,
          operation: review.operation,
          dryRun: review.dryRun,
          decision: review.decision,
          reasons: review.reasons,
        },
        {
          kind: 'Pod',
          namespace: TEAM,
          operation: 'CREATE',
          dryRun: true,
          decision: 'deny',
          reasons: ['spec.volumes[0].image.reference: team-pinning/requireDigest'],
        },
      );
      assert.match(review.uid, /^[0-9a-f-]{36}$/);
    });

    it('a Pod with a pinned model: admitted by dry-run (nothing stored), then created for real', async () => {
      const object = pod('pinned-pod', TEAM, [modelVolume(PINNED)]);
      const dry = await apply(object, true);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout.trim(), 'pod/pinned-pod created (server dry run)');
      assert.equal(dry.stderr, '');
      await assertNotFound('pod', 'pods', TEAM, 'pinned-pod');
      const dryReview = await waitForReview((r) => r.name === 'pinned-pod', 'pinned-pod (dry run)');
      assert.equal(dryReview.dryRun, true);
      assert.equal(dryReview.decision, 'allow');

      const real = await apply(object);
      assert.equal(real.code, 0, real.stderr);
      assert.equal(real.stdout.trim(), 'pod/pinned-pod created');
      const stored = (await getJson('pod', TEAM, 'pinned-pod')) as { spec: { volumes: Array<{ name: string; image?: { reference: string } }> } };
      assert.equal(stored.spec.volumes.find((volume) => volume.name === 'model')?.image?.reference, PINNED);
      const review = await waitForReview((r) => r.name === 'pinned-pod' && !r.dryRun, 'pinned-pod');
      assert.deepEqual([review.kind, review.operation, review.decision, review.reasons], ['Pod', 'CREATE', 'allow', []]);
    });

    it('a real apply of a Pod with an unpinned model is refused and nothing is stored', async () => {
      const result = await apply(pod('unpinned-pod', TEAM, [modelVolume(UNPINNED)]));
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        new RegExp(
          `^Error from server \\(Forbidden\\): error when creating "STDIN": admission webhook "validate\\.modelgate\\.dev" denied the request: modelgate denied Pod ${TEAM}/unpinned-pod: a model reference failed policy$`,
          'm',
        ),
      );
      await assertNotFound('pod', 'pods', TEAM, 'unpinned-pod');
      const review = await waitForReview((r) => r.name === 'unpinned-pod', 'unpinned-pod');
      assert.deepEqual([review.dryRun, review.decision], [false, 'deny']);
    });

    it('a Deployment with an unpinned model is refused at once, naming the volume and its template path', async () => {
      const object = deployment('unpinned-llm', TEAM, [emptyDir(), modelVolume(PINNED), modelVolume(UNPINNED_TOKENIZER, 'tokenizer')]);
      const result = await apply(object);
      assert.equal(result.code, 1);
      assert.deepEqual(result.stderr.trimEnd().split('\n'), [
        `Error from server (Forbidden): error when creating "STDIN": admission webhook "${WEBHOOK_NAME}" denied the request: modelgate denied Deployment ${TEAM}/unpinned-llm: a model reference failed policy`,
        `- volume "tokenizer" at spec.template.spec.volumes[2].image.reference, reference "${UNPINNED_TOKENIZER}":`,
        `    policy "team-pinning" rule requireDigest: pinned only by tag "v1", not by digest: the model behind it can change after it was checked`,
        `      Fix: pin it by digest as ${UNPINNED_TOKENIZER}@sha256:<digest> (the digest is printed by \`oras resolve ${UNPINNED_TOKENIZER}\` or \`crane digest ${UNPINNED_TOKENIZER}\`).`,
      ]);
      await assertNotFound('deployment', 'deployments.apps', TEAM, 'unpinned-llm');
      const review = await waitForReview((r) => r.name === 'unpinned-llm', 'unpinned-llm');
      assert.deepEqual(
        [review.kind, review.operation, review.dryRun, review.decision, review.reasons],
        ['Deployment', 'CREATE', false, 'deny', ['spec.template.spec.volumes[2].image.reference: team-pinning/requireDigest']],
      );
    });

    it('a Deployment with pinned models is created', async () => {
      const result = await apply(deployment('pinned-llm', TEAM, [emptyDir(), modelVolume(PINNED), modelVolume(PINNED_TOKENIZER, 'tokenizer')]));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), 'deployment.apps/pinned-llm created');
      const stored = (await getJson('deployment', TEAM, 'pinned-llm')) as {
        spec: { template: { spec: { volumes: Array<{ image?: { reference: string } }> } } };
      };
      assert.deepEqual(
        stored.spec.template.spec.volumes.map((volume) => volume.image?.reference),
        [undefined, PINNED, PINNED_TOKENIZER],
      );
      const review = await waitForReview((r) => r.name === 'pinned-llm', 'pinned-llm');
      assert.deepEqual([review.kind, review.operation, review.dryRun, review.decision], ['Deployment', 'CREATE', false, 'allow']);
    });

    it('re-applying the Deployment with a model changed to a tag is refused as an UPDATE; the stored object keeps its digest', async () => {
      const result = await apply(deployment('pinned-llm', TEAM, [emptyDir(), modelVolume(UNPINNED), modelVolume(PINNED_TOKENIZER, 'tokenizer')]));
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /admission webhook "validate\.modelgate\.dev" denied the request: modelgate denied Deployment team-a\/pinned-llm: a model reference failed policy/,
      );
      assert.ok(result.stderr.includes(`- volume "model" at spec.template.spec.volumes[1].image.reference, reference "${UNPINNED}":`), result.stderr);
      const review = await waitForReview((r) => r.name === 'pinned-llm' && r.operation === 'UPDATE', 'pinned-llm UPDATE');
      assert.deepEqual([review.decision, review.reasons], ['deny', ['spec.template.spec.volumes[1].image.reference: team-pinning/requireDigest']]);
      const stored = (await getJson('deployment', TEAM, 'pinned-llm')) as {
        spec: { template: { spec: { volumes: Array<{ image?: { reference: string } }> } } };
      };
      assert.equal(stored.spec.template.spec.volumes[1]?.image?.reference, PINNED);
    });

    it('CronJobs: an unpinned model is refused with its jobTemplate path, a pinned one is created', async () => {
      const denied = await apply(cronJob('unpinned-eval', TEAM, [modelVolume(UNPINNED)]));
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /denied the request: modelgate denied CronJob team-a\/unpinned-eval: a model reference failed policy/);
      assert.ok(
        denied.stderr.includes(`- volume "model" at spec.jobTemplate.spec.template.spec.volumes[0].image.reference, reference "${UNPINNED}":`),
        denied.stderr,
      );
      assert.ok(denied.stderr.includes('policy "team-pinning" rule requireDigest'), denied.stderr);
      await assertNotFound('cronjob', 'cronjobs.batch', TEAM, 'unpinned-eval');

      const dry = await apply(cronJob('pinned-eval', TEAM, [modelVolume(PINNED)]), true);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout.trim(), 'cronjob.batch/pinned-eval created (server dry run)');
      await assertNotFound('cronjob', 'cronjobs.batch', TEAM, 'pinned-eval');
      const created = await apply(cronJob('pinned-eval', TEAM, [modelVolume(PINNED)]));
      assert.equal(created.code, 0, created.stderr);
      assert.equal(created.stdout.trim(), 'cronjob.batch/pinned-eval created');
      // modelgate logs a review just after answering it: wait for the last one.
      await waitForReview((r) => r.name === 'pinned-eval' && !r.dryRun, 'pinned-eval');
      const reviews = g()
        .reviews()
        .filter((r) => r.kind === 'CronJob');
      assert.deepEqual(
        reviews.map((r) => [r.name, r.dryRun, r.decision]),
        [
          ['unpinned-eval', false, 'deny'],
          ['pinned-eval', true, 'allow'],
          ['pinned-eval', false, 'allow'],
        ],
      );
    });
  });

  describe('what the webhook configuration never sends', () => {
    it('objects without image volumes (a plain Pod, a ConfigMap, a Deployment with only emptyDir) never reach modelgate', async () => {
      const results: RunResult[] = [];
      const seen = await reviewsDuring(async () => {
        results.push(await apply(pod('plain-pod', TEAM, [])));
        results.push(await apply(configMap('model-settings', TEAM)));
        results.push(await apply(deployment('cache-only', TEAM, [emptyDir()])));
      });
      assert.deepEqual(
        results.map((r) => [r.code, r.stdout.trim()]),
        [
          [0, 'pod/plain-pod created'],
          [0, 'configmap/model-settings created'],
          [0, 'deployment.apps/cache-only created'],
        ],
      );
      assert.deepEqual(seen, []);
    });

    it('a label-only change of an admitted Deployment with image volumes never reaches modelgate', async () => {
      let labelled: RunResult | undefined;
      const seen = await reviewsDuring(async () => {
        labelled = await kubectl(['label', 'deployment', 'pinned-llm', '-n', TEAM, 'tier=gold']);
      });
      assert.equal(labelled?.code, 0, labelled?.stderr);
      assert.equal(labelled?.stdout.trim(), 'deployment.apps/pinned-llm labeled');
      assert.deepEqual(seen, []);
      const stored = (await getJson('deployment', TEAM, 'pinned-llm')) as { metadata: { labels?: Record<string, string> } };
      assert.equal(stored.metadata.labels?.['tier'], 'gold');
    });

    it("a Job with 400 image volumes, and one near etcd's size limit: created, then label updates never reach modelgate (matchConditions within CEL's cost limit)", async () => {
      for (const count of [400, 6_000]) {
        const name = `wide-${count}`;
        // No volumeMounts (image volumes need none) and `create`, not `apply`: apply's
        // last-applied annotation would double the object and pass the 256 KiB annotation limit.
        const job: KubeObject = {
          apiVersion: 'batch/v1',
          kind: 'Job',
          metadata: { name, namespace: TEAM },
          spec: {
            template: {
              spec: {
                containers: [{ name: 'server', image: APP_IMAGE }],
                restartPolicy: 'Never',
                // Distinct references: a pairwise comparison of them costs n², identical ones would not show it.
                volumes: Array.from({ length: count }, (_, index) => modelVolume(`ghcr.io/acme/models/m${index}@sha256:${hex(`m${index}`)}`, `m${index}`)),
              },
            },
          },
        };
        const created = await kubectl(['create', '-f', '-'], job);
        assert.equal(created.code, 0, `${name}: ${created.stderr.slice(0, 500)}`);
        let labelled: RunResult | undefined;
        const seen = await reviewsDuring(async () => {
          labelled = await kubectl(['label', 'job', name, '-n', TEAM, 'tier=gold']);
        });
        assert.equal(labelled?.code, 0, `${name}: ${labelled?.stderr.slice(0, 500)}`);
        assert.equal(labelled?.stdout.trim(), `job.batch/${name} labeled`);
        assert.deepEqual(seen, [], `${name}: a label change reached modelgate`);
      }
    });

    it('kube-system is left out (namespaceSelector): a Pod with an unpinned model is created without a review', async () => {
      let created: RunResult | undefined;
      const seen = await reviewsDuring(async () => {
        created = await apply(pod('unpinned-system', 'kube-system', [modelVolume(UNPINNED)]));
      });
      assert.equal(created?.code, 0, created?.stderr);
      assert.equal(created?.stdout.trim(), 'pod/unpinned-system created');
      assert.deepEqual(seen, []);
      assert.equal(
        g()
          .reviews()
          .filter((r) => r.namespace === 'kube-system').length,
        0,
      );
    });
  });

  describe('warn mode (namespace lab)', () => {
    // Each warning is one line of at most 120 characters (src/engine/decision.ts,
    // MAX_WARNING_LENGTH), cut with "…"; kubectl prints it as "Warning: <text>".
    it("a Pod with an unpinned model is created, and kubectl prints modelgate's warning", async () => {
      const result = await apply(pod('unpinned-lab', LAB, [modelVolume(UNPINNED)]));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), 'pod/unpinned-lab created');
      assert.deepEqual(result.stderr.trimEnd().split('\n'), [
        'Warning: modelgate: lab-pinning/requireDigest: volume "model": pinned only by tag "v1", not by digest: the model behind it can c…',
      ]);
      assert.equal(result.stderr.trimEnd().length, 'Warning: '.length + 120);
      await getJson('pod', LAB, 'unpinned-lab');
      const review = await waitForReview((r) => r.name === 'unpinned-lab', 'unpinned-lab');
      assert.deepEqual(
        [review.namespace, review.dryRun, review.decision, review.reasons],
        [LAB, false, 'warn', ['spec.volumes[0].image.reference: lab-pinning/requireDigest (warn)']],
      );
    });

    it("a Deployment's warning names the pod template path (dry-run too); a pinned model gets none", async () => {
      const dry = await apply(deployment('unpinned-lab', LAB, [modelVolume(UNPINNED)]), true);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout.trim(), 'deployment.apps/unpinned-lab created (server dry run)');
      assert.deepEqual(dry.stderr.trimEnd().split('\n'), [
        'Warning: modelgate: lab-pinning/requireDigest: volume "model": pinned only by tag "v1", not by digest: the model behind it can c…',
      ]);
      await assertNotFound('deployment', 'deployments.apps', LAB, 'unpinned-lab');
      const dryReview = await waitForReview((r) => r.name === 'unpinned-lab' && r.kind === 'Deployment', 'deployment unpinned-lab');
      assert.deepEqual([dryReview.dryRun, dryReview.decision], [true, 'warn']);

      const pinned = await apply(deployment('pinned-lab', LAB, [modelVolume(PINNED)]));
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.equal(pinned.stdout.trim(), 'deployment.apps/pinned-lab created');
      assert.equal(pinned.stderr, '');
      const review = await waitForReview((r) => r.name === 'pinned-lab', 'pinned-lab');
      assert.equal(review.decision, 'allow');
    });
  });

  describe('registry-backed: artifact and signature rules through the apiserver (namespace signed-models)', () => {
    let signed: PushedArtifact;
    let unsigned: PushedArtifact;
    let otherKey: PushedArtifact;

    before(async () => {
      assert.ok(registry !== undefined);
      // The same ModelPack in three repositories: signed with the policy's key,
      // not signed, and signed with another key.
      signed = await pushArtifact(registry, buildModelPack(), 'e2e/signed-modelpack', 'v1');
      await signCosign2(registry, signed, keys);
      unsigned = await pushArtifact(registry, buildModelPack(), 'e2e/unsigned-modelpack', 'v1');
      otherKey = await pushArtifact(registry, buildModelPack(), 'e2e/other-key-modelpack', 'v1');
      await signCosign2(registry, otherKey, await generateSigningKeys());
    });

    it('admits the signed, digest-pinned ModelPack', async () => {
      const result = await apply(pod('signed-model', SIGNED, [modelVolume(signed.ref)]));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), 'pod/signed-model created');
      assert.equal(result.stderr, '');
      const review = await waitForReview((r) => r.name === 'signed-model', 'signed-model');
      assert.deepEqual([review.decision, review.reasons], ['allow', []]);
    });

    it("denies the same ModelPack where it is not signed, with the signature summary in kubectl's error", async () => {
      const result = await apply(pod('unsigned-model', SIGNED, [modelVolume(unsigned.ref)]));
      assert.equal(result.code, 1);
      const stderr = result.stderr;
      assert.match(
        stderr,
        /^Error from server \(Forbidden\): error when creating "STDIN": admission webhook "validate\.modelgate\.dev" denied the request: modelgate denied Pod signed-models\/unsigned-model: a model reference failed policy$/m,
      );
      assert.ok(stderr.includes(`- volume "model" at spec.volumes[0].image.reference, reference "${unsigned.ref}":`), stderr);
      assert.ok(stderr.includes('policy "signed-models" rule signatures: the artifact is not signed as spec.signatures requires'), stderr);
      assert.ok(stderr.includes('signatures: 0 of 1 authority passed, threshold 1 not met'), stderr);
      assert.ok(stderr.includes('- release (key): failed: no signature found'), stderr);
      await assertNotFound('pod', 'pods', SIGNED, 'unsigned-model');
      const review = await waitForReview((r) => r.name === 'unsigned-model', 'unsigned-model');
      assert.deepEqual([review.decision, review.reasons], ['deny', ['spec.volumes[0].image.reference: signed-models/signatures']]);
    });

    it('denies a ModelPack signed with another key, and a tag-only reference before any registry read', async () => {
      const wrongKey = await apply(pod('other-key-model', SIGNED, [modelVolume(otherKey.ref)]));
      assert.equal(wrongKey.code, 1);
      assert.ok(wrongKey.stderr.includes('policy "signed-models" rule signatures: the artifact is not signed as spec.signatures requires'), wrongKey.stderr);
      assert.match(
        wrongKey.stderr,
        /^ +- release \(key\): failed: the only signature found did not verify: sha256-[0-9a-f]{12}….sig layer 1: the signature does not verify with release's key/m,
      );
      await assertNotFound('pod', 'pods', SIGNED, 'other-key-model');

      const tagged = await apply(pod('tagged-model', SIGNED, [modelVolume(signed.tagRef)]), true);
      assert.equal(tagged.code, 1);
      assert.ok(tagged.stderr.includes(`policy "signed-models" rule requireDigest: pinned only by tag "v1", not by digest`), tagged.stderr);
      const review = await waitForReview((r) => r.name === 'tagged-model', 'tagged-model');
      assert.deepEqual(review.reasons, ['spec.volumes[0].image.reference: signed-models/requireDigest']);
    });
  });

  describe('a webhook that is down', () => {
    it('fails closed for image volumes only; kube-system and label-only updates still go through; restarted, it judges again', async () => {
      const stopped = await g().stop();
      assert.equal(stopped?.code, 0, 'SIGTERM ends `modelgate serve` cleanly');
      assert.equal(g().isRunning(), false);
      try {
        const refused = await apply(pod('while-down', TEAM, [modelVolume(PINNED)]));
        assert.equal(refused.code, 1);
        assert.match(
          refused.stderr,
          new RegExp(
            `^Error from server \\(InternalError\\): error when creating "STDIN": Internal error occurred: failed calling webhook "validate\\.modelgate\\.dev": failed to call webhook: Post "https://127\\.0\\.0\\.1:${g().port}/validate\\?timeout=5s": dial tcp 127\\.0\\.0\\.1:${g().port}: connect: connection refused$`,
            'm',
          ),
        );
        await assertNotFound('pod', 'pods', TEAM, 'while-down');

        // matchConditions keep the blast radius small.
        const plain = await apply(pod('plain-while-down', TEAM, []));
        assert.equal(plain.code, 0, plain.stderr);
        assert.equal(plain.stdout.trim(), 'pod/plain-while-down created');
        const labelled = await kubectl(['label', 'deployment', 'pinned-llm', '-n', TEAM, 'tier=silver', '--overwrite']);
        assert.equal(labelled.code, 0, labelled.stderr);
        // namespaceSelector: kube-system never waits on modelgate.
        const system = await apply(pod('model-while-down', 'kube-system', [modelVolume(UNPINNED)]));
        assert.equal(system.code, 0, system.stderr);
        assert.equal(system.stdout.trim(), 'pod/model-while-down created');
      } finally {
        await g().start();
      }
      await waitUntilEffective();
      const restarted = await apply(pod('after-restart', TEAM, [modelVolume(PINNED)]));
      assert.equal(restarted.code, 0, restarted.stderr);
      assert.equal(restarted.stdout.trim(), 'pod/after-restart created');
      const review = await waitForReview((r) => r.name === 'after-restart', 'after-restart');
      assert.equal(review.decision, 'allow');
      // No review of anything created while modelgate was down was ever logged.
      assert.deepEqual(
        g()
          .reviews()
          .filter((r) => ['while-down', 'plain-while-down', 'model-while-down'].includes(r.name)),
        [],
      );
    });
  });
});
