// An HTTP proxy in front of a registry that turns faults on and off: what a
// flaky registry or the network between does to modelgate. Modes:
//   pass     forward every request;
//   status   answer every request with one status (503, 429 with Retry-After);
//   slow     forward after a delay (longer than modelgate's deadline);
//   reset    reset every connection as soon as a request arrives;
//   tamper   forward, but serve another manifest's bytes for every manifest
//            (what a registry that changed the content behind a digest or
//            tag would serve).
// A registry that is down (its process stopped) shows through `pass` as a
// connection error, answered here by resetting the client's connection.

import { createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'status'; status: number }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'reset' }
  | { kind: 'tamper'; manifest: Buffer; mediaType: string };

export interface FaultProxy {
  /** 127.0.0.1:PORT, the registry host modelgate is told about. */
  readonly host: string;
  set(mode: FaultMode): void;
  /** Requests that reached the proxy so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  let mode: FaultMode = { kind: 'pass' };
  let requests = 0;
  const sockets = new Set<Socket>();
  const forward = (req: IncomingMessage, res: ServerResponse, tamper?: Extract<FaultMode, { kind: 'tamper' }>): void => {
    const outgoing = request(new URL(req.url ?? '/', upstream), { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } }, (answer) => {
      const isManifest = /\/manifests\//.test(req.url ?? '') && answer.statusCode === 200;
      if (tamper !== undefined && isManifest) {
        answer.resume();
        res.writeHead(200, { 'content-type': tamper.mediaType, 'content-length': tamper.manifest.length });
        res.end(req.method === 'HEAD' ? undefined : tamper.manifest);
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    // The registry is down: the client sees its connection reset, as it would dialing a dead pod.
    outgoing.on('error', () => req.socket.resetAndDestroy());
    req.pipe(outgoing);
  };
  const server: Server = createServer((req, res) => {
    requests++;
    const current = mode;
    switch (current.kind) {
      case 'pass':
        return forward(req, res);
      case 'tamper':
        return forward(req, res, current);
      case 'status':
        res.writeHead(current.status, { 'content-type': 'application/json', ...(current.status === 429 ? { 'retry-after': '1' } : {}) });
        return res.end('{"errors":[{"code":"UNAVAILABLE","message":"chaos"}]}');
      case 'slow': {
        const timer = setTimeout(() => forward(req, res), current.delayMs);
        req.socket.once('close', () => clearTimeout(timer));
        return;
      }
      case 'reset':
        return req.socket.resetAndDestroy();
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    set: (next) => {
      mode = next;
    },
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
