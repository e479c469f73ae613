/**
 * Timeouts, deadlines, retries and connection failures: a real distribution registry behind
 * an in-process proxy that answers 503/429 or drops connections on demand, and servers that
 * hang. Time assertions are upper bounds with wide margins (shared 2-core machines).
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../../src/oci/client.ts';
import type { RegistryClientOptions } from '../../../src/oci/client.ts';
import { RegistryError } from '../../../src/oci/errors.ts';
import type { RequestEvent } from '../../../src/oci/http.ts';
import { MODEL_ARTIFACT_TYPE, blob, ociManifest } from '../../support/artifacts.ts';
import { startDistribution } from '../../support/distribution.ts';
import type { RunningDistribution } from '../../support/distribution.ts';
import { closedPort, startHangingServer, startProxy, startServer } from '../../support/fake-servers.ts';
import type { RunningServer } from '../../support/fake-servers.ts';
import { closePushAgents, pushManifest } from '../../support/push.ts';
import { rejectsWith } from '../../support/registry-errors.ts';

describe('registry client timeouts, retries and failures', { timeout: 180_000 }, () => {
  let dir: string;
  let registry: RunningDistribution;
  const clients: RegistryClient[] = [];
  const servers: RunningServer[] = [];
  const model = ociManifest({ artifactType: MODEL_ARTIFACT_TYPE, layers: [blob('resilient weights')] });
  const manifestPath = `/v2/acme/model/manifests/${model.digest}`;

  function client(hosts: readonly string[], extra: RegistryClientOptions = {}): RegistryClient {
    const created = new RegistryClient({
      registries: hosts.map((host) => ({ host, insecure: true, ca: undefined })),
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 100,
      ...extra,
    });
    clients.push(created);
    return created;
  }
  async function server<T extends RunningServer>(started: Promise<T>): Promise<T> {
    const running = await started;
    servers.push(running);
    return running;
  }
  /** A proxy to the registry whose first `failures` manifest requests get `answer` instead. */
  function failingProxy(failures: number, answer: (res: import('node:http').ServerResponse) => void): Promise<RunningServer> {
    let left = failures;
    return server(
      startProxy(registry.url, {
        intercept: (req, res) => {
          if (req.url !== manifestPath || left <= 0) return false;
          left--;
          answer(res);
          return true;
        },
      }),
    );
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelgate-oci-resilience-'));
    registry = await startDistribution({ dir: join(dir, 'registry') });
    await pushManifest({ url: registry.url }, 'acme/model', model, 'v1');
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
    await closePushAgents();
    await registry?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  describe('deadlines and timeouts', () => {
    it('fails with TIMEOUT by the deadline when a server never answers', async () => {
      const hanging = await server(startHangingServer('headers'));
      const c = client([hanging.host], { requestTimeoutMs: 60_000 });
      const started = Date.now();
      const error = await rejectsWith(
        c.fetchManifest({ registry: hanging.host, repository: 'acme/model' }, model.digest, { deadline: Date.now() + 1500 }),
        'TIMEOUT',
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 6000, `took ${elapsed} ms for a 1500 ms deadline`);
      assert.match(error.diagnostic ?? '', /before the deadline/);
      assert.equal(hanging.seen.length, 1, 'no retry past the deadline');
    });

    it('times out each attempt of a body that stalls, retries, and gives up within the deadline', async () => {
      const stalling = await server(startHangingServer('body'));
      const events: RequestEvent[] = [];
      const c = client([stalling.host], { requestTimeoutMs: 400, maxRetries: 2, onRequest: (e) => events.push(e) });
      const started = Date.now();
      const error = await rejectsWith(
        c.fetchManifest({ registry: stalling.host, repository: 'acme/model' }, model.digest, { deadline: Date.now() + 20_000 }),
        'TIMEOUT',
      );
      assert.ok(Date.now() - started < 15_000);
      assert.match(error.diagnostic ?? '', /no complete answer within 400 ms/);
      assert.equal(stalling.seen.length, 3, 'first attempt and two retries');
      assert.deepEqual(
        events.map((e) => [e.attempt, e.status, e.error]),
        [
          [1, 200, 'TIMEOUT'],
          [2, 200, 'TIMEOUT'],
          [3, 200, 'TIMEOUT'],
        ],
      );
    });

    it('uses the default deadline when a call gives none', async () => {
      const hanging = await server(startHangingServer('headers'));
      const c = client([hanging.host], { defaultDeadlineMs: 800, requestTimeoutMs: 60_000 });
      const started = Date.now();
      await rejectsWith(c.fetchBlob({ registry: hanging.host, repository: 'acme/model' }, model.digest), 'TIMEOUT');
      assert.ok(Date.now() - started < 5000);
    });

    it('honours the caller’s AbortSignal: a timeout signal is TIMEOUT, an abort is ABORTED', async () => {
      const hanging = await server(startHangingServer('headers'));
      const c = client([hanging.host], { requestTimeoutMs: 60_000, defaultDeadlineMs: 60_000 });
      const where = { registry: hanging.host, repository: 'acme/model' };
      const started = Date.now();
      await rejectsWith(c.fetchManifest(where, model.digest, { signal: AbortSignal.timeout(500) }), 'TIMEOUT');
      assert.ok(Date.now() - started < 5000);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const aborted = await rejectsWith(c.fetchManifest(where, model.digest, { signal: controller.signal }), 'ABORTED');
      assert.equal(aborted.retryable, false);
      await rejectsWith(c.fetchManifest(where, model.digest, { signal: AbortSignal.abort() }), 'ABORTED');
    });

    it('does not start a request when the deadline has passed', async () => {
      const c = client([registry.host]);
      await rejectsWith(c.fetchManifest({ registry: registry.host, repository: 'acme/model' }, model.digest, { deadline: Date.now() - 1 }), 'TIMEOUT');
      assert.equal(c.requestCount, 0);
    });
  });

  describe('retries', () => {
    it('retries a 503 and succeeds', async () => {
      const proxy = await failingProxy(1, (res) => {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}');
      });
      const events: RequestEvent[] = [];
      const c = client([proxy.host], { onRequest: (e) => events.push(e) });
      const fetched = await c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest);
      assert.equal(fetched.digest, model.digest);
      assert.equal(c.requestCount, 2);
      assert.deepEqual(
        events.map((e) => [e.registry, e.method, e.path, e.status, e.attempt]),
        [
          [proxy.host, 'GET', manifestPath, 503, 1],
          [proxy.host, 'GET', manifestPath, 200, 2],
        ],
      );
      assert.ok(events.every((e) => e.durationMs >= 0));
    });

    it('gives up after the retries with SERVER_ERROR', async () => {
      const proxy = await failingProxy(100, (res) => {
        res.writeHead(502);
        res.end('bad gateway');
      });
      const c = client([proxy.host], { maxRetries: 2 });
      const error = await rejectsWith(c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest), 'SERVER_ERROR');
      assert.equal(error.status, 502);
      assert.equal(error.retryable, true);
      assert.equal(c.requestCount, 3);
    });

    it('waits for Retry-After on 429, then succeeds', async () => {
      const proxy = await failingProxy(1, (res) => {
        res.writeHead(429, { 'retry-after': '1' });
        res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      });
      const c = client([proxy.host]);
      const started = Date.now();
      const fetched = await c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest, { deadline: Date.now() + 20_000 });
      assert.equal(fetched.digest, model.digest);
      assert.ok(Date.now() - started >= 950, 'Retry-After: 1 was not honoured');
      assert.equal(c.requestCount, 2);
    });

    it('fails with RATE_LIMITED at once when Retry-After is past the deadline', async () => {
      const proxy = await failingProxy(100, (res) => {
        res.writeHead(429, { 'retry-after': '120' });
        res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      });
      const c = client([proxy.host]);
      const started = Date.now();
      const error = await rejectsWith(
        c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest, { deadline: Date.now() + 5000 }),
        'RATE_LIMITED',
      );
      assert.ok(Date.now() - started < 4000, 'waited although Retry-After could not fit');
      assert.match(error.message, /retry after 120/);
      assert.match(error.message, /configure registry credentials/);
      assert.equal(c.requestCount, 1);
    });

    it('never retries 4xx other than 429', async () => {
      for (const status of [400, 403, 404]) {
        const proxy = await failingProxy(100, (res) => {
          res.writeHead(status);
          res.end();
        });
        const c = client([proxy.host]);
        await assert.rejects(c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest), RegistryError);
        assert.equal(c.requestCount, 1, `status ${status} was retried`);
      }
    });

    it('retries a connection reset', async () => {
      let resets = 1;
      const proxy = await server(
        startProxy(registry.url, {
          intercept: (req, res) => {
            if (req.url !== manifestPath || resets <= 0) return false;
            resets--;
            res.socket?.destroy();
            return true;
          },
        }),
      );
      const c = client([proxy.host]);
      const fetched = await c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest);
      assert.equal(fetched.digest, model.digest);
      assert.equal(c.requestCount, 2);
    });

    it('spreads retries with full jitter (random in [0, base·2^n))', async () => {
      const proxy = await failingProxy(2, (res) => {
        res.writeHead(503);
        res.end();
      });
      const draws: number[] = [];
      const c = client([proxy.host], {
        retryBaseDelayMs: 10_000,
        retryMaxDelayMs: 60_000,
        random: () => {
          draws.push(draws.length);
          return 0; // no wait, so the test stays fast
        },
      });
      await c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest);
      assert.equal(draws.length, 2, 'one random draw per retry');
    });
  });

  describe('connection failures', () => {
    it('fails with UNREACHABLE when the connection is refused', async () => {
      const port = await closedPort();
      const host = `127.0.0.1:${port}`;
      const c = client([host]);
      const error = await rejectsWith(c.fetchManifest({ registry: host, repository: 'acme/model' }, model.digest), 'UNREACHABLE');
      // The denial reads like any connection failure (no port-scan oracle); the log gets the cause.
      assert.ok(
        error.message.startsWith(`manifest ${host}/acme/model@${model.digest}: could not connect to ${host} or get a complete answer in time`),
        error.message,
      );
      assert.match(error.message, /reach/);
      assert.equal(error.diagnostic, `${host}: connection refused`);
      assert.equal(c.requestCount, 1);
    });

    it('fails cleanly for a host name that does not resolve', async () => {
      const c = client([]);
      const started = Date.now();
      const error = await c.fetchManifest({ registry: 'registry.invalid', repository: 'acme/model' }, model.digest, { deadline: Date.now() + 3000 }).then(
        () => assert.fail('resolved registry.invalid'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof RegistryError);
      // UNREACHABLE (host not found) where DNS answers at once; TIMEOUT where the resolver hangs.
      assert.ok(error.code === 'UNREACHABLE' || error.code === 'TIMEOUT', error.message);
      assert.ok(Date.now() - started < 8000);
    });

    it('types a failing credential provider as UNAUTHORIZED', async () => {
      const c = client([registry.host], {
        credentials: {
          credentialsFor: () => Promise.reject(new Error('secret store down')),
        },
      });
      const error = await rejectsWith(c.fetchManifest({ registry: registry.host, repository: 'acme/model' }, model.digest), 'UNAUTHORIZED');
      assert.match(error.message, /the credentials for this registry could not be read/);
      assert.equal(error.diagnostic, 'secret store down');
      assert.equal(c.requestCount, 0);
    });
  });

  describe('connection reuse and counting', () => {
    it('keeps connections alive per origin and counts every request', async () => {
      const sockets = new Set<string>();
      const proxy = await server(
        startServer(async (req, res) => {
          sockets.add(`${req.socket.remotePort}`);
          res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
          res.end(model.bytes);
        }),
      );
      const c = client([proxy.host]);
      for (let i = 0; i < 20; i++) await c.fetchManifest({ registry: proxy.host, repository: 'acme/model' }, model.digest);
      assert.equal(c.requestCount, 20);
      // undici may open a second connection while the first is being released; never one per request.
      assert.ok(sockets.size <= 3, `20 requests in sequence used ${sockets.size} connections`);
    });

    it('keeps working when the metrics hook throws', async () => {
      const c = client([registry.host], {
        onRequest: () => {
          throw new Error('broken metrics');
        },
      });
      const fetched = await c.fetchManifest({ registry: registry.host, repository: 'acme/model' }, model.digest);
      assert.equal(fetched.digest, model.digest);
    });
  });
});
