/**
 * Servers under test, each in its own process so the load generator does not
 * share their event loop: modelgate's real `serve` command, and an allow-all
 * express HTTPS handler as the baseline (same TLS, same JSON body parsing).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { BUNDLED_POLICY, PACKAGE_ROOT } from '../../src/package-root.ts';

export interface ServerProcess {
  readonly origin: string;
  /** CPU time the server process has used so far (all threads), in microseconds. */
  cpuMicros(): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitReady(origin: string, ca: string, child: ChildProcess): Promise<void> {
  const agent = new Agent({ connect: { ca, servername: 'localhost' } });
  const deadline = Date.now() + 20_000;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
      try {
        const response = await request(`${origin}/healthz`, { dispatcher: agent });
        await response.body.text();
        if (response.statusCode === 200) return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw new Error(`${origin} did not become ready`);
  } finally {
    await agent.close();
  }
}

/** utime + stime from /proc/<pid>/stat (clock ticks of 10 ms on Linux), as microseconds. */
function cpuOf(child: ChildProcess): () => number {
  return () => {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  };
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

export async function startModelgate(certDir: string, ca: string, extraArgs: readonly string[] = [], extraEnv: Readonly<Record<string, string>> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const policy = extraArgs.includes('--policy') ? [] : ['--policy', BUNDLED_POLICY];
  const child = spawn(
    process.execPath,
    // --max-semi-space-size=8 as in the container image (Dockerfile NODE_OPTIONS).
    ['--max-semi-space-size=8', join(PACKAGE_ROOT, 'bin', 'modelgate.js'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--tls-cert', join(certDir, 'tls.crt'), '--tls-key', join(certDir, 'tls.key'), ...policy, ...extraArgs],
    // Logs go to /dev/null: writing them is part of the measured cost, keeping them is not.
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MODELGATE_POLICY: '', MODELGATE_CONFIG: '', ...extraEnv } },
  );
  const origin = `https://127.0.0.1:${port}`;
  await waitReady(origin, ca, child);
  return { origin, stop: stopper(child), cpuMicros: cpuOf(child) };
}

export async function startAllowAll(certDir: string, ca: string): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bench', 'lib', 'allow-all.ts'), String(port), certDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const origin = `https://127.0.0.1:${port}`;
  await waitReady(origin, ca, child);
  return { origin, stop: stopper(child), cpuMicros: cpuOf(child) };
}
