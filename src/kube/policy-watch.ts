/**
 * Policies from ConfigMaps labelled `modelgate.dev/policy: "true"`, followed
 * with @kubernetes/client-node informers (ListWatch: list, then watch from
 * the list's resourceVersion; on 410 Gone it lists again).
 *
 * - The webhook namespace's ConfigMaps hold cluster policies and the Config.
 * - With namespaced policies on (`--namespaced-policies`, or `namespacedPolicies:
 *   true` in the Config) a second informer follows every namespace's policy
 *   ConfigMaps; each applies only to its own namespace and only adds
 *   requirements (src/policy/load.ts scopePolicy, src/engine/evaluate.ts).
 * - A change is applied after a short debounce, well inside 2 seconds.
 * - A ConfigMap whose new content is invalid keeps its last good content (the
 *   others update normally); the problem is logged with ConfigMap, key and
 *   field path, recorded as a Warning Event (reason InvalidPolicy) on the
 *   ConfigMap, and reported through onReload.
 * - Nothing is published before the first complete list of every active
 *   informer: until then the EngineSource has no engine and /readyz fails.
 * - Errors (API down, 403 without RBAC) are retried with exponential backoff
 *   and jitter; the active policy stays as it is meanwhile.
 */
import { createHash } from 'node:crypto';
import { CoreV1Api, ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, V1ConfigMap, V1ConfigMapList } from '@kubernetes/client-node';
import type { Logger } from '../core/log.ts';
import { formatProblem } from '../policy/load.ts';
import type { PolicySet } from '../policy/types.ts';
import { KubeEventRecorder } from './events.ts';
import type { EventRecorder } from './events.ts';
import { POLICY_LABEL_SELECTOR, composePolicies, describeRejection, policyUnit } from './policy-configmaps.ts';
import type { PolicyUnit, UnitRejection } from './policy-configmaps.ts';

/** What one policy reload did; `errors` are the new problems it found (for a reload-failure counter). */
export interface ReloadResult {
  readonly ok: boolean;
  /** The active revision after the reload (unchanged when a change was refused). */
  readonly revision: string | undefined;
  readonly errors: readonly string[];
}

export const INVALID_POLICY_REASON = 'InvalidPolicy';

export interface RetryOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { initialMs: 500, maxMs: 30_000 };
/** Changes are applied this long after the last event, so a burst is one reload. */
export const DEFAULT_DEBOUNCE_MS = 50;
/** ListWatch waits before re-watching after a clean close; never longer than this, to stay within the 2 s bound. */
const MAX_REWATCH_DELAY_MS = 500;

export interface PolicyWatchOptions {
  readonly kubeConfig: KubeConfig;
  /** The webhook namespace: its ConfigMaps are the cluster policies. */
  readonly namespace: string;
  /** Watch every namespace's policy ConfigMaps, whatever the Config says. */
  readonly namespacedPolicies?: boolean;
  readonly logger: Logger;
  /** Called with each new active policy set (first after the first complete sync). Throwing refuses the set. */
  readonly onPolicySet: (policySet: PolicySet) => void;
  readonly onReload?: (result: ReloadResult) => void;
  /** Checks a candidate set beyond loading (e.g. that its dockerConfig is readable); throw PolicyLoadError to refuse it. */
  readonly check?: (policySet: PolicySet) => void;
  /** Default: Events through the API server. */
  readonly events?: EventRecorder;
  readonly debounceMs?: number;
  readonly retry?: RetryOptions;
}

/** Retry delay after `failures` consecutive failures: exponential with ±20% jitter. */
export function backoffDelay(failures: number, retry: RetryOptions = DEFAULT_RETRY, random: () => number = Math.random): number {
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Describes an API error without dumping response bodies into logs. */
export function describeKubeError(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown; statusCode?: unknown }).code ?? (error as { statusCode?: unknown }).statusCode;
    const message = error instanceof Error ? error.message.split('\n')[0] : undefined;
    if (typeof code === 'number') return `HTTP ${code}${code === 403 ? ' (forbidden: check the RBAC of the webhook ServiceAccount)' : ''}`;
    if (message !== undefined) return message;
  }
  return String(error);
}

/** A Watch whose open requests can all be aborted, including one that connects after stop(). */
class StoppableWatch extends Watch {
  readonly #open = new Set<AbortController>();
  #stopped = false;

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const [path, params, callback, done] = args;
    if (this.#stopped) {
      const idle = new AbortController();
      idle.abort();
      return idle;
    }
    let controller: AbortController | undefined;
    controller = await super.watch(path, params, callback, (error: unknown) => {
      if (controller !== undefined) this.#open.delete(controller);
      done(error);
    });
    if (this.#stopped) controller.abort();
    else this.#open.add(controller);
    return controller;
  }

  stop(): void {
    this.#stopped = true;
    for (const controller of this.#open) controller.abort();
    this.#open.clear();
  }
}

interface InformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly api: CoreV1Api;
  /** Undefined: every namespace. */
  readonly namespace: string | undefined;
  readonly retry: RetryOptions;
  readonly onChange: () => void;
  readonly onError: (error: unknown, retryInMs: number) => void;
}

/** One ListWatch of policy ConfigMaps, restarted with backoff after errors. */
class ConfigMapInformer {
  readonly #informer: ListWatch<V1ConfigMap>;
  readonly #watch: StoppableWatch;
  readonly #options: InformerOptions;
  readonly #delays = new Set<NodeJS.Timeout>();
  #synced = false;
  #stopped = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: InformerOptions) {
    this.#options = options;
    const { api, namespace } = options;
    const path = namespace === undefined ? '/api/v1/configmaps' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    const list = async (): Promise<V1ConfigMapList> => {
      const result =
        namespace === undefined
          ? await api.listConfigMapForAllNamespaces({ labelSelector: POLICY_LABEL_SELECTOR })
          : await api.listNamespacedConfigMap({ namespace, labelSelector: POLICY_LABEL_SELECTOR });
      // ListWatch would go on to watch: not after stop().
      if (this.#stopped) throw new Error('stopped');
      // ListWatch stores the items synchronously once this resolves; the
      // debounced reconcile that onChange schedules runs after that.
      this.#synced = true;
      this.#failures = 0;
      options.onChange();
      return result;
    };
    this.#watch = new StoppableWatch(options.kubeConfig);
    this.#informer = new ListWatch<V1ConfigMap>(path, this.#watch, list, false, POLICY_LABEL_SELECTOR, undefined, { delayFn: (ms) => this.#delay(ms) });
    const changed = (): void => {
      this.#failures = 0;
      options.onChange();
    };
    this.#informer.on('add', changed);
    this.#informer.on('update', changed);
    this.#informer.on('delete', changed);
    this.#informer.on('error', (error: unknown) => this.#failed(error));
  }

  /** True once a list has completed: the cache then holds every policy ConfigMap. */
  get synced(): boolean {
    return this.#synced;
  }

  list(): readonly V1ConfigMap[] {
    return this.#informer.list();
  }

  start(): void {
    this.#stopped = false;
    this.#run();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    // Pending re-watch delays never resolve: ListWatch then starts no new watch.
    for (const timer of this.#delays) clearTimeout(timer);
    this.#delays.clear();
    this.#watch.stop();
    void this.#informer.stop();
  }

  #run(): void {
    this.#informer.start().catch((error: unknown) => this.#failed(error));
  }

  #failed(error: unknown): void {
    if (this.#stopped) return;
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.#options.retry);
    this.#options.onError(error, delay);
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      // Watches again from the last resourceVersion; lists again if there is none or it is too old (410).
      if (!this.#stopped) this.#run();
    }, delay);
  }

  #delay(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#stopped) return;
      const timer = setTimeout(
        () => {
          this.#delays.delete(timer);
          resolve();
        },
        Math.min(ms, MAX_REWATCH_DELAY_MS),
      );
      this.#delays.add(timer);
    });
  }
}

const rejectionId = (rejection: UnitRejection): string =>
  createHash('sha256')
    .update(rejection.unit.fingerprint)
    .update(rejection.problems.map(formatProblem).join('\n'))
    .update(rejection.kept)
    .digest('hex')
    .slice(0, 24);

export class PolicyWatcher {
  readonly #options: PolicyWatchOptions;
  readonly #api: CoreV1Api;
  readonly #events: EventRecorder;
  readonly #own: ConfigMapInformer;
  #all: ConfigMapInformer | undefined;
  #good: ReadonlyMap<string, PolicyUnit> = new Map();
  /** Rejections already reported, per ConfigMap key. */
  readonly #reported = new Map<string, string>();
  #policySet: PolicySet | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;

  constructor(options: PolicyWatchOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#events = options.events ?? new KubeEventRecorder(this.#api, (message) => options.logger.warn({ err: message }, 'Event not recorded'));
    this.#own = this.#informer(options.namespace);
  }

  /** The active policy set; undefined until the first complete sync. */
  get policySet(): PolicySet | undefined {
    return this.#policySet;
  }

  get ready(): boolean {
    return this.#policySet !== undefined;
  }

  /** Whether every namespace's policy ConfigMaps are followed now. */
  get namespacedPolicies(): boolean {
    return this.#all !== undefined;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#own.start();
    if (this.#options.namespacedPolicies === true) this.#startAll();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#own.stop();
    this.#all?.stop();
  }

  /** Resolves once a policy set is active; rejects after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<PolicySet> {
    const deadline = Date.now() + timeoutMs;
    while (this.#policySet === undefined) {
      if (Date.now() > deadline) throw new Error(`no complete sync of the policy ConfigMaps within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.#policySet;
  }

  #informer(namespace: string | undefined): ConfigMapInformer {
    const { logger } = this.#options;
    const where = namespace === undefined ? 'all namespaces' : `namespace ${namespace}`;
    return new ConfigMapInformer({
      kubeConfig: this.#options.kubeConfig,
      api: this.#api,
      namespace,
      retry: this.#options.retry ?? DEFAULT_RETRY,
      onChange: () => this.#schedule(),
      onError: (error, retryInMs) => logger.warn({ err: describeKubeError(error), retryInMs, where }, 'watching policy ConfigMaps failed; retrying'),
    });
  }

  #startAll(): void {
    if (this.#all !== undefined || this.#stopped) return;
    this.#all = this.#informer(undefined);
    this.#all.start();
    this.#options.logger.info('following namespaced policy ConfigMaps in every namespace');
  }

  #stopAll(): void {
    if (this.#all === undefined) return;
    this.#all.stop();
    this.#all = undefined;
    this.#options.logger.info('no longer following namespaced policy ConfigMaps');
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#reconcile();
      } catch (error) {
        this.#options.logger.error({ err: error }, 'policy reconcile failed');
      }
    }, this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
  }

  #units(): PolicyUnit[] {
    const { namespace } = this.#options;
    const units = this.#own
      .list()
      .filter((configMap) => configMap.metadata?.namespace === namespace)
      .map((configMap) => policyUnit(configMap, namespace));
    for (const configMap of this.#all?.list() ?? []) {
      if (configMap.metadata?.namespace !== namespace) units.push(policyUnit(configMap, namespace));
    }
    return units;
  }

  #reconcile(): void {
    if (this.#stopped || !this.#own.synced) return;
    const { logger } = this.#options;
    let composition = composePolicies(this.#good, this.#units(), this.#options.check);
    const wanted = this.#options.namespacedPolicies === true || composition.policySet.config.namespacedPolicies;
    if (wanted) {
      this.#startAll();
    } else if (this.#all !== undefined) {
      // Turned off in the Config: drop the namespaced policies now, not on the next event.
      this.#stopAll();
      composition = composePolicies(composition.good, this.#units(), this.#options.check);
    }
    this.#good = composition.good;
    const errors = this.#report(composition.rejections);
    const { policySet } = composition;
    // The first policy set waits for every namespace's ConfigMaps too: they add requirements.
    if (this.#policySet === undefined && this.#all !== undefined && !this.#all.synced) return;

    const previous = this.#policySet?.revision;
    if (policySet.revision !== previous) {
      try {
        this.#options.onPolicySet(policySet);
      } catch (error) {
        const message = `policy revision ${policySet.revision} not applied: ${(error as Error).message}`;
        logger.error({ err: message, revision: policySet.revision }, 'policy not applied; the previous one stays active');
        this.#options.onReload?.({ ok: false, revision: previous, errors: [...errors, message] });
        return;
      }
      this.#policySet = policySet;
      logger.info(
        {
          revision: policySet.revision,
          previousRevision: previous,
          policies: policySet.policies.map((policy) => policy.name),
          configMaps: [...composition.good.keys()],
          defaultAction: policySet.config.defaultAction,
          namespacedPolicies: this.#all !== undefined,
        },
        previous === undefined ? 'policy loaded from ConfigMaps' : 'policy reloaded from ConfigMaps',
      );
      this.#options.onReload?.({ ok: errors.length === 0, revision: policySet.revision, errors });
    } else if (errors.length > 0) {
      this.#options.onReload?.({ ok: false, revision: previous, errors });
    }
  }

  /** Logs, records and returns the rejections not reported before; forgets those that are gone. */
  #report(rejections: readonly UnitRejection[]): string[] {
    const { logger } = this.#options;
    const errors: string[] = [];
    const current = new Set<string>();
    for (const rejection of rejections) {
      const { unit } = rejection;
      current.add(unit.key);
      const id = rejectionId(rejection);
      if (this.#reported.get(unit.key) === id) continue;
      this.#reported.set(unit.key, id);
      const message = describeRejection(rejection);
      errors.push(message);
      logger.error(
        {
          configMap: unit.key,
          resourceVersion: unit.resourceVersion,
          kept: rejection.kept,
          problems: rejection.problems.map((problem) => ({ source: problem.source, document: problem.document, path: problem.path, message: problem.message })),
        },
        `invalid policy in ConfigMap ${unit.key}: ${rejection.kept === 'last-good' ? 'keeping its last good content' : 'none of its policies are active'}`,
      );
      void this.#events.warning(
        { namespace: unit.namespace, name: unit.name, uid: unit.uid, resourceVersion: unit.resourceVersion },
        { reason: INVALID_POLICY_REASON, message, key: id },
      );
    }
    for (const key of [...this.#reported.keys()]) {
      if (current.has(key)) continue;
      this.#reported.delete(key);
      logger.info({ configMap: key }, this.#good.has(key) ? 'policy ConfigMap is valid again' : 'invalid policy ConfigMap is gone');
    }
    return errors;
  }
}
