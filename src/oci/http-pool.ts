/**
 * Keep-alive connection pools for the registry client: one undici Agent (a pool per origin)
 * per CA bundle, every connection resolved through the egress guard's `lookup`, so a name
 * that resolves to an internal address is refused where it is connected to.
 */
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import type { EgressGuard } from './egress.ts';
import type { RegistryEndpoints } from './endpoints.ts';
import type { TransportOptions } from './http-exchange.ts';

export type PoolOptions = Pick<TransportOptions, 'connectTimeoutMs' | 'keepAliveTimeoutMs' | 'connectionsPerOrigin'>;

export class AgentPool {
  readonly #endpoints: RegistryEndpoints;
  readonly #guard: EgressGuard;
  readonly #options: PoolOptions;
  readonly #agents = new Map<string, Agent>();
  #closed = false;

  constructor(endpoints: RegistryEndpoints, guard: EgressGuard, options: PoolOptions) {
    this.#endpoints = endpoints;
    this.#guard = guard;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The dispatcher for `url`: the Agent that trusts the CA configured for its host. */
  dispatcherFor(url: URL): Dispatcher {
    const ca = url.protocol === 'https:' ? this.#endpoints.caFor(url.host) : undefined;
    const key = ca ?? '';
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      const connect = { timeout: this.#options.connectTimeoutMs, lookup: this.#guard.lookup };
      agent = new Agent({
        connections: this.#options.connectionsPerOrigin,
        keepAliveTimeout: this.#options.keepAliveTimeoutMs,
        connect: ca === undefined ? connect : { ...connect, ca },
      });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }
}
