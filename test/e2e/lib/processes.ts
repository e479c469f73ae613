// Child processes of the e2e test bed: long-running servers (etcd,
// kube-apiserver, registries) and one-shot tool runs (kubectl, oras, cosign).
//
// Servers write their output to a log file (kept after the test, its path is
// in every error) rather than to pipes: a pipe nobody drains blocks a chatty
// server, and a file survives a crashed test for debugging. Every server is
// remembered in a registry and killed when this process exits, however it
// exits, so a failed test does not leave an apiserver holding ports.

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logDir } from './workdir.ts';

/** How to tell that a server is ready to serve. */
export type Readiness =
  | {
      kind: 'http';
      /** http:// or https:// URL polled with GET. */
      url: string;
      /** PEM CA bundle for https (the server's own CA). */
      ca?: string | Buffer;
      /** PEM client certificate and key, for servers that demand one. */
      cert?: string | Buffer;
      key?: string | Buffer;
      /** Accept the answer; default: status 200. */
      accept?: (status: number, body: string) => boolean;
    }
  | { kind: 'port'; port: number; host?: string }
  | { kind: 'log'; pattern: RegExp };

export interface SpawnOptions {
  /** Short name used in log file names and errors. */
  name: string;
  command: string;
  args: readonly string[];
  /** Full environment of the child; default: loopbackEnv(). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  ready?: Readiness;
  /** Default 60 s. */
  readyTimeoutMs?: number;
  /** Grace period between SIGTERM and SIGKILL on stop(); default 10 s. */
  stopTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the child has exited. */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** The last lines of the log file. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after the grace period; idempotent. */
  stop(): Promise<ExitInfo>;
}

const PROXY_VARS = ['http_proxy', 'https_proxy', 'all_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY'];

/**
 * The parent's environment without proxy settings: servers of the test bed
 * only ever talk to loopback (the apiserver calls the webhook at
 * https://127.0.0.1:PORT) and must not be routed through a proxy.
 */
export function loopbackEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of PROXY_VARS) delete env[k];
  return { ...env, ...extra };
}

/**
 * Environment for client tools (oras, cosign, skopeo, kubectl): loopback goes
 * direct, and anything else is sent to a dead proxy on 127.0.0.1:9, so an
 * attempt to reach a public service (Rekor, Fulcio, TUF) fails at once and
 * visibly instead of leaving the machine. Go never proxies loopback
 * addresses, NO_PROXY covers the other clients.
 */
export function guardedClientEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dead = 'http://127.0.0.1:9';
  return loopbackEnv({
    HTTP_PROXY: dead,
    HTTPS_PROXY: dead,
    http_proxy: dead,
    https_proxy: dead,
    NO_PROXY: '127.0.0.1,localhost,::1',
    no_proxy: '127.0.0.1,localhost,::1',
    ...extra,
  });
}

function tail(file: string, lines: number): string {
  try {
    const all = readFileSync(file, 'utf8').split('\n');
    return all.slice(Math.max(0, all.length - lines - 1)).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---- registry of live children, killed on exit --------------------------

const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAllSync(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' runs on normal end, process.exit() and uncaught exceptions.
  process.once('exit', killAllSync);
  // Signals bypass 'exit' unless handled: kill the children, then die with
  // the conventional status.
  const onSignal = (signalNumber: number): void => {
    killAllSync();
    process.exit(128 + signalNumber);
  };
  process.once('SIGINT', () => onSignal(2));
  process.once('SIGTERM', () => onSignal(15));
  process.once('SIGHUP', () => onSignal(1));
}

// Installed on import, i.e. before workdir.ts registers its own 'exit'
// hook: children die before their directories are removed.
installExitHooks();

/** Servers started by startProcess and not yet stopped. */
const managed = new Set<ManagedProcess>();

/** Stops every server started by this process (for `after` hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...managed].map((p) => p.stop()));
}

// ---- readiness ------------------------------------------------------------

function probeHttp(r: Extract<Readiness, { kind: 'http' }>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(r.url);
    const opts: RequestOptions = { method: 'GET', timeout: 3000 };
    if (r.ca !== undefined) opts.ca = r.ca;
    if (r.cert !== undefined) opts.cert = r.cert;
    if (r.key !== undefined) opts.key = r.key;
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function probePort(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    sock.setTimeout(2000);
    sock.once('connect', () => {
      sock.destroy();
      resolve();
    });
    sock.once('timeout', () => sock.destroy(new Error('timeout')));
    sock.once('error', reject);
  });
}

async function isReady(r: Readiness, logFile: string): Promise<boolean> {
  try {
    switch (r.kind) {
      case 'http': {
        const { status, body } = await probeHttp(r);
        return (r.accept ?? ((s: number) => s === 200))(status, body);
      }
      case 'port':
        await probePort(r.host ?? '127.0.0.1', r.port);
        return true;
      case 'log':
        return r.pattern.test(readFileSync(logFile, 'utf8'));
    }
  } catch {
    return false;
  }
}

// ---- spawning -------------------------------------------------------------

let counter = 0;

/**
 * Starts a server, logs to a file, and resolves once `ready` holds. If the
 * child dies or the timeout passes first, it is killed and the promise
 * rejects with the tail of its log.
 */
export async function startProcess(opts: SpawnOptions): Promise<ManagedProcess> {
  counter += 1;
  const logFile = join(logDir(), `${opts.name}-${counter}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? loopbackEnv(),
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const pid = child.pid;
  if (pid === undefined) {
    // spawn failures (ENOENT) are reported asynchronously through 'error'
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`${opts.name}: cannot start ${opts.command}: ${err.message}`);
  }
  // A server must not keep the test process alive on its own: a test file
  // that forgets to stop it still ends, and the 'exit' hook kills it.
  child.unref();
  live.add(child);
  let running = true;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      resolve({ code, signal });
    });
  });

  let stopping: Promise<ExitInfo> | undefined;
  const proc: ManagedProcess = {
    name: opts.name,
    pid,
    logFile,
    exited,
    isRunning: () => running,
    logTail: (lines = 40) => tail(logFile, lines),
    stop: () => {
      if (stopping === undefined) {
        stopping = (async () => {
          if (running) {
            child.kill('SIGTERM');
            // The grace timer is cancelled once the child is gone, so it
            // does not hold the event loop (and the test run) open.
            const cancel = new AbortController();
            const grace = sleep(opts.stopTimeoutMs ?? 10_000, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
            const first = await Promise.race([exited, grace]);
            cancel.abort();
            if (first === 'timeout' && running) child.kill('SIGKILL');
          }
          managed.delete(proc);
          return exited;
        })();
      }
      return stopping;
    },
  };
  managed.add(proc);

  if (opts.ready !== undefined) {
    const timeoutMs = opts.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!running) {
        const info = await exited;
        managed.delete(proc);
        throw new Error(
          `${opts.name} exited (code ${String(info.code)}, signal ${String(info.signal)}) before it was ready; log ${logFile}:\n${proc.logTail()}`,
        );
      }
      if (await isReady(opts.ready, logFile)) break;
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`${opts.name} was not ready within ${timeoutMs} ms; log ${logFile}:\n${proc.logTail()}`);
      }
      await sleep(200);
    }
  }
  return proc;
}

// ---- one-shot commands ------------------------------------------------------

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default 120 s. */
  timeoutMs?: number;
  /** Data written to stdin. */
  input?: string | Buffer;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a tool to completion and returns its output; throws (with the command
 * line, exit code and output) when it fails, unless allowFailure is set.
 */
export function runCommand(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? guardedClientEnv(),
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        const result = { code, stdout, stderr };
        if (error !== null && !(opts.allowFailure === true && typeof error.code === 'number')) {
          reject(
            new Error(
              `command failed (${error.killed ? 'killed/timeout' : `exit ${String(error.code)}`}): ${command} ${args.join(' ')}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`,
            ),
          );
          return;
        }
        resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}
