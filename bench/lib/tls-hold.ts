/**
 * Holds `count` raw TLS connections to a server open, as an attacker would:
 * each completes its handshake, then does what `afterHandshake` does (nothing,
 * or write part of a request and stall), and every connection the server
 * closes is opened again at once. At most `opening` handshakes are under way
 * at a time, so the load generator does not spend itself on its own side.
 */
import { connect, createSecureContext } from 'node:tls';
import type { TLSSocket } from 'node:tls';

export interface HoldStats {
  /** Connections started. */
  started: number;
  /** Handshakes completed. */
  handshakes: number;
  /** Connections with a completed handshake, now. */
  open: number;
  maxOpen: number;
  /** Connections that ended (closed by the server, or failed). */
  closed: number;
  /** Connections that failed before their handshake completed. */
  failedHandshakes: number;
  /** Status lines the server answered with (`HTTP/1.1 503 …` → `503`). */
  statuses: Map<string, number>;
}

export interface Hold {
  readonly stats: HoldStats;
  /** Stops reopening and closes every connection. */
  stop(): Promise<void>;
}

export interface HoldOptions {
  readonly port: number;
  readonly ca: string;
  readonly count: number;
  /** Handshakes under way at once. */
  readonly opening: number;
  readonly afterHandshake?: (socket: TLSSocket) => void;
}

export function holdConnections(options: HoldOptions): Hold {
  const stats: HoldStats = { started: 0, handshakes: 0, open: 0, maxOpen: 0, closed: 0, failedHandshakes: 0, statuses: new Map() };
  const sockets = new Set<TLSSocket>();
  // One context for all: a CA given to each connect() would be parsed again for each.
  const secureContext = createSecureContext({ ca: options.ca });
  let opening = 0;
  let stopped = false;
  let scheduled = false;

  const pump = (): void => {
    scheduled = false;
    while (!stopped && sockets.size < options.count && opening < options.opening) open();
  };
  const schedule = (delayMs: number): void => {
    if (scheduled || stopped) return;
    scheduled = true;
    setTimeout(pump, delayMs);
  };

  const open = (): void => {
    stats.started++;
    opening++;
    let secure = false;
    const socket = connect({ host: '127.0.0.1', port: options.port, secureContext, servername: 'localhost' });
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      secure = true;
      opening--;
      stats.handshakes++;
      stats.open++;
      stats.maxOpen = Math.max(stats.maxOpen, stats.open);
      options.afterHandshake?.(socket);
      schedule(0);
    });
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head.length >= 16) return;
      head += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (match !== null) stats.statuses.set(match[1] as string, (stats.statuses.get(match[1] as string) ?? 0) + 1);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      sockets.delete(socket);
      stats.closed++;
      if (secure) stats.open--;
      else {
        opening--;
        stats.failedHandshakes++;
      }
      // Reopen at once; after a failed handshake, a moment later (the server may be refusing).
      schedule(secure ? 0 : 10);
    });
  };

  pump();
  return {
    stats,
    async stop() {
      stopped = true;
      const all = [...sockets];
      await Promise.all(
        all.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.destroyed) return resolve();
              socket.once('close', () => resolve());
              socket.destroy();
            }),
        ),
      );
    },
  };
}
