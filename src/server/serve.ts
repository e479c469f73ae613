/** Starts the HTTPS server with a self-reloading key pair and stops it gracefully. */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/log.ts';
import type { Metrics } from './metrics.ts';
import { createRequestListener } from './app.ts';
import type { EngineSource } from '../engine/manager.ts';
import { ConnectionGovernor, DEFAULT_CONNECTION_LIMITS } from './connections.ts';
import type { ConnectionLimits } from './connections.ts';
import { readKeyPair, watchKeyPair } from './tls.ts';

/**
 * TLS 1.3, and TLS 1.2 only with ECDHE key exchange and AEAD ciphers: what the
 * API server's Go client offers first, without the CBC and static-RSA suites.
 */
export const TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;
/** A TLS handshake must be over this soon; Node's default is two minutes. */
const HANDSHAKE_TIMEOUT_MS = 5_000;

export interface ServeOptions {
  readonly port: number;
  readonly host?: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly engines: EngineSource;
  readonly logger: Logger;
  readonly maxBodyBytes?: number;
  /** How often to poll the key pair files as a backstop to fs.watch. */
  readonly tlsPollMs?: number;
  /** Review metrics; also serves GET /metrics. */
  readonly metrics?: Metrics;
  /** Bounds on connections (server/connections.ts). */
  readonly connections?: ConnectionLimits;
  /** Weighted bytes of large review bodies at once (server/body.ts). */
  readonly bodyBudgetBytes?: number;
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly governor: ConnectionGovernor;
  /**
   * Starts the shutdown delay: still serving, but /readyz fails and every
   * answer closes its connection, so clients move to other instances.
   */
  drain(): void;
  /**
   * Stops accepting connections, destroys those with nothing in flight and
   * resolves when the in-flight requests are answered.
   */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { logger } = options;
  const pair = readKeyPair(options.tlsCert, options.tlsKey);
  const app = createRequestListener({
    engines: options.engines,
    logger,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.bodyBudgetBytes === undefined ? {} : { bodyBudgetBytes: options.bodyBudgetBytes }),
    // The governor is made with the server, after the app; asked only once requests come.
    draining: () => governor.draining,
  });
  const limits = options.connections ?? DEFAULT_CONNECTION_LIMITS;
  const server = createServer(
    {
      cert: pair.cert,
      key: pair.key,
      ...TLS_OPTIONS,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // A request must arrive whole (headers, then body) in time from its first byte; checked often.
      headersTimeout: limits.requestMs,
      requestTimeout: limits.requestMs,
      connectionsCheckingInterval: Math.min(1_000, limits.requestMs),
    },
    app,
  );
  // The API server keeps connections alive between reviews; keep ours open longer than its idle timeout.
  server.keepAliveTimeout = 65_000;
  const governor = new ConnectionGovernor(server, limits);
  server.on('tlsClientError', (error) => logger.debug({ err: error.message }, 'TLS handshake failed'));
  const watcher = watchKeyPair(
    options.tlsCert,
    options.tlsKey,
    pair,
    // New handshakes use the new pair; established connections keep theirs, so nothing is dropped.
    (next) => server.setSecureContext({ cert: next.cert, key: next.key, ...TLS_OPTIONS }),
    logger,
    options.tlsPollMs,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, host: options.host ?? '(all)' }, 'modelgate listening');
  return {
    server,
    port,
    governor,
    drain: () => governor.drain(),
    close: () =>
      new Promise<void>((resolve) => {
        watcher.close();
        // Stops accepting connections; resolves once every connection is gone.
        server.close(() => resolve());
        // Never Node's closeIdleConnections() in a loop: it counts a connection
        // whose next request is still unread as idle, and the API server
        // would get EOF for it. Idle ones are closed once; each one with a
        // review in flight closes after its answer (Connection: close).
        governor.close();
      }),
  };
}
