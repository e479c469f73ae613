/**
 * PolicyWatcher against a scripted API server on loopback: list then watch
 * from the list's resourceVersion, relist on 410 Gone, retry with backoff
 * after errors, Events only for invalid policy, nothing left running after
 * stop(). The real kube-apiserver cases are in test/e2e/policies.test.ts.
 *
 * The API server is real (loopback HTTP); the watcher's debounce, retries, re-watch
 * delays and readiness limit run on a test clock that the tests move on.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { EventRecorder, EventTarget, PolicyEvent } from '../../../src/kube/events.ts';
import { PolicyWatcher } from '../../../src/kube/policy-watch.ts';
import type { ReloadResult } from '../../../src/kube/policy-watch.ts';
import { createLogger } from '../../../src/core/log.ts';
import type { PolicySet } from '../../../src/policy/types.ts';
import { TestClock } from '../../support/clock.ts';

const NS = 'modelgate';
const policy = (name: string, mode: string): string =>
  `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: {mode: ${mode}}\n`;

type WatchMode = 'stream' | 'gone' | 'error-500';

/** ConfigMaps with resourceVersions, served by list and watch like the API server (one namespace). */
class FakeApiServer {
  readonly server: Server;
  readonly requests: string[] = [];
  configMaps = new Map<string, V1ConfigMap>();
  rv = 10;
  listFailures = 0;
  watchMode: WatchMode = 'stream';
  readonly #watchers = new Set<ServerResponse>();

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  /** Stores a ConfigMap and tells open watches; `silent` changes only what the next list returns. */
  put(name: string, data: Record<string, string>, silent = false): void {
    this.rv++;
    const type = this.configMaps.has(name) ? 'MODIFIED' : 'ADDED';
    const object: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: NS, uid: `uid-${name}`, resourceVersion: String(this.rv), labels: { 'modelgate.dev/policy': 'true' } },
      data,
    };
    this.configMaps.set(name, object);
    if (!silent) this.#send(type, object);
  }

  remove(name: string, silent = false): void {
    const object = this.configMaps.get(name);
    if (object === undefined) return;
    this.rv++;
    this.configMaps.delete(name);
    if (!silent) this.#send('DELETED', { ...object, metadata: { ...object.metadata, resourceVersion: String(this.rv) } });
  }

  /** Ends open watches with an ERROR 410 event, as the API server does for a compacted resourceVersion. */
  expireWatches(): void {
    for (const res of this.#watchers) {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`,
      );
    }
    this.#watchers.clear();
  }

  closeWatches(): void {
    for (const res of this.#watchers) res.destroy();
    this.#watchers.clear();
  }

  #send(type: string, object: V1ConfigMap): void {
    for (const res of this.#watchers) res.write(`${JSON.stringify({ type, object })}\n`);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === 'true';
    this.requests.push(`${req.method} ${url.pathname}${watch ? ` watch rv=${url.searchParams.get('resourceVersion')}` : ' list'}`);
    if (url.pathname === `/api/v1/namespaces/${NS}/configmaps` && url.searchParams.get('labelSelector') === 'modelgate.dev/policy=true') {
      if (!watch) {
        if (this.listFailures > 0) {
          this.listFailures--;
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 500, message: 'etcd is sad' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMapList', metadata: { resourceVersion: String(this.rv) }, items: [...this.configMaps.values()] }),
        );
        return;
      }
      if (this.watchMode === 'error-500') {
        res.writeHead(500).end();
        return;
      }
      if (this.watchMode === 'gone') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      this.#watchers.add(res);
      res.on('close', () => this.#watchers.delete(res));
      return;
    }
    res.writeHead(404).end();
  }
}

class RecordedEvents implements EventRecorder {
  readonly events: { target: EventTarget; event: PolicyEvent }[] = [];
  async warning(target: EventTarget, event: PolicyEvent): Promise<void> {
    this.events.push({ target, event });
  }
}

function kubeConfig(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return config;
}

const clock = new TestClock();
/** Timers due within this are run by `until`: debounce, backoff, re-watch delays (not whenReady's limit). */
const HORIZON_MS = 1000;

/**
 * Waits for the API server (real I/O) until `get` holds; meanwhile, unless `drive` is false,
 * the clock jumps to each watcher timer that falls due within HORIZON_MS.
 */
async function until<T>(what: string, get: () => T | undefined, { drive = true } = {}): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = get();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    const next = clock.pending[0];
    if (drive && next !== undefined && next <= HORIZON_MS) clock.advance(next);
    await sleep(5);
  }
}

describe('PolicyWatcher (scripted API server)', () => {
  let api: FakeApiServer;
  let watcher: PolicyWatcher | undefined;
  const applied: PolicySet[] = [];
  const reloads: ReloadResult[] = [];
  const events = new RecordedEvents();
  const logLines: string[] = [];
  const relists = (): number => logLines.filter((line) => line.includes('policy ConfigMaps listed again')).length;

  before(async () => {
    api = new FakeApiServer();
    await new Promise<void>((resolve) => api.server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    watcher?.stop();
    api.server.closeAllConnections();
    await new Promise((resolve) => api.server.close(resolve));
  });

  const modeOf = (name: string): string | undefined => watcher?.policySet?.policies.find((p) => p.name === name)?.mode;

  it('is not ready while listing fails; retries with backoff and loads once the list succeeds', async () => {
    api.put('policies', { 'p.yaml': policy('a', 'enforce') });
    api.listFailures = 2;
    watcher = new PolicyWatcher({
      kubeConfig: kubeConfig(api.url),
      namespace: NS,
      logger: createLogger('info', { write: (line: string) => logLines.push(line) }),
      onPolicySet: (set) => applied.push(set),
      onReload: (result) => reloads.push(result),
      events,
      retry: { initialMs: 50, maxMs: 200 },
      debounceMs: 10,
      timers: clock,
    });
    watcher.start();
    // The first list fails: a retry waits for its backoff (50 ms ±20%), and nothing is published.
    const [retryIn] = await until('the first retry', () => (clock.pending.length === 1 ? clock.pending : undefined), { drive: false });
    assert.ok(retryIn !== undefined && retryIn >= 40 && retryIn <= 60, `retry in ${retryIn} ms`);
    assert.equal(watcher.ready, false);
    assert.equal(watcher.policySet, undefined);
    const ready = watcher.whenReady(5000);
    await until('the policy set', () => watcher?.ready);
    const set = await ready;
    assert.deepEqual(
      set.policies.map((p) => p.name),
      ['a'],
    );
    assert.deepEqual(api.requests.slice(0, 3), [
      `GET /api/v1/namespaces/${NS}/configmaps list`,
      `GET /api/v1/namespaces/${NS}/configmaps list`,
      `GET /api/v1/namespaces/${NS}/configmaps list`,
    ]);
    await until('the watch', () => api.openWatches === 1);
    assert.match(api.requests.at(-1) ?? '', new RegExp(`watch rv=${api.rv}$`), 'watches from the list’s resourceVersion');
    assert.equal(applied.length, 1);
    assert.deepEqual(reloads, [{ ok: true, revision: set.revision, errors: [] }]);
  });

  it('follows watch events: change, invalid change (last good kept, one Event), deletion', async () => {
    api.put('policies', { 'p.yaml': policy('a', 'warn') });
    await until('the change', () => modeOf('a') === 'warn');

    api.put('policies', { 'p.yaml': policy('a', 'block') });
    await until('the Event', () => events.events.length === 1);
    assert.equal(modeOf('a'), 'warn');
    const [recorded] = events.events;
    assert.deepEqual(recorded?.target, { namespace: NS, name: 'policies', uid: 'uid-policies', resourceVersion: String(api.rv) });
    assert.equal(recorded?.event.reason, 'InvalidPolicy');
    assert.match(
      recorded?.event.message ?? '',
      /configmap modelgate\/policies key p\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "block"/,
    );
    assert.deepEqual(reloads.at(-1)?.ok, false);

    // Another ConfigMap changes: the invalid one is judged again but not reported again.
    api.put('more', { 'more.yaml': policy('b', 'audit') });
    await until('the second ConfigMap', () => modeOf('b') === 'audit');
    assert.equal(events.events.length, 1);

    api.remove('more');
    await until('the deletion', () => modeOf('b') === undefined);
  });

  it('relists on 410 Gone, catching up with what changed meanwhile (including deletions)', async () => {
    api.put('policies', { 'p.yaml': policy('a', 'audit') }, true);
    api.put('extra', { 'x.yaml': policy('x', 'enforce') });
    await until('the extra ConfigMap', () => modeOf('x') === 'enforce');
    api.remove('extra', true);
    const lists = api.requests.filter((r) => r.endsWith(' list')).length;
    api.expireWatches();
    await until('the relist', () => modeOf('a') === 'audit' && modeOf('x') === undefined);
    assert.equal(api.requests.filter((r) => r.endsWith(' list')).length, lists + 1);
    assert.equal(relists(), 1, 'the relist is logged');
    await until('the new watch', () => api.openWatches === 1);
  });

  it('a dropped watch is resumed from the last resourceVersion without a list', async () => {
    const lists = api.requests.filter((r) => r.endsWith(' list')).length;
    const rv = api.rv;
    api.closeWatches();
    await until('the new watch', () => api.openWatches === 1);
    assert.equal(api.requests.filter((r) => r.endsWith(' list')).length, lists);
    assert.match(api.requests.at(-1) ?? '', new RegExp(`watch rv=${rv}$`));
    assert.equal(relists(), 1, 'a resumed watch is no relist');
    api.put('policies', { 'p.yaml': policy('a', 'enforce') });
    await until('the change after the resumed watch', () => modeOf('a') === 'enforce');
  });

  it('watch errors are retried with backoff; stop() leaves no watch and makes no further requests', async () => {
    api.watchMode = 'error-500';
    api.closeWatches();
    await until(
      'a few failed watches',
      () => api.requests.filter((r) => r.includes(' watch ')).length > 0 && api.requests.slice(-2).every((r) => r.includes(' watch ')),
    );
    api.watchMode = 'stream';
    await until('the watch again', () => api.openWatches === 1);
    watcher?.stop();
    await until('the watch closed', () => api.openWatches === 0);
    const count = api.requests.length;
    api.put('policies', { 'p.yaml': policy('a', 'warn') });
    assert.deepEqual(clock.pending, [], 'no retry, re-watch or reconcile is left to run');
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(api.requests.length, count);
    assert.equal(modeOf('a'), 'enforce', 'no change after stop()');
  });

  it('whenReady rejects when no policy set is published within its limit', async () => {
    const idle = new TestClock();
    const never = new PolicyWatcher({
      kubeConfig: kubeConfig(api.url),
      namespace: NS,
      logger: createLogger('silent'),
      onPolicySet: () => undefined,
      events,
      timers: idle,
    });
    const ready = never.whenReady(2000);
    let settled = false;
    ready.catch(() => {
      settled = true;
    });
    idle.advance(1999);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'still waiting before the limit');
    idle.advance(1);
    await assert.rejects(ready, /^Error: no complete sync of the policy ConfigMaps within 2000 ms$/);
    assert.deepEqual(idle.pending, []);
  });
});
