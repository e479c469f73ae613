/**
 * Where the registry client may connect. The registry host comes from the
 * admitted object, and redirects and token realms from registry answers, so
 * none of them may steer modelgate onto the cluster's internal network:
 * loopback, link-local (cloud metadata), private, shared and reserved
 * addresses are refused unless the Config lists the host in `registries`.
 * Names are checked where they are resolved, at connect time (the `lookup`
 * hook), so a name that resolves to an internal address after it was judged
 * (DNS rebinding) is refused too; address literals are checked before.
 */
import { ModelgateError } from '../core/errors.ts';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { RegistryEndpoints } from './endpoints.ts';

const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(network, prefix, 'ipv6');
}

/** An IPv4 address embedded in an IPv6 one (`::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), else undefined. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const match = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(lower);
  if (match === null) return undefined;
  if (match[1] !== undefined) return match[1];
  const high = Number.parseInt(match[2] ?? '0', 16);
  const low = Number.parseInt(match[3] ?? '0', 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** Whether an IP address is one modelgate never connects to unless the host is listed. */
export function isInternalAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 4) return INTERNAL.check(bare, 'ipv4');
  if (family !== 6) return false;
  const v4 = embeddedIpv4(bare);
  if (v4 !== undefined) return INTERNAL.check(v4, 'ipv4');
  return INTERNAL.check(bare, 'ipv6');
}

/** The error a refused connection fails with; the HTTP layer maps it to EGRESS_DENIED. */
export class EgressDeniedError extends ModelgateError<'INTERNAL_ADDRESS'> {
  static readonly codes = { INTERNAL_ADDRESS: {} } as const;
  override readonly name = 'EgressDeniedError';
  readonly host: string;
  constructor(host: string, address: string) {
    super(
      EgressDeniedError.codes,
      'INTERNAL_ADDRESS',
      address === host ? `${host} is an internal address` : `${host} resolved to the internal address ${address}`,
    );
    this.host = host;
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup with `all: true`, as the guard calls it (a test can stand in for DNS). */
export type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export class EgressGuard {
  readonly #endpoints: RegistryEndpoints;
  readonly #resolve: Resolver;

  constructor(endpoints: RegistryEndpoints, resolve: Resolver = dnsLookup) {
    this.#endpoints = endpoints;
    this.#resolve = resolve;
  }

  /** The reason a connection to `hostname` is refused before any lookup (an internal address literal, `localhost`), or undefined. */
  refusal(hostname: string): EgressDeniedError | undefined {
    const host = hostname.toLowerCase();
    if (this.#endpoints.isListedHost(host)) return undefined;
    if (host === 'localhost' || host.endsWith('.localhost')) return new EgressDeniedError(host, host);
    return isInternalAddress(host) ? new EgressDeniedError(host, host) : undefined;
  }

  /** A `lookup` for net/tls connect: resolves as usual, and refuses internal addresses of hosts the Config does not list. */
  readonly lookup = (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    const early = this.refusal(hostname);
    if (early !== undefined) {
      callback(early as NodeJS.ErrnoException, '');
      return;
    }
    this.#resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error !== null) {
        callback(error, '');
        return;
      }
      if (!this.#endpoints.isListedHost(hostname.toLowerCase())) {
        // Every address, not only the first: the connection may try any of them.
        const internal = addresses.find((entry) => isInternalAddress(entry.address));
        if (internal !== undefined) {
          callback(new EgressDeniedError(hostname, internal.address) as NodeJS.ErrnoException, '');
          return;
        }
      }
      if (options.all === true) callback(null, addresses);
      else {
        const first = addresses[0];
        if (first === undefined) callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        else callback(null, first.address, first.family);
      }
    });
  };
}
