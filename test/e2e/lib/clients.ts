// How the real client tools (oras, cosign, skopeo) reach a test-bed registry:
// TLS trust and credentials go through the environment every one of them
// reads (SSL_CERT_FILE, a docker config.json), plain HTTP through flags.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guardedClientEnv } from './processes.ts';
import type { Registry } from './registries.ts';
import { scratchDir } from './workdir.ts';

/** What a client needs to know about a registry. */
export type RegistryAccess = Pick<Registry, 'host' | 'tls' | 'caFile' | 'auth'>;

const authDirs = new Map<string, string>();

/** A directory holding config.json with the registry's credentials. */
function dockerConfigDir(registry: RegistryAccess & { auth: { username: string; password: string } }): string {
  let dir = authDirs.get(registry.host);
  if (dir === undefined) {
    dir = scratchDir('docker-config');
    const auth = Buffer.from(`${registry.auth.username}:${registry.auth.password}`).toString('base64');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }), { mode: 0o600 });
    authDirs.set(registry.host, dir);
  }
  return dir;
}

/**
 * Environment for a client tool talking to `registry`: no way out but
 * loopback (guardedClientEnv), the registry's CA as the only trusted root
 * when it serves TLS (Go reads SSL_CERT_FILE), and its credentials in
 * DOCKER_CONFIG (cosign, oras) and REGISTRY_AUTH_FILE (skopeo).
 */
export function registryClientEnv(registry: RegistryAccess | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string> = {};
  if (registry === undefined) return guardedClientEnv(extra);
  if (registry.tls && registry.caFile !== undefined) env['SSL_CERT_FILE'] = registry.caFile;
  if (registry.auth !== undefined) {
    const dir = dockerConfigDir({ ...registry, auth: registry.auth });
    env['DOCKER_CONFIG'] = dir;
    env['REGISTRY_AUTH_FILE'] = join(dir, 'config.json');
  }
  return guardedClientEnv({ ...env, ...extra });
}

/** oras flags for a destination registry (prefix "to-" for `oras cp`). */
export function orasRemoteFlags(registry: RegistryAccess, prefix: '' | 'to-' | 'from-' = ''): string[] {
  const flags: string[] = [];
  if (!registry.tls) flags.push(`--${prefix}plain-http`);
  if (registry.tls && registry.caFile !== undefined) flags.push(`--${prefix}ca-file`, registry.caFile);
  if (registry.auth !== undefined) {
    flags.push(`--${prefix}username`, registry.auth.username, `--${prefix}password`, registry.auth.password);
  }
  return flags;
}

/** cosign flags that let it talk plain HTTP to a loopback registry. */
export function cosignRegistryFlags(registry: RegistryAccess): string[] {
  return registry.tls ? [] : ['--allow-http-registry', '--allow-insecure-registry'];
}
