/**
 * Bounds on the connections a client can hold. An idle TLS connection costs
 * about 90 KB, so thousands of them, or of handshakes never finished, would
 * take the memory every review needs. Node closes a request that trickles in
 * (headersTimeout, requestTimeout) and a keep-alive connection left idle after
 * an answer (keepAliveTimeout), but not a connection that never sends a
 * request at all. This governor adds:
 * - at most `maxConnections` at once; past that an idle connection is closed:
 *   first one that never sent a request (an attacker's), else the least
 *   recently used (the API server's keep-alive connections are in use, and
 *   closing one it is about to reuse could fail a review); when every one is
 *   busy the newcomer is refused;
 * - a connection must have sent a whole request within `idleMs` of connecting
 *   (its TLS handshake included), else it is closed.
 * And it ends connections in order when the server stops: while draining
 * (the shutdown delay) every answer carries `Connection: close`, so the API
 * server opens its next connection elsewhere instead of reusing this one; on
 * close, every connection without a request in flight is destroyed at once
 * (an idle keep-alive one, one that never finished its TLS handshake or never
 * sent a request: nothing keeps the process past its deadline), and one with
 * a request in flight is closed as soon as its answer is written.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  readonly maxConnections: number;
  /** From connecting (TLS handshake included) to the first request's headers. */
  readonly idleMs: number;
  /** From a request's first byte to its last (Node's headersTimeout and requestTimeout). */
  readonly requestMs: number;
}

/** The API server sends a review at once: 10 s is far more than it needs, and bounds a trickle. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { maxConnections: 256, idleMs: 10_000, requestMs: 10_000 };

interface Connection {
  readonly socket: Socket;
  /** Requests received on it that are not answered yet. */
  busy: number;
  /** Whether it ever sent a request. */
  used: boolean;
  /** Closes it unless a first request arrives in time. */
  timer: NodeJS.Timeout | undefined;
}

const keyOf = (socket: Socket): string => `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`;

export class ConnectionGovernor {
  readonly #limits: ConnectionLimits;
  /** In order of last use: a connection moves to the end when a request arrives on it. */
  readonly #connections = new Map<string, Connection>();
  #refused = 0;
  #closedIdle = 0;
  #draining = false;
  #closing = false;

  constructor(server: Server, limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS) {
    this.#limits = limits;
    server.on('connection', (socket: Socket) => this.#connected(socket));
    // Before the application's listener, which answers most requests in the same turn.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res));
  }

  /** Connections refused or closed to stay within the limits, for logs and tests. */
  get stats(): { readonly open: number; readonly refused: number; readonly closedIdle: number } {
    return { open: this.#connections.size, refused: this.#refused, closedIdle: this.#closedIdle };
  }

  /** Whether the server is shutting down (answers close their connection). */
  get draining(): boolean {
    return this.#draining;
  }

  /** From now on every answer closes its connection. */
  drain(): void {
    this.#draining = true;
  }

  /**
   * The server is closing (it accepts no more connections): destroys every
   * connection with nothing in flight; the others end once answered.
   */
  close(): void {
    this.#draining = true;
    this.#closing = true;
    for (const connection of this.#connections.values()) {
      clearTimeout(connection.timer);
      if (connection.busy === 0) connection.socket.destroy();
    }
  }

  #connected(socket: Socket): void {
    if (this.#connections.size >= this.#limits.maxConnections && !this.#closeOldestIdle()) {
      this.#refused++;
      socket.destroy();
      return;
    }
    const key = keyOf(socket);
    const connection: Connection = { socket, busy: 0, used: false, timer: setTimeout(() => socket.destroy(), this.#limits.idleMs) };
    connection.timer?.unref();
    this.#connections.set(key, connection);
    socket.once('close', () => {
      clearTimeout(connection.timer);
      if (this.#connections.get(key) === connection) this.#connections.delete(key);
    });
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const key = keyOf(req.socket);
    const connection = this.#connections.get(key);
    if (connection === undefined) return;
    clearTimeout(connection.timer);
    connection.timer = undefined;
    connection.used = true;
    connection.busy++;
    this.#connections.delete(key);
    this.#connections.set(key, connection);
    // Node ends the connection after an answer with this header (and so does the client).
    if (this.#draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      connection.busy--;
      // An answer begun before the close, without the header: nothing more will come on this connection.
      if (this.#closing && connection.busy === 0) req.socket.end(() => connection.socket.destroy());
    });
  }

  #closeOldestIdle(): boolean {
    let leastRecentlyUsed: Connection | undefined;
    for (const connection of this.#connections.values()) {
      if (connection.busy > 0) continue;
      if (!connection.used) return this.#close(connection);
      leastRecentlyUsed ??= connection;
    }
    return leastRecentlyUsed === undefined ? false : this.#close(leastRecentlyUsed);
  }

  #close(connection: Connection): true {
    this.#closedIdle++;
    connection.socket.destroy();
    return true;
  }
}
