// modelgate itself in the e2e test bed: its real `serve` command as a child
// process on 127.0.0.1, serving certificates from the project's own
// scripts/certs.sh, its pino log read back line by line, and the
// ValidatingWebhookConfiguration rendered from manifests/ and pointed at it.
//
// Network rule: the webhook configuration handed to the apiserver must call
// https://127.0.0.1:<port>/validate, never the in-cluster Service (a Service
// ClusterIP such as 10.96.0.x would make the apiserver dial off the machine).
// renderWebhookConfiguration() replaces clientConfig and
// assertLoopbackWebhooks() refuses anything else, before and after applying.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { Cluster } from './cluster.ts';
import { freePort } from './ports.ts';
import { loopbackEnv, runCommand, startProcess } from './processes.ts';
import type { ExitInfo, ManagedProcess } from './processes.ts';
import { scratchDir } from './workdir.ts';

/** The repository root (this file is test/e2e/lib/modelgate.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The webhook's name in manifests/validatingwebhookconfiguration.yaml. */
export const WEBHOOK_NAME = 'validate.modelgate.dev';
export const WEBHOOK_CONFIGURATION_NAME = 'modelgate';

// ---- certificates ------------------------------------------------------------

export interface ModelgateCerts {
  readonly dir: string;
  readonly caFile: string;
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A CA and serving pair from scripts/certs.sh (SANs: localhost, 127.0.0.1,
 * ::1 and the in-cluster Service names), written to a scratch directory
 * through MODELGATE_CERTS_DIR.
 */
export async function makeModelgateCerts(): Promise<ModelgateCerts> {
  const dir = scratchDir('modelgate-certs');
  await runCommand('bash', [join(REPO_ROOT, 'scripts', 'certs.sh')], {
    env: loopbackEnv({ MODELGATE_CERTS_DIR: dir, MODELGATE_CERT_DAYS: '2' }),
    cwd: REPO_ROOT,
  });
  const caFile = join(dir, 'ca.crt');
  return { dir, caFile, caPem: readFileSync(caFile, 'utf8'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
}

// ---- policy files ----------------------------------------------------------------

/** Writes each document set as one YAML file (`---` separated) into a fresh directory. */
export function writePolicyDirectory(files: Readonly<Record<string, readonly unknown[]>>): string {
  const dir = scratchDir('modelgate-policies');
  for (const [name, documents] of Object.entries(files)) {
    writeFileSync(join(dir, name), documents.map((document) => stringify(document)).join('---\n'));
  }
  return dir;
}

/** Writes one Config document to a file of its own. */
export function writeConfigFile(config: unknown): string {
  const file = join(scratchDir('modelgate-config'), 'config.yaml');
  writeFileSync(file, stringify(config));
  return file;
}

// ---- the server ------------------------------------------------------------------

/** One `msg: "review"` log line of the server (src/server/app.ts). */
export interface ReviewLog {
  readonly msg: 'review';
  readonly uid: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly operation: string;
  readonly dryRun: boolean;
  readonly decision: 'allow' | 'warn' | 'deny';
  readonly reasons: readonly string[];
  readonly skipped?: string;
  readonly revision?: string;
  readonly durationMs: number;
}

export interface ModelgateOptions {
  readonly certs: ModelgateCerts;
  /** --policy paths (files or directories). */
  readonly policyPaths: readonly string[];
  /** --config file. */
  readonly configFile?: string;
  /** Default: a free loopback port. The same port is kept across restarts. */
  readonly port?: number;
  readonly readyTimeoutMs?: number;
  /** More `serve` flags (e.g. --cache-dir). */
  readonly extraArgs?: readonly string[];
}

export interface Modelgate {
  readonly port: number;
  /** https://127.0.0.1:PORT/validate, what the webhook configuration calls. */
  readonly url: string;
  readonly certs: ModelgateCerts;
  /** The current (or last) child process. */
  readonly process: ManagedProcess;
  isRunning(): boolean;
  /** Every JSON log line of every run of the server, in order. */
  logLines(): Record<string, unknown>[];
  /** The `msg: "review"` lines of every run, in order. */
  reviews(): ReviewLog[];
  /** Starts the server again (same port, policy and certificates); a no-op while it runs. */
  start(): Promise<void>;
  /** SIGTERM (graceful: in-flight reviews are answered); idempotent. */
  stop(): Promise<ExitInfo | undefined>;
}

/**
 * Runs the CLI's main() from the TypeScript sources, exactly as bin/modelgate.js
 * does from dist/: the test exercises the code in the tree, never a stale build.
 */
const ENTRY = 'const { main } = await import(process.argv[1]); process.exitCode = await main(process.argv.slice(2));';

function serverEnv(): NodeJS.ProcessEnv {
  // Nothing from the parent's MODELGATE_* may change what the flags say.
  const env = loopbackEnv({ MODELGATE_LOG_LEVEL: 'info' });
  for (const key of Object.keys(env)) {
    if (key.startsWith('MODELGATE_') && key !== 'MODELGATE_LOG_LEVEL') delete env[key];
  }
  return env;
}

function parseJsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) out.push(value as Record<string, unknown>);
    } catch {
      // a line cut short by a kill, or not pino's
    }
  }
  return out;
}

/**
 * Node arguments that run `modelgate serve` from the TypeScript sources (never a
 * possibly stale dist/) on 127.0.0.1:PORT with the given key pair.
 */
export function serveArgs(port: number, certFile: string, keyFile: string, extra: readonly string[] = []): string[] {
  return [
    '--input-type=module',
    '--eval',
    ENTRY,
    join(REPO_ROOT, 'src', 'cli', 'main.ts'),
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--tls-cert',
    certFile,
    '--tls-key',
    keyFile,
    ...extra,
  ];
}

/** Starts `modelgate serve` on 127.0.0.1 and resolves when /readyz answers 200. */
export async function startModelgate(options: ModelgateOptions): Promise<Modelgate> {
  const port = options.port ?? (await freePort());
  const { certs } = options;
  const args = serveArgs(port, certs.certFile, certs.keyFile, [
    ...options.policyPaths.flatMap((path) => ['--policy', path]),
    ...(options.configFile === undefined ? [] : ['--config', options.configFile]),
    ...(options.extraArgs ?? []),
  ]);
  const logFiles: string[] = [];
  let current: ManagedProcess | undefined;
  const launch = async (): Promise<void> => {
    current = await startProcess({
      name: 'modelgate',
      command: process.execPath,
      args,
      cwd: REPO_ROOT,
      env: serverEnv(),
      ready: { kind: 'http', url: `https://127.0.0.1:${port}/readyz`, ca: certs.caPem },
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      stopTimeoutMs: 15_000,
    });
    logFiles.push(current.logFile);
  };
  await launch();
  const logLines = (): Record<string, unknown>[] => logFiles.flatMap((file) => parseJsonLines(readFileSync(file, 'utf8')));
  return {
    port,
    url: `https://127.0.0.1:${port}/validate`,
    certs,
    get process(): ManagedProcess {
      if (current === undefined) throw new Error('modelgate was never started');
      return current;
    },
    isRunning: () => current?.isRunning() ?? false,
    logLines,
    reviews: () => logLines().filter((line): line is Record<string, unknown> & ReviewLog => line['msg'] === 'review'),
    start: async () => {
      if (current?.isRunning() === true) return;
      await launch();
    },
    stop: async () => (current === undefined ? undefined : current.stop()),
  };
}

// ---- the webhook configuration ------------------------------------------------------

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function webhooksOf(configuration: Json): Json[] {
  const webhooks = configuration['webhooks'];
  if (!Array.isArray(webhooks) || webhooks.length === 0 || !webhooks.every(isObject)) {
    throw new Error('the ValidatingWebhookConfiguration has no webhooks');
  }
  return webhooks;
}

/**
 * Throws unless every webhook of the configuration calls exactly
 * https://127.0.0.1:<port>/validate (no Service, nothing off loopback).
 */
export function assertLoopbackWebhooks(configuration: unknown, port: number): void {
  if (!isObject(configuration)) throw new Error('not a webhook configuration');
  for (const webhook of webhooksOf(configuration)) {
    const clientConfig = webhook['clientConfig'];
    if (!isObject(clientConfig)) throw new Error(`webhook ${String(webhook['name'])} has no clientConfig`);
    if (clientConfig['service'] !== undefined) {
      throw new Error(`webhook ${String(webhook['name'])} calls a Service; only https://127.0.0.1:${port}/validate is allowed here`);
    }
    if (clientConfig['url'] !== `https://127.0.0.1:${port}/validate`) {
      throw new Error(`webhook ${String(webhook['name'])} calls ${String(clientConfig['url'])}; only https://127.0.0.1:${port}/validate is allowed here`);
    }
  }
}

export interface RenderedWebhookConfiguration {
  /** The configuration as applied: manifests/ with clientConfig pointed at 127.0.0.1. */
  readonly configuration: Json;
  /** The webhook's clientConfig as manifests/ ships it. */
  readonly shippedClientConfig: Json;
}

/**
 * A webhook configuration file of manifests/ (e.g. optional/ai-workloads-webhook.yaml)
 * with each webhook's clientConfig replaced by `{url, caBundle}`, as renderWebhookConfiguration does.
 */
export function renderWebhookFile(relativePath: string, gate: Pick<Modelgate, 'url' | 'port' | 'certs'>): Json {
  const documents = parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests', relativePath), 'utf8'));
  const list = Array.isArray(documents) ? documents : [documents];
  const configuration = list
    .map((document) => document.toJS() as unknown)
    .find((value): value is Json => isObject(value) && value['kind'] === 'ValidatingWebhookConfiguration');
  if (configuration === undefined) throw new Error(`no ValidatingWebhookConfiguration in manifests/${relativePath}`);
  const caBundle = Buffer.from(gate.certs.caPem).toString('base64');
  for (const webhook of webhooksOf(configuration)) webhook['clientConfig'] = { url: gate.url, caBundle };
  assertLoopbackWebhooks(configuration, gate.port);
  return configuration;
}

/**
 * `kubectl kustomize manifests`, picks the ValidatingWebhookConfiguration and
 * replaces each webhook's clientConfig by `{url, caBundle}`. Everything else
 * (rules, namespaceSelector, matchConditions, failurePolicy…) is kept as shipped.
 */
export async function renderWebhookConfiguration(cluster: Cluster, gate: Pick<Modelgate, 'url' | 'port' | 'certs'>): Promise<RenderedWebhookConfiguration> {
  const { stdout } = await cluster.kubectl(['kustomize', join(REPO_ROOT, 'manifests')]);
  const documents = parseAllDocuments(stdout);
  if (!Array.isArray(documents)) throw new Error('kubectl kustomize printed no YAML documents');
  const configurations = documents
    .map((document) => document.toJS() as unknown)
    .filter((value): value is Json => isObject(value) && value['kind'] === 'ValidatingWebhookConfiguration');
  if (configurations.length !== 1) throw new Error(`expected one ValidatingWebhookConfiguration in manifests/, found ${configurations.length}`);
  const configuration = configurations[0] as Json;
  const webhooks = webhooksOf(configuration);
  const shipped = webhooks[0]?.['clientConfig'];
  if (!isObject(shipped)) throw new Error('the shipped webhook has no clientConfig');
  const caBundle = Buffer.from(gate.certs.caPem).toString('base64');
  for (const webhook of webhooks) webhook['clientConfig'] = { url: gate.url, caBundle };
  assertLoopbackWebhooks(configuration, gate.port);
  return { configuration, shippedClientConfig: structuredClone(shipped) };
}
