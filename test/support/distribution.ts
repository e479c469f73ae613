/**
 * Starts a real registry for tests: Debian's `docker-registry` (distribution 2.8) with a
 * generated config file, on a free loopback port chosen by the registry itself (`addr:
 * 127.0.0.1:0`; the port is read from its "listening on" log line). Plain HTTP, TLS,
 * htpasswd (Basic) auth or token (Bearer) auth.
 *
 * Debian packages: docker-registry (and apache2-utils for `htpasswd`, openssl for TLS).
 */

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';

export interface DistributionOptions {
  /** Working directory for the config, storage and auth files. */
  readonly dir: string;
  /** Serve HTTPS with this certificate and key (PEM files). */
  readonly tls?: { readonly certPath: string; readonly keyPath: string; readonly caPem: string };
  /** htpasswd auth (Basic challenges) with these users. */
  readonly htpasswd?: Readonly<Record<string, string>>;
  /** Token auth (Bearer challenges). */
  readonly token?: {
    readonly realm: string;
    readonly service: string;
    readonly issuer: string;
    /** PEM file of the CA certificates that sign the token signers' certificates. */
    readonly rootCertBundlePath: string;
  };
  /** A fixed port (to restart a registry where it was); a free one by default. */
  readonly port?: number;
  /** Storage directory (defaults to `<dir>/storage`); reuse it to keep content across restarts. */
  readonly storageDir?: string;
  /** Log lines as text with an access log (for people reading a log file), instead of JSON without one. */
  readonly textLog?: boolean;
  /** Listen address host (default 127.0.0.1). */
  readonly host?: string;
}

export interface RunningDistribution {
  /** `127.0.0.1:PORT`, as a registry in an image reference. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` or `https://…`. */
  readonly url: string;
  readonly storageDir: string;
  /** The tail of the process's log (its last 64–128 KiB), for assertion messages. */
  log(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Whether the docker-registry binary is installed. */
export function hasDistribution(): boolean {
  try {
    execFileSync('docker-registry', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function yamlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * Writes `<dir>/config.yml` for docker-registry (and `<dir>/htpasswd` for Basic auth) and
 * returns its path; startDistribution runs it here, the e2e test bed under its own process
 * supervision (test/e2e/lib/registries.ts).
 */
export function writeDistributionConfig(options: DistributionOptions, storageDir: string): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    ...(options.textLog === true ? ['  formatter: text'] : ['  formatter: json', '  accesslog:', '    disabled: true']),
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${yamlString(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${options.host ?? '127.0.0.1'}:${options.port ?? 0}`,
    '  secret: modelgate-test-secret',
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
  ];
  if (options.tls !== undefined) {
    lines.push('  tls:', `    certificate: ${yamlString(options.tls.certPath)}`, `    key: ${yamlString(options.tls.keyPath)}`);
  }
  if (options.htpasswd !== undefined) {
    const path = join(options.dir, 'htpasswd');
    writeFileSync(path, '');
    for (const [user, password] of Object.entries(options.htpasswd)) {
      const line = execFileSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' }).trim();
      writeFileSync(path, `${line}\n`, { flag: 'a' });
    }
    lines.push('auth:', '  htpasswd:', '    realm: modelgate-test', `    path: ${yamlString(path)}`);
  }
  if (options.token !== undefined) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${yamlString(options.token.realm)}`,
      `    service: ${yamlString(options.token.service)}`,
      `    issuer: ${yamlString(options.token.issuer)}`,
      `    rootcertbundle: ${yamlString(options.token.rootCertBundlePath)}`,
    );
  }
  const path = join(options.dir, 'config.yml');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** How much of the registry's log `log()` keeps (its tail). */
const LOG_TAIL_CHARS = 64 * 1024;

/** Starts docker-registry and waits until it answers on /v2/. */
export async function startDistribution(options: DistributionOptions): Promise<RunningDistribution> {
  mkdirSync(options.dir, { recursive: true });
  const storageDir = options.storageDir ?? join(options.dir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  const config = writeDistributionConfig(options, storageDir);
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  // The registry logs a line per request: keep only the tail, and look for the port only until it is
  // found (rescanning a log that grows with every request made benchmarks measure this harness).
  let output = '';
  let listening = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`docker-registry did not start within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      // Cut back to the tail only when it is twice as long: copying it on every chunk costs as much again.
      if (output.length > 2 * LOG_TAIL_CHARS) output = output.slice(-LOG_TAIL_CHARS);
      if (listening) return;
      const match = /listening on (?:\[::\]|[0-9.]+):(\d+)/.exec(output);
      if (match !== null) {
        listening = true;
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`docker-registry exited with ${code}:\n${output}`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  const scheme = options.tls === undefined ? 'http' : 'https';
  const url = `${scheme}://127.0.0.1:${port}`;
  await waitUntilServing(url, options.tls?.caPem);
  return {
    host: `127.0.0.1:${port}`,
    port,
    url,
    storageDir,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      children.delete(child);
    },
  };
}

async function waitUntilServing(url: string, ca: string | undefined): Promise<void> {
  const agent = new Agent(ca === undefined ? {} : { connect: { ca } });
  try {
    const until = Date.now() + 20_000;
    for (;;) {
      try {
        const response = await request(`${url}/v2/`, { dispatcher: agent, headersTimeout: 2000, bodyTimeout: 2000 });
        await response.body.dump();
        return;
      } catch (error) {
        if (Date.now() > until) throw new Error(`registry at ${url} is not serving: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await agent.close();
  }
}
