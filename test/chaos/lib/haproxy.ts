// HAProxy (Debian's package) as the TCP load balancer in front of several
// `modelgate serve` processes, the way a Service spreads the API server's
// connections over the webhook's pods: TCP mode (TLS ends at modelgate), a
// health check of GET /readyz over TLS every 250 ms taking a backend out
// after one failure, and a connection that cannot reach a backend sent to
// another (retries + redispatch).

import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../e2e/lib/ports.ts';
import { startProcess } from '../../e2e/lib/processes.ts';
import type { ManagedProcess } from '../../e2e/lib/processes.ts';
import { scratchDir } from '../../e2e/lib/workdir.ts';

export interface LoadBalancer {
  readonly port: number;
  readonly process: ManagedProcess;
  /** Whether HAProxy's health check counts backend `name` (g1, g2, …) as up. */
  isUp(name: string): Promise<boolean>;
  /** Waits until backend `name` is up (after a restart: its /readyz passed `rise` checks). */
  waitUp(name: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function config(port: number, backends: readonly number[], socket: string): string {
  return [
    'global',
    '  maxconn 2000',
    `  stats socket ${socket} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  retries 3',
    '  option redispatch',
    'frontend webhook',
    `  bind 127.0.0.1:${port}`,
    '  default_backend gates',
    'backend gates',
    '  balance roundrobin',
    '  option httpchk',
    '  http-check send meth GET uri /readyz',
    '  http-check expect status 200',
    '  default-server check check-ssl verify none inter 250ms fall 1 rise 2',
    ...backends.map((backend, index) => `  server g${index + 1} 127.0.0.1:${backend}`),
    '',
  ].join('\n');
}

/** One command on HAProxy's stats socket; its whole answer. */
function command(socket: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const connection = connect(socket, () => connection.end(`${text}\n`));
    connection.setEncoding('utf8');
    connection.on('data', (chunk: string) => (answer += chunk));
    connection.on('end', () => resolve(answer));
    connection.on('error', reject);
  });
}

/**
 * Debian's haproxy (test/e2e/tools/install.sh and .ci/run install it). Found on
 * PATH or in /usr/sbin rather than through tools.json, so that a tools.json
 * written by an older install.sh does not stop the rest of the test bed.
 */
export function haproxyBinary(): string {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const candidate = join(dir, 'haproxy');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error('the chaos suite runs HAProxy as its load balancer: bash test/e2e/tools/install.sh (or apt-get install haproxy)');
}

export async function startLoadBalancer(backends: readonly number[]): Promise<LoadBalancer> {
  const binary = haproxyBinary();
  const dir = scratchDir('haproxy');
  const port = await freePort();
  const socket = join(dir, 'admin.sock');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config(port, backends, socket));
  const process = await startProcess({ name: 'haproxy', command: binary, args: ['-db', '-f', file], ready: { kind: 'port', port } });
  const isUp = async (name: string): Promise<boolean> => {
    // "show servers state": … srv_name srv_addr srv_op_state (2 = running) …
    const lines = (await command(socket, 'show servers state gates')).split('\n');
    const fields = lines.map((line) => line.split(' ')).find((row) => row[3] === name);
    return fields?.[5] === '2';
  };
  return {
    port,
    process,
    isUp,
    async waitUp(name, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await isUp(name))) {
        if (Date.now() > deadline) throw new Error(`HAProxy did not see backend ${name} up within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    stop: async () => {
      await process.stop();
    },
  };
}
