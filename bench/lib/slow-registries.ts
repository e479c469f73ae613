/**
 * Slow registries for the abuse benchmark: `count` plain-HTTP servers on
 * 127.0.0.1, each on a port of its own (so each is its own registry host),
 * that answer GET /v2/<repository>/manifests/<digest> after `delayMs` with the
 * manifest registered under that digest, and count how many requests are in
 * flight at once, in all and per host.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowRegistryStats {
  requests: number;
  inFlight: number;
  maxInFlight: number;
  /** The largest number in flight at once at any one host. */
  maxInFlightPerHost: number;
  notFound: number;
  /** Requests modelgate gave up on (closed) before their answer: at its deadline. */
  abandoned: number;
  /** Of those, the ones it gave up on within 20 ms of sending them. */
  abandonedAtOnce: number;
}

export interface SlowRegistries {
  /** `127.0.0.1:PORT` of each. */
  readonly hosts: readonly string[];
  readonly stats: SlowRegistryStats;
  /** Makes a manifest servable (by every host) under its digest. */
  add(digest: string, mediaType: string, bytes: Buffer): void;
  /** Zeroes the counters. */
  reset(): void;
  close(): Promise<void>;
}

export async function startSlowRegistries(count: number, delayMs: number): Promise<SlowRegistries> {
  const manifests = new Map<string, { mediaType: string; bytes: Buffer }>();
  const stats: SlowRegistryStats = { requests: 0, inFlight: 0, maxInFlight: 0, maxInFlightPerHost: 0, notFound: 0, abandoned: 0, abandonedAtOnce: 0 };
  const servers: Server[] = [];
  const hosts: string[] = [];
  for (let i = 0; i < count; i++) {
    let here = 0;
    const server = createServer((req, res) => {
      stats.requests++;
      stats.inFlight++;
      here++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      stats.maxInFlightPerHost = Math.max(stats.maxInFlightPerHost, here);
      const arrived = performance.now();
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        stats.inFlight--;
        here--;
      };
      const timer = setTimeout(() => {
        const match = /^\/v2\/.+\/manifests\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
        const manifest = match === null ? undefined : manifests.get(match[1] as string);
        if (req.method !== 'GET' || manifest === undefined) {
          stats.notFound++;
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
          return;
        }
        res
          .writeHead(200, { 'content-type': manifest.mediaType, 'content-length': manifest.bytes.length, 'docker-content-digest': match?.[1] as string })
          .end(manifest.bytes);
      }, delayMs);
      // Answered, or modelgate gave up (its deadline) and closed the connection: no longer in flight.
      res.once('close', () => {
        clearTimeout(timer);
        if (!done && !res.writableEnded) {
          stats.abandoned++;
          if (performance.now() - arrived < 20) stats.abandonedAtOnce++;
        }
        finish();
      });
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    hosts.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  return {
    hosts,
    stats,
    add: (digest, mediaType, bytes) => manifests.set(digest, { mediaType, bytes }),
    reset: () => {
      stats.requests = 0;
      stats.maxInFlight = stats.inFlight;
      stats.maxInFlightPerHost = 0;
      stats.notFound = 0;
      stats.abandoned = 0;
      stats.abandonedAtOnce = 0;
    },
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}
