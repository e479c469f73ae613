/**
 * A caching front for a registry under test: a plain-HTTP server on
 * 127.0.0.1 that forwards every request to the registry behind it and keeps
 * the 200 answers to manifest GETs by digest (immutable content) in memory,
 * serving them again at once. For the abuse benchmark: docker-registry on a
 * shared two-core machine spends ~150 ms of CPU on each 3.8 MiB manifest it
 * serves, so two dozen at once exceed modelgate's per-request timeout and
 * nothing arrives; a registry in production serves them from a CDN.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';

export interface CachingFront {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly stats: { requests: number; hits: number };
  /** GETs `path` once through the front, so that later requests for it are hits. */
  warm(path: string, accept: string): Promise<void>;
  close(): Promise<void>;
}

interface Kept {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

const KEPT_HEADERS = ['content-type', 'docker-content-digest', 'docker-distribution-api-version'];

export async function startCachingFront(upstream: string): Promise<CachingFront> {
  const agent = new Agent({ connections: 64 });
  const cache = new Map<string, Kept>();
  const stats = { requests: 0, hits: 0 };
  const cacheable = (method: string | undefined, path: string): boolean => method === 'GET' && /^\/v2\/.+\/manifests\/sha256:[0-9a-f]{64}$/.test(path);

  const fetchUpstream = async (method: string, path: string, headers: IncomingHttpHeaders): Promise<Kept> => {
    const forwarded: Record<string, string> = {};
    for (const name of ['accept', 'authorization', 'user-agent']) {
      const value = headers[name];
      if (typeof value === 'string') forwarded[name] = value;
    }
    const response = await request(`${upstream}${path}`, { method: method as 'GET', headers: forwarded, dispatcher: agent });
    const body = Buffer.from(await response.body.arrayBuffer());
    const kept: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = response.headers[name];
      if (typeof value === 'string') kept[name] = value;
    }
    return { status: response.statusCode, headers: kept, body };
  };

  const server = createServer((req, res) => {
    stats.requests++;
    const path = req.url ?? '/';
    // By path alone: a digest names one content, whatever the Accept header.
    const key = path;
    const hit = cacheable(req.method, path) ? cache.get(key) : undefined;
    if (hit !== undefined) stats.hits++;
    const answer = hit !== undefined ? Promise.resolve(hit) : fetchUpstream(req.method ?? 'GET', path, req.headers);
    answer.then(
      (kept) => {
        if (hit === undefined && kept.status === 200 && cacheable(req.method, path)) cache.set(key, kept);
        res.writeHead(kept.status, { ...kept.headers, 'content-length': kept.body.length });
        res.end(req.method === 'HEAD' ? undefined : kept.body);
      },
      () => {
        res.writeHead(502).end();
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    stats,
    async warm(path, accept) {
      const response = await request(`http://${host}${path}`, { headers: { accept }, dispatcher: agent });
      await response.body.dump();
      if (response.statusCode !== 200) throw new Error(`warming ${path}: HTTP ${response.statusCode}`);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.close();
    },
  };
}
