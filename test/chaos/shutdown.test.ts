/**
 * SIGTERM with `--shutdown-delay` against the real `modelgate serve` process:
 * a connection that never finishes its TLS handshake must not hold the
 * process past the delay, and a keep-alive client talking to it during the
 * delay is told to go (`Connection: close`, `/readyz` failing) before the
 * server closes idle connections.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { Agent } from 'node:https';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, makeModelgateCerts, startModelgate } from '../e2e/lib/modelgate.ts';
import type { Modelgate, ModelgateCerts } from '../e2e/lib/modelgate.ts';

const DELAY_MS = 1_000;
/** Exit comes at most this long after the delay ends (nothing is in flight). */
const EXIT_BOUND_MS = 1_500;

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
}

function get(gate: Modelgate, path: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gate.port, path, agent, ca: gate.certs.caPem, servername: 'localhost' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function openSilentSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('SIGTERM with --shutdown-delay (modelgate serve as a process)', { timeout: 120_000 }, () => {
  let certs: ModelgateCerts;
  const gates: Modelgate[] = [];
  const start = async (): Promise<Modelgate> => {
    const gate = await startModelgate({
      certs,
      policyPaths: [join(REPO_ROOT, 'manifests', 'policy.yaml')],
      extraArgs: ['--shutdown-delay', String(DELAY_MS / 1000)],
    });
    gates.push(gate);
    return gate;
  };

  before(async () => {
    certs = await makeModelgateCerts();
  });
  after(async () => {
    await Promise.all(gates.map((gate) => gate.stop()));
  });

  it('a TCP connection that never sends a byte does not keep the process alive past the delay', async () => {
    const gate = await start();
    const silent = await openSilentSocket(gate.port);
    const closedByServer = new Promise<number>((resolve) => silent.once('close', () => resolve(Date.now())));
    silent.on('error', () => undefined);
    const signalled = Date.now();
    process.kill(gate.process.pid, 'SIGTERM');
    const exit = await gate.process.exited;
    const exitedAfter = Date.now() - signalled;
    silent.destroy();
    process.stdout.write(`# silent TCP connection: exit ${exitedAfter} ms after SIGTERM (delay ${DELAY_MS} ms)\n`);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(exitedAfter < DELAY_MS + EXIT_BOUND_MS, `exited ${exitedAfter} ms after SIGTERM; the bound is ${DELAY_MS + EXIT_BOUND_MS} ms`);
    assert.ok((await closedByServer) - signalled >= DELAY_MS - 50, 'the connection was kept through the delay');
  });

  it('a half-finished TLS handshake does not either', async () => {
    const gate = await start();
    const socket = await openSilentSocket(gate.port);
    socket.on('error', () => undefined);
    // A TLS record header announcing a ClientHello that never comes.
    socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    const signalled = Date.now();
    process.kill(gate.process.pid, 'SIGTERM');
    const exit = await gate.process.exited;
    const exitedAfter = Date.now() - signalled;
    socket.destroy();
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(exitedAfter < DELAY_MS + EXIT_BOUND_MS, `exited ${exitedAfter} ms after SIGTERM; the bound is ${DELAY_MS + EXIT_BOUND_MS} ms`);
  });

  it('keep-alive clients are answered with Connection: close and a failing /readyz during the delay', async () => {
    const gate = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(gate, '/readyz', agent);
      assert.equal(before.status, 200);
      assert.equal(before.connection, 'keep-alive', 'a keep-alive connection before SIGTERM');
      const signalled = Date.now();
      process.kill(gate.process.pid, 'SIGTERM');
      await sleep(200);
      const ready = await get(gate, '/readyz', agent);
      assert.equal(ready.status, 503, `/readyz during the delay: ${ready.status} ${ready.body}`);
      assert.match(ready.body, /shutting down/);
      assert.equal(ready.connection, 'close', '/readyz during the delay closes its connection');
      const health = await get(gate, '/healthz', agent);
      assert.equal(health.status, 200, 'still alive during the delay');
      assert.equal(health.connection, 'close', 'every answer during the delay closes its connection');
      assert.ok(Date.now() - signalled < DELAY_MS, 'both answers came within the delay');
      assert.deepEqual(await gate.process.exited, { code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  });
});
