/**
 * A TCP proxy that puts a registry at a distance (bench/latency.ts): every chunk of data in
 * either direction arrives `oneWayMs` after it was sent, and a new connection carries no
 * data before one round trip has passed (the TCP handshake). It reads the plain-HTTP request
 * lines going to the registry, so a benchmark can count requests and the sequential waves
 * they go out in, as a registry would see them.
 */
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxiedRequest {
  /** When the proxy received it from the client (performance.now()). */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  /** Which connection carried it (1, 2, … in the order they were accepted). */
  readonly connection: number;
}

export interface DelayProxy {
  /** `127.0.0.1:PORT`, the registry host to name in image references. */
  readonly host: string;
  readonly requests: ProxiedRequest[];
  /** Connections accepted since the start. */
  connections: number;
  close(): void;
}

const REQUEST_LINE = /(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/1\.[01]\r\n/g;

/** Delivers chunks to `to` at their due times, in order. */
function delayedPipe(from: Socket, to: Socket, dueOf: (now: number) => number, onChunk?: (chunk: Buffer) => void): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let scheduled = false;
  let ended = false;
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(drain, Math.max(0, (queue[0]?.due ?? 0) - performance.now()));
  };
  const drain = (): void => {
    scheduled = false;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.due ?? 0) <= now + 0.5) {
      const next = queue.shift();
      if (next !== undefined && !to.destroyed) to.write(next.chunk);
    }
    if (queue.length > 0) schedule();
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    onChunk?.(chunk);
    queue.push({ due: dueOf(performance.now()), chunk });
    schedule();
  });
  from.on('end', () => {
    ended = true;
    schedule();
  });
}

export async function startDelayProxy(target: URL, oneWayMs: number): Promise<DelayProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const proxy: DelayProxy = {
    host: '',
    requests,
    connections: 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
  const server = createServer((client) => {
    const connection = ++proxy.connections;
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    // The handshake: the client's first bytes leave one round trip after its SYN, then take one way.
    const open = performance.now() + 2 * oneWayMs;
    let last = 0;
    delayedPipe(
      client,
      upstream,
      (now) => {
        last = Math.max(last, now + oneWayMs, open + oneWayMs);
        return last;
      },
      (chunk) => {
        const at = performance.now();
        for (const match of chunk.toString('latin1').matchAll(REQUEST_LINE)) requests.push({ at, method: match[1] ?? '', path: match[2] ?? '', connection });
      },
    );
    delayedPipe(upstream, client, (now) => now + oneWayMs);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, { host: `127.0.0.1:${(server.address() as AddressInfo).port}` });
}

/** Requests grouped into waves: a request more than half a round trip after a wave's first starts the next. */
export function wavesOf(requests: readonly ProxiedRequest[], rttMs: number): ProxiedRequest[][] {
  const waves: ProxiedRequest[][] = [];
  for (const request of requests) {
    const wave = waves.at(-1);
    if (wave !== undefined && request.at - (wave[0]?.at ?? 0) < rttMs / 2) wave.push(request);
    else waves.push([request]);
  }
  return waves;
}
