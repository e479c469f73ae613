/**
 * Prometheus metrics (prom-client) in a registry of modelgate's own, never the
 * global one: reviews by decision and kind, findings by mode and rule, review
 * latency, registry requests by registry and status with their latency, cache
 * hits and misses, policy reloads and the active policy revision, how old the
 * trusted roots in use are (public-good, when refreshed through TUF), plus the
 * default process metrics.
 *
 * Every label takes values from a bounded set: kinds outside the known ones
 * become "other", registry hosts and rule names are capped (the overflow is
 * "other"; a rule label is one the registered check kinds declare), and
 * request paths (they hold digests) are never labels. A review
 * costs a few counter increments and one histogram observation.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SUPPORTED_KINDS } from '../admission/kinds.ts';
import type { CacheStats } from '../artifact/source.ts';
import { KNOWN_RULES } from '../engine/checks/registered.ts';
import type { Engine, RegistryBackedEngine } from '../engine/engine.ts';
import type { RequestEvent } from '../oci/http.ts';
import type { PolicyMode } from '../policy/types.ts';
import type { TrustedRootStatus } from '../signature/public-good.ts';

/** What the webhook answered: allow (no warnings), warn (allowed with warnings), deny, or error (not ready, internal error, malformed review). */
export type ReviewDecision = 'allow' | 'warn' | 'deny' | 'error';

/** The parts of a Finding that become labels. */
export interface FindingLabels {
  readonly mode: PolicyMode;
  readonly rule: string;
}

/** Hit and miss counters of the caches; read at scrape time. */
export interface CacheSources {
  readonly artifacts?: { readonly stats: Readonly<CacheStats> } | undefined;
  readonly signatures?: { readonly stats: Readonly<{ hits: number; misses: number }> } | undefined;
}

export interface MetricsOptions {
  /** Default process and Node.js metrics (process_*, nodejs_*); default true. */
  readonly defaultMetrics?: boolean;
  /** Distinct registry label values before the rest become "other" (default 32). */
  readonly maxRegistries?: number;
  /** Distinct rule label values before the rest become "other" (default 64). */
  readonly maxRules?: number;
}

/** Sub-millisecond (a pod without image volumes) to seconds (registry and signature work). */
export const REVIEW_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const REGISTRY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const OTHER = 'other';
const KNOWN_KINDS: ReadonlySet<string> = new Set(SUPPORTED_KINDS.map((kind) => kind.slice(kind.indexOf('/') + 1)));

/** Label values of a bounded set: the first `max` distinct values pass, later new ones become "other". */
class BoundedLabel {
  readonly #seen = new Set<string>();
  readonly #max: number;
  readonly #valid: (value: string) => boolean;

  constructor(max: number, valid: (value: string) => boolean = () => true) {
    this.#max = max;
    this.#valid = valid;
  }

  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max || !this.#valid(value)) return OTHER;
    this.#seen.add(value);
    return value;
  }
}

type CacheResult = 'hit' | 'miss' | 'shared';

/** The caches of an engine built by createEngine, for attachCaches. */
export function engineCaches(engine: Engine | undefined): CacheSources | undefined {
  if (engine === undefined) return undefined;
  const backed = engine as Partial<RegistryBackedEngine>;
  return { artifacts: backed.cache, signatures: backed.signatureCache };
}

export class Metrics {
  readonly registry: Registry;
  readonly #reviews: Counter<'decision' | 'kind'>;
  readonly #findings: Counter<'mode' | 'rule'>;
  readonly #reviewDuration: Histogram;
  readonly #registryRequests: Counter<'registry' | 'status'>;
  readonly #registryDuration: Histogram<'registry'>;
  readonly #cacheRequests: Counter<'cache' | 'result'>;
  readonly #policyReloads: Counter<'result'>;
  readonly #policyInfo: Gauge<'revision'>;
  readonly #rootAge: Gauge<'root' | 'source'>;
  readonly #rootFailures: Gauge<'root'>;
  #trustedRoots: (() => readonly TrustedRootStatus[]) | undefined;
  readonly #registries: BoundedLabel;
  readonly #rules: BoundedLabel;
  #caches: (() => CacheSources | undefined) | undefined;
  /** Last counts read per stats object, so an engine swap (new caches from zero) never makes the counter go back. */
  readonly #lastSeen = new WeakMap<object, Record<CacheResult, number>>();

  constructor(options: MetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    this.#registries = new BoundedLabel(options.maxRegistries ?? 32);
    // Rule labels are the rules the check kinds (and the built-in rules) declare; anything else is "other".
    this.#rules = new BoundedLabel(options.maxRules ?? 64, (rule) => KNOWN_RULES.has(rule));
    this.#reviews = new Counter({
      name: 'modelgate_reviews_total',
      help: 'AdmissionReviews answered, by decision (allow, warn, deny, error) and object kind (other for kinds without a pod spec).',
      labelNames: ['decision', 'kind'],
      registers,
    });
    this.#findings = new Counter({
      name: 'modelgate_findings_total',
      help: 'Failed rules in answered reviews, by policy mode (enforce, warn, audit) and rule.',
      labelNames: ['mode', 'rule'],
      registers,
    });
    this.#reviewDuration = new Histogram({
      name: 'modelgate_review_duration_seconds',
      help: 'Time to evaluate and answer one AdmissionReview, from parsed request to response.',
      buckets: [...REVIEW_BUCKETS],
      registers,
    });
    this.#registryRequests = new Counter({
      name: 'modelgate_registry_requests_total',
      help: 'HTTP exchanges with OCI registries (every attempt, redirect and token request), by registry and status (error when no answer came).',
      labelNames: ['registry', 'status'],
      registers,
    });
    this.#registryDuration = new Histogram({
      name: 'modelgate_registry_request_duration_seconds',
      help: 'Duration of one HTTP exchange with an OCI registry, by registry.',
      labelNames: ['registry'],
      buckets: [...REGISTRY_BUCKETS],
      registers,
    });
    this.#cacheRequests = new Counter({
      name: 'modelgate_cache_requests_total',
      help: 'Lookups in the artifact facts and signature caches, by cache and result (hit, miss; shared: a miss that joined a fetch under way).',
      labelNames: ['cache', 'result'],
      registers,
      collect: () => this.#collectCaches(),
    });
    this.#policyReloads = new Counter({
      name: 'modelgate_policy_reloads_total',
      help: 'Policy reloads after a change, by result (success, error: the previous policy stays active).',
      labelNames: ['result'],
      registers,
    });
    this.#policyInfo = new Gauge({
      name: 'modelgate_policy_info',
      help: 'The active policy revision (value 1).',
      labelNames: ['revision'],
      registers,
    });
    // Label values: the root names modelgate refreshes (public-good) and four sources: bounded.
    this.#rootAge = new Gauge({
      name: 'modelgate_trusted_root_age_seconds',
      help: 'How old the trusted root in use is: seconds since a TUF refresh last confirmed it (source tuf or cache), or since the newest validity start in it (source embedded: at least that old).',
      labelNames: ['root', 'source'],
      registers,
      collect: () => this.#collectTrustedRoots(),
    });
    this.#rootFailures = new Gauge({
      name: 'modelgate_trusted_root_refresh_failures',
      help: 'Failed TUF refreshes of a trusted root since its last good one (0 when the last refresh worked).',
      labelNames: ['root'],
      registers,
    });
    for (const result of ['success', 'error']) this.#policyReloads.inc({ result }, 0);
    for (const decision of ['allow', 'warn', 'deny', 'error'] as const) this.#reviews.inc({ decision, kind: 'Pod' }, 0);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  /** One answered review. `kind` is request.kind.kind; `seconds` from the parsed request to the response. */
  observeReview(decision: ReviewDecision, kind: string, seconds: number, findings: readonly FindingLabels[] = []): void {
    this.#reviews.inc({ decision, kind: KNOWN_KINDS.has(kind) ? kind : OTHER });
    this.#reviewDuration.observe(seconds);
    for (const finding of findings) this.#findings.inc({ mode: finding.mode, rule: this.#rules.of(finding.rule) });
  }

  /** The RegistryClient's onRequest hook. The path is deliberately not a label: it holds digests. */
  observeRegistryRequest(event: RequestEvent): void {
    const registry = this.#registries.of(event.registry);
    this.#registryRequests.inc({ registry, status: event.status === 0 ? 'error' : String(event.status) });
    this.#registryDuration.observe({ registry }, event.durationMs / 1000);
  }

  /**
   * A policy reload finished. `revision` is the active revision after it (the
   * watchers' ReloadResult.revision): the previous one when a change was
   * refused, a new one when it applied, even partly (some ConfigMaps refused).
   */
  policyReload(ok: boolean, revision?: string): void {
    this.#policyReloads.inc({ result: ok ? 'success' : 'error' });
    if (revision !== undefined) this.setPolicyRevision(revision);
  }

  /** The active policy revision (also for the initial load, which is not a reload). */
  setPolicyRevision(revision: string): void {
    this.#policyInfo.reset();
    this.#policyInfo.set({ revision }, 1);
  }

  /** Where to read cache statistics at scrape time: called on every scrape, so it may return the current engine's caches. */
  attachCaches(getter: () => CacheSources | undefined): void {
    this.#caches = getter;
  }

  /** Where to read the refreshed trusted roots' status at scrape time. */
  attachTrustedRoots(getter: () => readonly TrustedRootStatus[]): void {
    this.#trustedRoots = getter;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  #collectTrustedRoots(): void {
    this.#rootAge.reset();
    this.#rootFailures.reset();
    const now = Date.now();
    for (const status of this.#trustedRoots?.() ?? []) {
      if (status.asOf !== undefined) this.#rootAge.set({ root: status.name, source: status.source }, Math.max(0, (now - status.asOf) / 1000));
      this.#rootFailures.set({ root: status.name }, status.failures);
    }
  }

  #collectCaches(): void {
    const counter = this.#cacheRequests;
    const sources = this.#caches?.();
    const add = (cache: string, stats: object | undefined, counts: Partial<Record<CacheResult, number>>): void => {
      const last = stats === undefined ? undefined : this.#lastSeen.get(stats);
      const seen: Record<CacheResult, number> = { hit: 0, miss: 0, shared: 0 };
      for (const result of ['hit', 'miss', 'shared'] as const) {
        const count = counts[result];
        if (count === undefined) continue;
        seen[result] = count;
        // inc by 0 still creates the series, so dashboards see zeros rather than nothing.
        counter.inc({ cache, result }, Math.max(0, count - (last?.[result] ?? 0)));
      }
      if (stats !== undefined) this.#lastSeen.set(stats, seen);
    };
    const artifacts = sources?.artifacts?.stats;
    const signatures = sources?.signatures?.stats;
    add(
      'artifacts',
      artifacts,
      artifacts === undefined ? { hit: 0, miss: 0, shared: 0 } : { hit: artifacts.hits, miss: artifacts.misses, shared: artifacts.shared },
    );
    add('signatures', signatures, signatures === undefined ? { hit: 0, miss: 0 } : { hit: signatures.hits, miss: signatures.misses });
  }
}
