/**
 * Prometheus metrics: the Metrics class on its own (counters, histograms,
 * bounded labels, cache deltas, policy revision), GET /metrics of the real
 * HTTPS server after real reviews, and registry requests reported through the
 * RegistryClient's onRequest hook of a registry-backed engine.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { register as globalRegister } from 'prom-client';
import { Agent, request } from 'undici';
import { handleAdmission } from '../../src/admission/handle.ts';
import { parseAdmissionReview } from '../../src/admission/review.ts';
import { createEngine } from '../../src/engine/engine.ts';
import { createLogger } from '../../src/core/log.ts';
import { Metrics, REVIEW_BUCKETS, engineCaches } from '../../src/server/metrics.ts';
import type { RequestEvent } from '../../src/oci/http.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { startServer } from '../../src/server/serve.ts';
import type { RunningServer } from '../../src/server/serve.ts';
import { startServer as startFakeServer } from '../support/fake-servers.ts';
import type { RunningServer as FakeServer } from '../support/fake-servers.ts';
import { PINNED, UNPINNED, admissionReview, kubeObject } from '../support/objects.ts';
import { makeCerts } from '../support/webhook-server.ts';

// ---- a small exposition-format parser -------------------------------------------------------

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match !== null, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return { types, samples };
}

function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = exposition.samples.find(
    (s) =>
      s.name === name &&
      Object.entries(labels).every(([key, wanted]) => s.labels[key] === wanted) &&
      Object.keys(s.labels).length === Object.keys(labels).length,
  );
  return sample?.value;
}

async function scrape(metrics: Metrics): Promise<Exposition> {
  return parseExposition(await metrics.render());
}

const event = (registry: string, status: number, path: string, durationMs = 12): RequestEvent => ({
  registry,
  method: 'GET',
  host: registry,
  path,
  status,
  durationMs,
  attempt: 1,
});

// ---- the class --------------------------------------------------------------------------------

describe('Metrics', () => {
  it('counts reviews by decision and kind, findings by mode and rule, and observes latency in a histogram', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.observeReview('deny', 'Deployment', 0.0003, [{ mode: 'enforce', rule: 'requireDigest' }]);
    metrics.observeReview('deny', 'Deployment', 0.002, [
      { mode: 'enforce', rule: 'requireDigest' },
      { mode: 'warn', rule: 'artifact.mountable' },
    ]);
    metrics.observeReview('allow', 'Pod', 0.00005);
    metrics.observeReview('warn', 'CronJob', 0.04, [{ mode: 'warn', rule: 'requireDigest' }]);
    metrics.observeReview('allow', 'Service', 0.00001);
    metrics.observeReview('error', 'Widget', 1.5);
    const e = await scrape(metrics);
    assert.equal(e.types.get('modelgate_reviews_total'), 'counter');
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'deny', kind: 'Deployment' }), 2);
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'allow', kind: 'Pod' }), 1);
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'warn', kind: 'CronJob' }), 1);
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'allow', kind: 'other' }), 1, 'kinds without a pod spec are "other"');
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'error', kind: 'other' }), 1);
    assert.equal(value(e, 'modelgate_findings_total', { mode: 'enforce', rule: 'requireDigest' }), 2);
    assert.equal(value(e, 'modelgate_findings_total', { mode: 'warn', rule: 'requireDigest' }), 1);
    assert.equal(value(e, 'modelgate_findings_total', { mode: 'warn', rule: 'artifact.mountable' }), 1);

    assert.equal(e.types.get('modelgate_review_duration_seconds'), 'histogram');
    const buckets = e.samples.filter((s) => s.name === 'modelgate_review_duration_seconds_bucket');
    assert.deepEqual(
      buckets.map((s) => s.labels['le']),
      [...REVIEW_BUCKETS.map(String), '+Inf'],
    );
    assert.equal(REVIEW_BUCKETS[0], 0.0001, 'sub-millisecond buckets');
    assert.equal(value(e, 'modelgate_review_duration_seconds_bucket', { le: '0.0001' }), 2);
    assert.equal(value(e, 'modelgate_review_duration_seconds_bucket', { le: '0.0025' }), 4);
    assert.equal(value(e, 'modelgate_review_duration_seconds_bucket', { le: '+Inf' }), 6);
    assert.equal(value(e, 'modelgate_review_duration_seconds_count'), 6);
    assert.ok(Math.abs((value(e, 'modelgate_review_duration_seconds_sum') ?? 0) - 1.54236) < 1e-9);
  });

  it('counts registry requests by registry and status with latency, never with the path (it holds digests)', async () => {
    const metrics = new Metrics({ defaultMetrics: false, maxRegistries: 2 });
    const digest = `sha256:${'c'.repeat(64)}`;
    metrics.observeRegistryRequest(event('ghcr.io', 200, `/v2/acme/models/llama/manifests/${digest}`, 40));
    metrics.observeRegistryRequest(event('ghcr.io', 200, `/v2/acme/models/llama/blobs/${digest}`, 3));
    metrics.observeRegistryRequest(event('ghcr.io', 401, '/v2/acme/models/llama/manifests/v1'));
    metrics.observeRegistryRequest(event('127.0.0.1:5000', 0, `/v2/x/manifests/${digest}`, 2000));
    metrics.observeRegistryRequest(event('evil-1.example', 200, `/v2/x/manifests/${digest}`));
    metrics.observeRegistryRequest(event('evil-2.example', 200, `/v2/x/manifests/${digest}`));
    const e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_registry_requests_total', { registry: 'ghcr.io', status: '200' }), 2);
    assert.equal(value(e, 'modelgate_registry_requests_total', { registry: 'ghcr.io', status: '401' }), 1);
    assert.equal(value(e, 'modelgate_registry_requests_total', { registry: '127.0.0.1:5000', status: 'error' }), 1, 'no answer: status "error"');
    assert.equal(value(e, 'modelgate_registry_requests_total', { registry: 'other', status: '200' }), 2, 'registries past the cap share "other"');
    assert.equal(e.types.get('modelgate_registry_request_duration_seconds'), 'histogram');
    assert.equal(value(e, 'modelgate_registry_request_duration_seconds_count', { registry: 'ghcr.io' }), 3);
    assert.equal(value(e, 'modelgate_registry_request_duration_seconds_bucket', { registry: 'ghcr.io', le: '0.005' }), 1);
    assert.equal(value(e, 'modelgate_registry_request_duration_seconds_bucket', { registry: '127.0.0.1:5000', le: '1' }), 0);
    for (const sample of e.samples) {
      for (const [label, text] of Object.entries(sample.labels)) {
        assert.doesNotMatch(text, /sha256|\/v2\//, `label ${label} of ${sample.name} holds a path or digest`);
        assert.notEqual(label, 'path');
      }
    }
  });

  it('keeps the rule label bounded', async () => {
    const metrics = new Metrics({ defaultMetrics: false, maxRules: 2 });
    metrics.observeReview('deny', 'Pod', 0.001, [
      { mode: 'enforce', rule: 'requireDigest' },
      { mode: 'enforce', rule: 'registries' },
      { mode: 'enforce', rule: 'signatures' },
      { mode: 'audit', rule: 'not a rule {"x"}' },
    ]);
    const e = await scrape(metrics);
    assert.deepEqual(
      e.samples.filter((s) => s.name === 'modelgate_findings_total').map((s) => `${s.labels['mode']}/${s.labels['rule']}`),
      ['enforce/requireDigest', 'enforce/registries', 'enforce/other', 'audit/other'],
    );
  });

  it('reads cache hits and misses at scrape time, monotonically across engine swaps', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let artifacts = { stats: { hits: 3, misses: 2, shared: 1 } };
    const signatures = { stats: { hits: 0, misses: 4 } };
    metrics.attachCaches(() => ({ artifacts, signatures }));
    let e = await scrape(metrics);
    assert.equal(e.types.get('modelgate_cache_requests_total'), 'counter');
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'hit' }), 3);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'miss' }), 2);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'shared' }), 1);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'signatures', result: 'hit' }), 0);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'signatures', result: 'miss' }), 4);
    artifacts.stats.hits += 5;
    e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'hit' }), 8);
    // A policy reload builds a new engine whose caches count from zero: the counter must not go back.
    artifacts = { stats: { hits: 1, misses: 0, shared: 0 } };
    e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'hit' }), 9);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'miss' }), 2);
    // No engine (no policy yet): zeros stay, nothing breaks.
    metrics.attachCaches(() => undefined);
    e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'hit' }), 9);
    assert.equal(engineCaches(undefined), undefined);
  });

  it('counts policy reloads and exposes the active revision', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_policy_reloads_total', { result: 'success' }), 0);
    assert.equal(value(e, 'modelgate_policy_reloads_total', { result: 'error' }), 0);
    const info = (x: Exposition): [string | undefined, number][] =>
      x.samples.filter((s) => s.name === 'modelgate_policy_info').map((s) => [s.labels['revision'], s.value]);
    metrics.setPolicyRevision('aaaaaaaaaaaa');
    metrics.policyReload(true, 'bbbbbbbbbbbb');
    // Refused: the watcher reports the revision that stays active.
    metrics.policyReload(false, 'bbbbbbbbbbbb');
    metrics.policyReload(false);
    e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_policy_reloads_total', { result: 'success' }), 1);
    assert.equal(value(e, 'modelgate_policy_reloads_total', { result: 'error' }), 2);
    assert.equal(e.types.get('modelgate_policy_info'), 'gauge');
    assert.deepEqual(info(e), [['bbbbbbbbbbbb', 1]], 'a refused reload keeps the previous revision');
    // Applied in part (one ConfigMap refused, the rest applied): an error, and the new revision is active.
    metrics.policyReload(false, 'cccccccccccc');
    e = await scrape(metrics);
    assert.equal(value(e, 'modelgate_policy_reloads_total', { result: 'error' }), 3);
    assert.deepEqual(info(e), [['cccccccccccc', 1]]);
  });

  it('has the default process metrics in its own registry, not the global one', async () => {
    const metrics = new Metrics();
    const e = await scrape(metrics);
    assert.ok(e.types.has('process_cpu_seconds_total'));
    assert.ok(e.types.has('process_resident_memory_bytes'));
    assert.ok(e.types.has('nodejs_heap_size_used_bytes'));
    assert.ok(e.types.has('nodejs_eventloop_lag_seconds'));
    assert.equal(metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.doesNotMatch(await globalRegister.metrics(), /modelgate_/);
  });

  it('costs little per review', () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const findings = [{ mode: 'enforce', rule: 'requireDigest' }] as const;
    const count = 100_000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < count; i++)
      metrics.observeReview(i % 3 === 0 ? 'deny' : 'allow', i % 2 === 0 ? 'Pod' : 'Deployment', 0.0004, i % 3 === 0 ? findings : []);
    const perReviewUs = Number(process.hrtime.bigint() - started) / 1e3 / count;
    assert.ok(perReviewUs < 20, `observeReview took ${perReviewUs.toFixed(2)} µs per review`);
  });
});

// ---- GET /metrics of the server ---------------------------------------------------------------------

describe('GET /metrics', () => {
  const policySet = policySetFromTexts([
    {
      source: 'p.yaml',
      text: `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: pinned-models}
spec: {match: {namespaces: ["team-*"]}}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec: {defaultAction: allow}
`,
    },
  ]);
  let server: RunningServer;
  let plain: RunningServer;
  let agent: Agent;
  let url: string;
  const metrics = new Metrics();
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });

  before(async () => {
    const certs = await makeCerts();
    const common = { host: '127.0.0.1', port: 0, tlsCert: join(certs.dir, 'tls.crt'), tlsKey: join(certs.dir, 'tls.key'), logger: createLogger('info', sink) };
    server = await startServer({ ...common, engines: { current: () => ({ policySet, artifacts: undefined }) }, metrics });
    plain = await startServer({ ...common, engines: { current: () => undefined } });
    agent = new Agent({ connect: { ca: certs.ca, servername: 'localhost' } });
    url = `https://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await agent?.close();
    await server?.close();
    await plain?.close();
  });

  const post = async (body: string, target = url): Promise<number> => {
    const response = await request(`${target}/validate`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher: agent });
    await response.body.text();
    return response.statusCode;
  };

  it('serves the review counters, findings and latency after real reviews', async () => {
    await post(JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]))));
    await post(JSON.stringify(admissionReview(kubeObject('Deployment', [{ name: 'model', reference: UNPINNED }]))));
    await post(JSON.stringify(admissionReview(kubeObject('Deployment', [{ name: 'model', reference: UNPINNED }]))));
    await post(JSON.stringify(admissionReview({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'team-a' } })));
    assert.equal(await post('{"kind": "AdmissionReview"}'), 400);
    // Not ready: no engine.
    await post(JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]))), `https://127.0.0.1:${plain.port}`);

    const response = await request(`${url}/metrics`, { dispatcher: agent });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const e = parseExposition(await response.body.text());
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'allow', kind: 'Pod' }), 1);
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'deny', kind: 'Deployment' }), 2);
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'allow', kind: 'other' }), 1);
    assert.equal(value(e, 'modelgate_reviews_total', { decision: 'error', kind: 'other' }), 1, 'the malformed review');
    assert.equal(value(e, 'modelgate_findings_total', { mode: 'enforce', rule: 'requireDigest' }), 2);
    assert.equal(value(e, 'modelgate_review_duration_seconds_count'), 5);
    assert.ok((value(e, 'modelgate_review_duration_seconds_sum') ?? 0) > 0);
    assert.ok(e.types.has('process_cpu_seconds_total'));
  });

  it('is absent without metrics, and never part of the admission path', async () => {
    const response = await request(`https://127.0.0.1:${plain.port}/metrics`, { dispatcher: agent });
    assert.equal(response.statusCode, 404);
    await response.body.text();
    const post = await request(`${url}/metrics`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, dispatcher: agent });
    assert.equal(post.statusCode, 404);
    await post.body.text();
  });
});

// ---- registry requests through the engine's hook ------------------------------------------------------

describe('registry metrics from the RegistryClient hook', () => {
  let registry: FakeServer;
  before(async () => {
    registry = await startFakeServer((req, res) => {
      // An empty registry: /v2/ answers, every manifest is unknown.
      res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/v2/' ? '{}' : '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    });
  });
  after(async () => registry?.stop());

  it('labels requests by registry and status, and counts the cache miss', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const policySet = policySetFromTexts([
      {
        source: 'p.yaml',
        text: `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: models}
spec: {onError: warn, artifact: {types: [modelpack]}}
---
apiVersion: modelgate.dev/v1alpha1
kind: Config
spec: {registries: [{host: "${registry.host}", insecure: true}]}
`,
      },
    ]);
    const engine = createEngine(policySet, { onRequest: (e) => metrics.observeRegistryRequest(e) });
    metrics.attachCaches(() => engineCaches(engine));
    try {
      const reference = `${registry.host}/models/llama@sha256:${'d'.repeat(64)}`;
      const outcome = await handleAdmission(parseAdmissionReview(admissionReview(kubeObject('Pod', [{ name: 'model', reference }]))), engine);
      assert.equal(outcome.decision.allowed, true, 'onError: warn');
      const e = await scrape(metrics);
      assert.ok((value(e, 'modelgate_registry_requests_total', { registry: registry.host, status: '404' }) ?? 0) >= 1, await metrics.render());
      assert.ok((value(e, 'modelgate_registry_request_duration_seconds_count', { registry: registry.host }) ?? 0) >= 1);
      assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'miss' }), 1);
      assert.equal(value(e, 'modelgate_cache_requests_total', { cache: 'artifacts', result: 'hit' }), 0);
      for (const sample of e.samples) for (const text of Object.values(sample.labels)) assert.doesNotMatch(text, /sha256|dddd/);
    } finally {
      await engine.client?.close();
    }
  });
});
