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
 *
 * With `publicGood` options (the webhook), the manager also keeps the public-good
 * trusted root refreshed through TUF (signature/public-good.ts): one per Config
 * `publicGood` setting, kept across revisions, started in the background once a
 * policy names public-good (no network before, and none when the Config makes it
 * offline or supplies its own public-good root).
 */
import type { Logger } from '../core/log.ts';
import type { PolicySet } from '../policy/types.ts';
import type { PublicGoodRoot, TrustedRootStatus } from '../signature/public-good.ts';
import { PUBLIC_GOOD } from '../signature/trust.ts';
import { createPublicGoodRoot } from '../signature/tuf-client.ts';
import { connectionKey, createEngine, needsRegistry } from './engine.ts';
import type { Engine, EngineOptions, RegistryAccess, RegistryBackedEngine } from './engine.ts';

/** Where the server finds the engine to judge a review with. */
export interface EngineSource {
  /** The active engine (policy set and registry access); undefined until a policy has loaded. */
  current(): Engine | undefined;
  /** The trusted roots whose freshness is tracked (public-good, when refreshed), for /readyz and metrics. */
  trustedRootStatus?(): readonly TrustedRootStatus[];
}

export interface EngineManagerOptions {
  /** Passed to createEngine (request hook, pull secret reader, offline). */
  readonly engine?: Omit<EngineOptions, 'registry'>;
  readonly logger?: Logger;
  /** How long a replaced registry client stays open; default: its Config's total deadline plus 1 s. */
  readonly retireAfterMs?: number;
  /** Keep public-good current through TUF, caching under `cacheDir` (undefined: a private temporary directory). */
  readonly publicGood?: { readonly cacheDir: string | undefined; readonly create?: typeof createPublicGoodRoot };
}

/** Whether a policy of the set names public-good in an authority that checks signatures. */
export function usesPublicGood(policySet: PolicySet): boolean {
  if (policySet.config.trustedRoots.some((root) => root.name === PUBLIC_GOOD)) return false;
  return policySet.policies.some((policy) =>
    [
      ...(policy.signatures?.authorities ?? []),
      ...(policy.modelSignature?.authorities ?? []),
      ...(policy.attestations?.requirements.flatMap((requirement) => requirement.authorities) ?? []),
    ].some((authority) => authority.kind !== 'static' && authority.trustedRoot === PUBLIC_GOOD),
  );
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
  #publicGood: { readonly key: string; readonly root: PublicGoodRoot } | undefined;
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
    const publicGood = this.#publicGoodRoot(policySet);
    const engine = createEngine(policySet, { ...this.#options.engine, publicGood, ...(reuse === undefined ? {} : { registry: reuse }) });
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
    if (publicGood !== undefined && usesPublicGood(policySet)) publicGood.start();
    this.#options.logger?.info({ revision: policySet.revision, registryAccess: access, needsRegistry: needsRegistry(policySet) }, 'engine ready');
    return engine;
  }

  trustedRootStatus(): readonly TrustedRootStatus[] {
    const engine = this.#engine;
    if (this.#publicGood === undefined || engine === undefined || !usesPublicGood(engine.policySet)) return [];
    return [this.#publicGood.root.status()];
  }

  /** The public-good root for the Config's settings: the one kept while they stay the same. */
  #publicGoodRoot(policySet: PolicySet): PublicGoodRoot | undefined {
    const options = this.#options.publicGood;
    if (options === undefined) return undefined;
    const settings = policySet.config.publicGood;
    const key = JSON.stringify(settings);
    if (this.#publicGood?.key === key) return this.#publicGood.root;
    void this.#publicGood?.root.close();
    const root = (options.create ?? createPublicGoodRoot)(settings, options.cacheDir, this.#options.logger);
    this.#publicGood = { key, root };
    return root;
  }

  /** Closes every registry client now: call after the server has answered its last review. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#publicGood?.root.close();
    this.#publicGood = undefined;
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
