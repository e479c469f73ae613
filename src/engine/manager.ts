/**
 * The active engine, rebuilt for every new policy revision. The registry
 * client (connection pools, tokens), the artifact facts cache and the
 * signature cache are reused as long as the connection settings stay the
 * same (registries, credentials, timeouts, trusted roots, signature
 * discovery: see connectionKey), so a policy edit costs no cold cache. That
 * is safe because facts are cached by digest (content), verdicts are computed
 * on every review, and the signature cache key includes the authorities.
 *
 * When the settings change, the new engine gets a new client; the old one is
 * closed once the reviews that still hold the old engine are over (after its
 * Config's total registry deadline), never under them.
 */
import type { Logger } from '../core/log.ts';
import type { PolicySet } from '../policy/types.ts';
import { connectionKey, createEngine, needsRegistry } from './engine.ts';
import type { Engine, EngineOptions, RegistryAccess, RegistryBackedEngine } from './engine.ts';

/** Where the server finds the engine to judge a review with. */
export interface EngineSource {
  /** The active engine (policy set and registry access); undefined until a policy has loaded. */
  current(): Engine | undefined;
}

export interface EngineManagerOptions {
  /** Passed to createEngine (request hook, pull secret reader, offline). */
  readonly engine?: Omit<EngineOptions, 'registry'>;
  readonly logger?: Logger;
  /** How long a replaced registry client stays open; default: its Config's total deadline plus 1 s. */
  readonly retireAfterMs?: number;
}

interface SharedAccess {
  readonly key: string;
  readonly registry: RegistryAccess;
  readonly totalMs: number;
}

export class EngineManager implements EngineSource {
  readonly #options: EngineManagerOptions;
  #engine: RegistryBackedEngine | undefined;
  #shared: SharedAccess | undefined;
  readonly #retiring = new Map<NodeJS.Timeout, RegistryAccess>();
  #closed = false;

  constructor(options: EngineManagerOptions = {}) {
    this.#options = options;
  }

  current(): RegistryBackedEngine | undefined {
    return this.#engine;
  }

  /**
   * Makes `policySet` active. Throws (PolicyLoadError, e.g. an unreadable
   * dockerConfig) without changing the active engine when it cannot be built.
   */
  update(policySet: PolicySet): RegistryBackedEngine {
    if (this.#closed) throw new Error('the engine manager is closed');
    const key = connectionKey(policySet.config);
    const shared = this.#shared;
    const reuse = shared !== undefined && shared.key === key ? shared.registry : undefined;
    const engine = createEngine(policySet, { ...this.#options.engine, ...(reuse === undefined ? {} : { registry: reuse }) });
    let access: 'none' | 'reused' | 'new' = 'none';
    if (engine.registry !== undefined && engine.registry === reuse) {
      access = 'reused';
    } else if (engine.registry !== undefined) {
      access = 'new';
      if (shared !== undefined) this.#retire(shared);
      this.#shared = { key, registry: engine.registry, totalMs: policySet.config.timeouts.totalMs };
    } else if (shared !== undefined && shared.key !== key) {
      // Kept while the settings stay the same, for a later revision that needs the registry again.
      this.#retire(shared);
      this.#shared = undefined;
    }
    this.#engine = engine;
    this.#options.logger?.info({ revision: policySet.revision, registryAccess: access, needsRegistry: needsRegistry(policySet) }, 'engine ready');
    return engine;
  }

  /** Closes every registry client now: call after the server has answered its last review. */
  async close(): Promise<void> {
    this.#closed = true;
    const clients = [...this.#retiring.values()];
    for (const timer of this.#retiring.keys()) clearTimeout(timer);
    this.#retiring.clear();
    if (this.#shared !== undefined) clients.push(this.#shared.registry);
    this.#shared = undefined;
    await Promise.all(clients.map((registry) => registry.client.close().catch(() => undefined)));
  }

  #retire(shared: SharedAccess): void {
    const delay = this.#options.retireAfterMs ?? shared.totalMs + 1000;
    const timer = setTimeout(() => {
      this.#retiring.delete(timer);
      void shared.registry.client.close().catch(() => undefined);
    }, delay);
    timer.unref();
    this.#retiring.set(timer, shared.registry);
  }
}
