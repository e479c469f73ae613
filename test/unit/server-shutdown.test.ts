/**
 * The server's own shutdown (server/serve.ts, server/connections.ts): drain
 * makes every answer close its connection and /readyz fail; close destroys
 * connections with nothing in flight at once, including one that never
 * finished a TLS handshake, and ends one with a request in flight after its
 * answer.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { startTestServer } from '../support/webhook-server.ts';
import type { TestServer } from '../support/webhook-server.ts';

const policies = policySetFromTexts([{ source: 'p.yaml', text: 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: {defaultAction: allow}\n' }]);

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
  readonly socket: Socket;
}

function get(server: TestServer, path: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { agent, ca: server.certs.ca, servername: 'localhost' }, (res) => {
      let body = '';
      const socket = res.socket;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body, socket }));
    });
    req.on('error', reject);
    req.end();
  });
}

const closed = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('server shutdown', () => {
  it('drain: /readyz fails and every answer closes its connection, which the client then drops', async () => {
    const server = await startTestServer(policies);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const before = await get(server, '/readyz', agent);
      assert.deepEqual([before.status, before.connection], [200, 'keep-alive']);
      server.running.drain();
      const ready = await get(server, '/readyz', agent);
      assert.deepEqual([ready.status, ready.body, ready.connection], [503, 'shutting down', 'close']);
      await closed(ready.socket);
      const health = await get(server, '/healthz', agent);
      assert.deepEqual([health.status, health.connection], [200, 'close']);
      assert.notEqual(health.socket, before.socket, 'a new connection after the close');
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  it('close: a connection that never sent a byte, one mid-handshake and an idle keep-alive one are destroyed at once', async () => {
    const server = await startTestServer(policies);
    const port = Number(new URL(server.url).port);
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
        socket.on('error', reject);
      });
    const silent = await open();
    const handshaking = await open();
    handshaking.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const idle = await get(server, '/healthz', agent);
    assert.equal(idle.connection, 'keep-alive');
    const started = Date.now();
    await server.running.close();
    const took = Date.now() - started;
    await Promise.all([closed(silent), closed(handshaking), closed(idle.socket)]);
    agent.destroy();
    await server.agent.close();
    assert.ok(took < 500, `close() took ${took} ms`);
  });
});
