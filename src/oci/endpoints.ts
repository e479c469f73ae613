/**
 * Where a registry is served and how to connect to it: the API host (docker.io is served at
 * registry-1.docker.io), the scheme (plain HTTP only for the exact `host:port` configured
 * `insecure: true`), the CA bundle, and which hosts the Config lists at all (the only
 * ones modelgate connects to on internal addresses, see egress.ts).
 */

import type { RegistrySettings } from './settings.ts';

export const DOCKER_HUB = 'docker.io';
/** The host that serves Docker Hub's distribution API. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([DOCKER_HUB, 'index.docker.io', DOCKER_HUB_API_HOST]);

/** `host:port` → `host`; IPv6 `[::1]:5000` → `[::1]`. */
export function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close === -1 ? host : host.slice(0, close + 1);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

export class RegistryEndpoints {
  private readonly settings: ReadonlyMap<string, RegistrySettings>;
  /** Host names (without port, lower case, IPv6 in brackets) of every entry. */
  private readonly listedHosts: ReadonlySet<string>;

  constructor(settings: readonly RegistrySettings[] = []) {
    const byHost = new Map<string, RegistrySettings>();
    for (const entry of settings) {
      const host = entry.host.trim().toLowerCase();
      // The first entry for a host wins, as a later duplicate is most likely a mistake.
      if (!byHost.has(host)) byHost.set(host, entry);
    }
    this.settings = byHost;
    this.listedHosts = new Set([...byHost.keys()].map(hostWithoutPort));
  }

  /** Whether the Config lists `hostname` (any port): modelgate then connects to it even on an internal address. */
  isListedHost(hostname: string): boolean {
    const lower = hostname.toLowerCase();
    return this.listedHosts.has(lower) || (lower.includes(':') && !lower.startsWith('[') && this.listedHosts.has(`[${lower}]`));
  }

  /**
   * The settings for a host (`host` or `host:port`, as in an image reference or a URL):
   * an entry for exactly that host wins, else an entry without a port for the same host
   * name. Docker Hub's names (docker.io, index.docker.io, registry-1.docker.io) share settings.
   */
  settingsFor(host: string): RegistrySettings | undefined {
    const lower = host.toLowerCase();
    const exact = this.settings.get(lower);
    if (exact !== undefined) return exact;
    const bare = hostWithoutPort(lower);
    if (bare !== lower) {
      const portless = this.settings.get(bare);
      if (portless !== undefined) return portless;
    }
    if (DOCKER_HUB_ALIASES.has(lower)) {
      for (const alias of DOCKER_HUB_ALIASES) {
        const entry = this.settings.get(alias);
        if (entry !== undefined) return entry;
      }
    }
    return undefined;
  }

  /** Plain HTTP only for the exact host and port listed insecure: one listed port never opens the others. */
  isInsecure(host: string): boolean {
    return this.settings.get(host.toLowerCase())?.insecure === true;
  }

  caFor(host: string): string | undefined {
    return this.settingsFor(host)?.ca;
  }

  /** The host that serves the API of `registry`. */
  apiHost(registry: string): string {
    return DOCKER_HUB_ALIASES.has(registry.toLowerCase()) ? DOCKER_HUB_API_HOST : registry;
  }

  /** `https://host[:port]` (or `http://` for insecure hosts), the base of `/v2/…` URLs. */
  baseUrl(registry: string): URL {
    const scheme = this.isInsecure(registry) ? 'http' : 'https';
    return new URL(`${scheme}://${this.apiHost(registry)}`);
  }
}
