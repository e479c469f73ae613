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
import { BUNDLED_POLICY, PACKAGE_ROOT } from '../../src/core/package-root.ts';

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

const PACKAGE = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { config: { nodeFlags: string; mallocEnv: string } };
/** The production node flags and malloc settings (package.json "config", the Dockerfile's ENV). */
export const PRODUCTION_NODE_FLAGS: readonly string[] = PACKAGE.config.nodeFlags.split(' ');
export const PRODUCTION_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  PACKAGE.config.mallocEnv.split(' ').map((pair) => pair.split('=') as [string, string]),
);

/** Node's arguments for `modelgate serve` on a loopback port. */
function serveArguments(port: number, certDir: string, extraArgs: readonly string[]): string[] {
  const policy = extraArgs.includes('--policy') ? [] : ['--policy', BUNDLED_POLICY];
  return [
    ...PRODUCTION_NODE_FLAGS,
    join(PACKAGE_ROOT, 'bin', 'modelgate.js'),
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--tls-cert',
    join(certDir, 'tls.crt'),
    '--tls-key',
    join(certDir, 'tls.key'),
    ...policy,
    ...extraArgs,
  ];
}

/** The modelgate child process itself, for benchmarks that watch it (memory, death). */
export interface ModelgateProcess extends ServerProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Whether the process is still running. */
  alive(): boolean;
  /** How it ended (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  exitReason(): string | undefined;
}

/**
 * Spawns `modelgate serve` as startModelgate does (same node flag, same entry
 * point), and hands back the child process too. `stdout` is where its log
 * goes (a file descriptor), /dev/null by default. stop() also ends a process
 * that a signal killed, and sends SIGKILL when SIGTERM is not enough within 10 s.
 */
export async function spawnModelgate(
  certDir: string,
  ca: string,
  extraArgs: readonly string[] = [],
  extraEnv: Readonly<Record<string, string>> = {},
  options: { readonly stdout?: number } = {},
): Promise<ModelgateProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    serveArguments(port, certDir, extraArgs),
    // Logs go to /dev/null: writing them is part of the measured cost, keeping them is not.
    {
      stdio: ['ignore', options.stdout ?? 'ignore', 'inherit'],
      env: { ...process.env, ...PRODUCTION_ENV, MODELGATE_POLICY: '', MODELGATE_CONFIG: '', ...extraEnv },
    },
  );
  const origin = `https://127.0.0.1:${port}`;
  const ended = (): boolean => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitReady(origin, ca, child);
  } catch (error) {
    if (!ended()) child.kill('SIGKILL');
    throw error;
  }
  return {
    origin,
    pid: child.pid as number,
    child,
    cpuMicros: cpuOf(child),
    alive: () => !ended(),
    exitReason: () => (child.signalCode !== null ? `signal ${child.signalCode}` : child.exitCode !== null ? `exit code ${child.exitCode}` : undefined),
    stop: () =>
      new Promise((resolve) => {
        if (ended()) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export async function startModelgate(
  certDir: string,
  ca: string,
  extraArgs: readonly string[] = [],
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    serveArguments(port, certDir, extraArgs),
    // Logs go to /dev/null: writing them is part of the measured cost, keeping them is not.
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...PRODUCTION_ENV, MODELGATE_POLICY: '', MODELGATE_CONFIG: '', ...extraEnv } },
  );
  const origin = `https://127.0.0.1:${port}`;
  await waitReady(origin, ca, child);
  return { origin, stop: stopper(child), cpuMicros: cpuOf(child) };
}

export async function startAllowAll(certDir: string, ca: string): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bench', 'lib', 'allow-all.ts'), String(port), certDir], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const origin = `https://127.0.0.1:${port}`;
  await waitReady(origin, ca, child);
  return { origin, stop: stopper(child), cpuMicros: cpuOf(child) };
}
