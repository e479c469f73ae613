/** Starts the HTTPS server with a self-reloading key pair and stops it gracefully. */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { createApp } from './app.ts';
import type { EngineSource } from './app.ts';
import { readKeyPair, watchKeyPair } from './tls.ts';

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
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  /** Stops accepting connections and resolves when in-flight requests are answered. */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { logger } = options;
  const pair = readKeyPair(options.tlsCert, options.tlsKey);
  const app = createApp({
    engines: options.engines,
    logger,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  const server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, app);
  // The API server keeps connections alive between reviews; keep ours open longer than its idle timeout.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  server.on('tlsClientError', (error) => logger.debug({ err: error.message }, 'TLS handshake failed'));
  const watcher = watchKeyPair(
    options.tlsCert,
    options.tlsKey,
    pair,
    // New handshakes use the new pair; established connections keep theirs, so nothing is dropped.
    (next) => server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' }),
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
    close: () =>
      new Promise<void>((resolve) => {
        watcher.close();
        // Stops accepting connections; resolves once every connection is gone.
        server.close(() => {
          clearInterval(sweep);
          resolve();
        });
        // Idle keep-alive connections would otherwise hold close() open, and
        // one with a review in flight becomes idle once that is answered (the
        // API server's keep-alive would hold it for keepAliveTimeout): close
        // each as soon as it has nothing in flight.
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
      }),
  };
}
