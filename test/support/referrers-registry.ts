/**
 * The OCI 1.1 registry of the test bed (test/e2e/tools/referrers-registry: go-containerregistry's
 * registry with the referrers API, the artifactType filter and OCI-Filters-Applied), built
 * with the Go toolchain into a cache directory and started on a free loopback port.
 * distribution 2.8 has no referrers API (it answers 404), so this is the registry for the
 * referrers API path; tests skip when no Go toolchain is installed.
 */

import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'tools', 'referrers-registry');

export interface RunningReferrersRegistry {
  readonly host: string;
  readonly url: string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** `go` on PATH, else Go's default install directory (non-login shells may lack it on PATH, as install.sh knows). */
function goBinary(): string | undefined {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    try {
      execFileSync(candidate, ['version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

const GO = goBinary();

export function hasGo(): boolean {
  return GO !== undefined && existsSync(join(SOURCE_DIR, 'main.go'));
}

let built: Promise<string> | undefined;

/** Builds the binary once per source version (cached under the temp directory). */
export function buildReferrersRegistry(): Promise<string> {
  built ??= (async () => {
    const hash = createHash('sha256');
    for (const file of ['main.go', 'go.mod', 'go.sum']) {
      const path = join(SOURCE_DIR, file);
      if (existsSync(path)) hash.update(readFileSync(path));
    }
    const dir = join(tmpdir(), 'modelgate-test-bin');
    mkdirSync(dir, { recursive: true });
    const binary = join(dir, `referrers-registry-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(binary)) return binary;
    await new Promise<void>((resolve, reject) => {
      execFile(GO ?? 'go', ['build', '-o', binary, '.'], { cwd: SOURCE_DIR, timeout: 8 * 60_000 }, (error, _stdout, stderr) => {
        if (error === null) resolve();
        else reject(new Error(`go build of the referrers registry failed: ${stderr}`));
      });
    });
    return binary;
  })();
  return built;
}

export async function startReferrersRegistry(options: { readonly basicAuth?: string } = {}): Promise<RunningReferrersRegistry> {
  const binary = await buildReferrersRegistry();
  const args = ['--address', '127.0.0.1:0', '--quiet'];
  if (options.basicAuth !== undefined) args.push('--basic-auth', options.basicAuth);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Only the start-up lines matter: stop collecting and scanning once the address is known.
  let output = '';
  let listening = false;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`referrers registry did not start:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      if (listening) return;
      output = `${output}${chunk.toString('utf8')}`.slice(-64 * 1024);
      const match = /listening on (https?:\/\/[0-9.:]+)/.exec(output);
      if (match?.[1] !== undefined) {
        listening = true;
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`referrers registry exited with ${code}:\n${output}`));
    });
  });
  return {
    host: new URL(url).host,
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      children.delete(child);
    },
  };
}
