/**
 * Issue 9 §3 and §7 at the HTTPS server: connections and large bodies are bounded, idle and
 * trickling connections are closed, and TLS 1.2 is limited to ECDHE with AEAD ciphers
 * (checked with Debian's openssl s_client, a real TLS client).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { policySetFromTexts } from '../../../src/policy/load.ts';
import { startTestServer } from '../../support/webhook-server.ts';
import type { TestServer } from '../../support/webhook-server.ts';
import { PINNED, admissionReview, kubeObject } from '../../support/objects.ts';
import { modelPolicy } from '../../support/policies.ts';

const policySet = policySetFromTexts([{ source: 'p.yaml', text: modelPolicy('pinned') }]);
const review = (): string => JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }])));

/** Resolves when the socket closes, with the milliseconds it took; rejects after `limitMs`. */
function closesWithin(socket: Socket, limitMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`still open after ${limitMs} ms`)), limitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

function openTls(server: TestServer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: server.running.port, ca: server.certs.ca, servername: 'localhost' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('connections are bounded (issue 9)', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(policySet, { connections: { maxConnections: 8, idleMs: 400, requestMs: 800 } });
  });
  after(async () => server?.close());

  it('a connection that starts no request is closed', async () => {
    const socket = await openTls(server);
    socket.on('error', () => undefined);
    const took = await closesWithin(socket, 5_000);
    assert.ok(took < 2_000, `closed after ${took} ms`);
  });

  it('a request that trickles in is closed when its time is up, however steady the trickle', async () => {
    const socket = await openTls(server);
    socket.on('error', () => undefined);
    const body = review();
    socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < body.length) socket.write(body[sent++] ?? '');
    }, 100);
    try {
      const took = await closesWithin(socket, 8_000);
      assert.ok(took < 3_000, `closed after ${took} ms`);
      assert.ok(sent < body.length);
    } finally {
      clearInterval(trickle);
    }
  });

  it('past the limit, the oldest idle connections make room; reviews keep being answered', async () => {
    const idle: TLSSocket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = await openTls(server);
      socket.on('error', () => undefined);
      idle.push(socket);
    }
    assert.ok(server.running.governor.stats.open <= 9, `${server.running.governor.stats.open} open`);
    assert.ok(server.running.governor.stats.closedIdle >= 11);
    const answer = await server.post(review());
    assert.equal(answer.status, 200);
    for (const socket of idle) socket.destroy();
  });

  it('past the limit, connections that never sent a request go first: a keep-alive connection in use survives', async () => {
    const kept = await openTls(server);
    const body = review();
    const exchange = (): Promise<string> =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer): void => {
          text += chunk.toString();
          if (/\r\n\r\n[\s\S]*"uid"/.test(text) && text.trimEnd().endsWith('}}')) {
            kept.off('data', onData);
            resolve(text);
          }
        };
        kept.on('data', onData);
        kept.once('close', () => reject(new Error('the kept connection was closed')));
        kept.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
    assert.match(await exchange(), /^HTTP\/1\.1 200 /);
    const idle: TLSSocket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = await openTls(server);
      socket.on('error', () => undefined);
      idle.push(socket);
    }
    assert.match(await exchange(), /^HTTP\/1\.1 200 /, 'the connection that served a review is still there');
    kept.destroy();
    for (const socket of idle) socket.destroy();
  });

  it('a TCP connection that never finishes its TLS handshake is closed', async () => {
    const socket = netConnect(server.running.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const took = await closesWithin(socket, 8_000);
    assert.ok(took < 6_000, `closed after ${took} ms`);
  });
});

describe('large bodies share one budget (issue 9)', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    // Room for one 1 MiB review at a time (weighted ×4).
    server = await startTestServer(policySet, { bodyBudgetBytes: 4 * 1024 * 1024, maxBodyBytes: 1024 * 1024 });
  });
  after(async () => server?.close());

  it('a stalled or trickling large body holds only the room for what it sent: other large reviews are answered meanwhile', async () => {
    const stalled: TLSSocket[] = [];
    for (let i = 0; i < 8; i++) {
      const socket = await openTls(server);
      socket.on('error', () => undefined);
      socket.write(
        `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024 - 1000}\r\n\r\n{"apiVersion":`,
      );
      stalled.push(socket);
    }
    await sleep(100);
    const padded = JSON.stringify({ ...JSON.parse(review()), padding: 'x'.repeat(200 * 1024) });
    assert.equal((await server.post(padded)).status, 200);
    for (const socket of stalled) socket.destroy();
  });

  it('large bodies that did arrive fill the budget: another large one waits, then gets 503; small ones are still answered', async () => {
    const big = 1024 * 1024 - 1000;
    const held: TLSSocket[] = [];
    // All but the last byte: the room for a whole 1 MiB body (×4 for parsing) is the whole budget.
    const socket = await openTls(server);
    socket.on('error', () => undefined);
    socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${big}\r\n\r\n${' '.repeat(big - 1)}`);
    held.push(socket);
    await sleep(300);
    const padded = JSON.stringify({ ...JSON.parse(review()), padding: 'x'.repeat(200 * 1024) });
    const refused = await server.post(padded);
    assert.equal(refused.status, 503);
    assert.match(String(refused.json['error']), /judging other large objects right now; retry shortly/);
    assert.equal((await server.post(review())).status, 200);
    for (const each of held) each.destroy();
    await sleep(100);
    assert.equal((await server.post(padded)).status, 200, 'room comes back when the held body is gone');
  });

  it('a body over 64 KiB without Content-Length is refused with 411', async () => {
    const socket = await openTls(server);
    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = 'x'.repeat(70 * 1024);
    socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`);
    assert.match(await answer, /^HTTP\/1\.1 411 /);
  });
});

describe('TLS 1.2 only with ECDHE and AEAD (issue 9 §7)', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(policySet);
  });
  after(async () => server?.close());

  /** Whether openssl s_client completes a handshake with these options (stdin closed: it leaves once connected). */
  const handshake = (args: readonly string[]): Promise<boolean> =>
    new Promise((resolve) => {
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.running.port}`, '-servername', 'localhost', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const timer = setTimeout(() => child.kill(), 10_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve(code === 0 && /Cipher is (?!\(NONE\))/.test(output));
      });
    });

  // scripts/certs.sh makes an ECDSA (P-256) serving key: the ECDHE-ECDSA suites apply.
  it('offers ECDHE-GCM and CHACHA20 under TLS 1.2, and TLS 1.3', async () => {
    assert.equal(await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']), true);
    assert.equal(await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-GCM-SHA384']), true);
    assert.equal(await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305']), true);
    assert.equal(await handshake(['-tls1_3']), true);
  });

  it('refuses CBC, static-RSA key exchange and TLS 1.1', async () => {
    assert.equal(await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA']), false);
    assert.equal(await handshake(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA256']), false);
    assert.equal(await handshake(['-tls1_2', '-cipher', 'AES128-GCM-SHA256']), false);
    assert.equal(await handshake(['-tls1_2', '-cipher', 'AES128-SHA']), false);
    assert.equal(await handshake(['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']), false);
  });
});
