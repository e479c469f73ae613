// OCI registries for e2e tests, each on its own free loopback port:
//
//  - startDockerRegistry(): Debian's docker-registry (CNCF distribution 2.8).
//    No OCI 1.1 referrers API: clients fall back to the tag schema
//    (cosign v3 writes a `sha256-<hex>` index tag there). Plain HTTP by
//    default; `{ tls: true, auth: true }` serves HTTPS with a generated CA
//    and htpasswd (bcrypt) basic auth.
//  - startReferrersRegistry(): our go-containerregistry based registry
//    (test/e2e/tools/referrers-registry) that serves
//    GET /v2/<name>/referrers/<digest>. In-memory: contents die with it.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeDistributionConfig } from '../../support/distribution.ts';
import { freePort } from './ports.ts';
import { createCA, issueLoopbackServerCert } from '../../support/pki.ts';
import { startProcess } from './processes.ts';
import type { ManagedProcess } from './processes.ts';
import { loadTools } from './tools.ts';
import { scratchDir } from './workdir.ts';

export interface RegistryOptions {
  /** Serve HTTPS with a certificate from a CA generated for this registry. */
  tls?: boolean;
  /** Require HTTP basic auth (user/password generated unless given). */
  auth?: boolean | { username: string; password: string };
}

export interface Registry {
  readonly kind: 'docker-registry' | 'referrers-registry';
  /** "127.0.0.1:PORT", as used in image references. */
  readonly host: string;
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT". */
  readonly url: string;
  readonly tls: boolean;
  /** Whether the registry serves the OCI 1.1 referrers API. */
  readonly referrersApi: boolean;
  /** PEM of the CA that signed the serving certificate (TLS only). */
  readonly caPem?: string;
  readonly caFile?: string;
  readonly auth?: { username: string; password: string };
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

function randomSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('hex');
}

function resolveAuth(auth: RegistryOptions['auth']): { username: string; password: string } | undefined {
  if (auth === undefined || auth === false) return undefined;
  if (auth === true) return { username: 'modelgate', password: randomSecret() };
  return auth;
}

/** Readiness: /v2/ answers 200, or 401 when auth is on (both mean "up"). */
function v2Ready(url: string, caPem: string | undefined, authOn: boolean) {
  return {
    kind: 'http' as const,
    url: `${url}/v2/`,
    ...(caPem !== undefined ? { ca: caPem } : {}),
    accept: (status: number) => status === 200 || (authOn && status === 401),
  };
}

/** What both registries share once their configuration is written: TLS material, auth, the process and its cleanup. */
interface Launch {
  readonly kind: Registry['kind'];
  readonly dir: string;
  readonly host: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly serving: { readonly caPem: string; readonly caFile: string } | undefined;
  readonly auth: { username: string; password: string } | undefined;
  readonly referrersApi: boolean;
}

async function launch(spec: Launch): Promise<Registry> {
  const tls = spec.serving !== undefined;
  const url = `${tls ? 'https' : 'http'}://${spec.host}`;
  const proc = await startProcess({
    name: spec.kind,
    command: spec.command,
    args: [...spec.args],
    ready: v2Ready(url, spec.serving?.caPem, spec.auth !== undefined),
    readyTimeoutMs: 30_000,
  });
  return {
    kind: spec.kind,
    host: spec.host,
    url,
    tls,
    referrersApi: spec.referrersApi,
    ...(spec.serving !== undefined ? { caPem: spec.serving.caPem, caFile: spec.serving.caFile } : {}),
    ...(spec.auth !== undefined ? { auth: spec.auth } : {}),
    process: proc,
    stop: async () => {
      await proc.stop();
      // CA files stay readable until the process is gone
      rmSync(spec.dir, { recursive: true, force: true });
    },
  };
}

/** A CA and a loopback serving certificate for a registry. */
async function servingCert(dir: string): Promise<{ caPem: string; caFile: string; certFile: string; keyFile: string }> {
  const ca = await createCA(join(dir, 'pki'), 'modelgate-e2e-registry-ca');
  const serving = await issueLoopbackServerCert(ca, join(dir, 'pki'), 'registry');
  return { caPem: ca.certPem, caFile: ca.certFile, certFile: serving.certFile, keyFile: serving.keyFile };
}

/** Starts Debian's docker-registry (distribution 2.8) with filesystem storage in a temp dir. */
export async function startDockerRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const tools = loadTools();
  const dir = scratchDir('docker-registry');
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const tls = options.tls === true;
    const auth = resolveAuth(options.auth);
    const serving = tls ? await servingCert(dir) : undefined;
    // The configuration the unit and integration tests' registries use too; text logs with access lines for the log file.
    const config = writeDistributionConfig(
      {
        dir,
        port,
        textLog: true,
        tls: serving === undefined ? undefined : { certPath: serving.certFile, keyPath: serving.keyFile, caPem: serving.caPem },
        htpasswd: auth === undefined ? undefined : { [auth.username]: auth.password },
      },
      join(dir, 'data'),
    );
    return await launch({
      kind: 'docker-registry',
      dir,
      host,
      command: tools.paths.DOCKER_REGISTRY,
      args: ['serve', config],
      serving,
      auth,
      referrersApi: false,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Starts the in-memory OCI 1.1 registry with the referrers API. */
export async function startReferrersRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const tools = loadTools();
  const dir = scratchDir('referrers-registry');
  try {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const tls = options.tls === true;
    const auth = resolveAuth(options.auth);
    const args = [`--address=${host}`];
    const serving = tls ? await servingCert(dir) : undefined;
    if (serving !== undefined) args.push(`--tls-cert=${serving.certFile}`, `--tls-key=${serving.keyFile}`);
    if (auth !== undefined) args.push(`--basic-auth=${auth.username}:${auth.password}`);
    return await launch({ kind: 'referrers-registry', dir, host, command: tools.paths.REFERRERS_REGISTRY, args, serving, auth, referrersApi: true });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
