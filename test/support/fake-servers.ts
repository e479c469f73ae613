/**
 * In-process loopback servers for failure cases that a real registry does not produce on
 * demand: an intercepting proxy in front of a real registry (alter bodies in flight, answer
 * 503/429 first, lie about filters), a generic scripted HTTP server, a server that hangs,
 * and a port nobody listens on.
 */

import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';

export interface RunningServer {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `METHOD path` of every request received. */
  readonly seen: string[];
  stop(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A node:http server on a free loopback port (of 127.0.0.1, or another loopback address as another host), answering with `handler`. */
export async function startServer(handler: Handler, address = '127.0.0.1'): Promise<RunningServer> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method ?? 'GET'} ${req.url ?? '/'}`);
    readBody(req)
      .then((body) => handler(req, res, body))
      .catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(error));
      });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `${address}:${port}`,
    port,
    url: `http://${address}:${port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ProxyHooks {
  /** Answer a request here instead of forwarding it; return true when it was answered. */
  readonly intercept?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean | Promise<boolean>;
  /** Change the upstream's answer before it is sent on. */
  readonly rewrite?: (req: IncomingMessage, response: UpstreamResponse) => UpstreamResponse;
  /** Path and query to send upstream instead of the request's. */
  readonly rewritePath?: (path: string) => string;
}

const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'upgrade', 'proxy-connection']);

function forwardableHeaders(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_HEADERS.has(name.toLowerCase())) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** A plain-HTTP reverse proxy in front of `upstream` (an http:// or https:// registry URL). */
export async function startProxy(upstream: string, hooks: ProxyHooks = {}, ca?: string): Promise<RunningServer> {
  const dispatcher = new Agent(ca === undefined ? {} : { connect: { ca } });
  const running = await startServer(async (req, res, body) => {
    if (hooks.intercept !== undefined && (await hooks.intercept(req, res, body))) return;
    const path = hooks.rewritePath === undefined ? (req.url ?? '/') : hooks.rewritePath(req.url ?? '/');
    const method = (req.method ?? 'GET') as Dispatcher.HttpMethod;
    const upstreamResponse = await request(`${upstream}${path}`, {
      method,
      dispatcher,
      headers: forwardableHeaders(req.headers),
      ...(body.length > 0 || method !== 'GET' ? { body } : {}),
    });
    let response: UpstreamResponse = {
      status: upstreamResponse.statusCode,
      headers: forwardableHeaders(upstreamResponse.headers),
      body: Buffer.from(await upstreamResponse.body.arrayBuffer()),
    };
    if (hooks.rewrite !== undefined) response = hooks.rewrite(req, response);
    // Locations the registry builds point at the upstream; send clients back through the proxy.
    const location = response.headers['location'];
    if (location?.startsWith(upstream)) response.headers['location'] = location.slice(upstream.length);
    res.writeHead(response.status, { ...response.headers, 'content-length': String(response.body.length) });
    res.end(method === 'HEAD' ? undefined : response.body);
  });
  return {
    ...running,
    stop: async () => {
      await running.stop();
      await dispatcher.close();
    },
  };
}

/**
 * A server that accepts connections and then stalls: `headers` never answers, `body` sends
 * the headers of a 200 with a 1 MiB Content-Length and a few bytes, then nothing.
 */
export async function startHangingServer(mode: 'headers' | 'body'): Promise<RunningServer> {
  return startServer((_req, res) => {
    if (mode === 'body') {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(1024 * 1024) });
      res.write('{"schemaVersion":');
    }
    // Otherwise: never answer. stop() destroys the sockets.
  });
}

/** A loopback port with no listener (bound, read, closed). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
