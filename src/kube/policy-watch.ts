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
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { realTimers } from '../core/timers.ts';
import type { TimerHandle, Timers } from '../core/timers.ts';
import { describeError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { PolicySet } from '../policy/types.ts';
import { DEFAULT_RETRY } from './backoff.ts';
import type { RetryOptions } from './backoff.ts';
import { WATCH_WORDING, describeKubeError } from './api-errors.ts';
import { ConfigMapInformer } from './configmap-informer.ts';
import { KubeEventRecorder } from './events.ts';
import type { EventRecorder } from './events.ts';
import { composePolicies, policyUnit } from './policy-configmaps.ts';
import type { PolicyUnit } from './policy-configmaps.ts';
import { RejectionReporter } from './rejection-report.ts';

/** What one policy reload did; `errors` are the new problems it found (for a reload-failure counter). */
export interface ReloadResult {
  readonly ok: boolean;
  /** The active revision after the reload (unchanged when a change was refused). */
  readonly revision: string | undefined;
  readonly errors: readonly string[];
}

/** Changes are applied this long after the last event, so a burst is one reload. */
export const DEFAULT_DEBOUNCE_MS = 50;

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
  /** The clock of the debounce, the retries and whenReady's limit; default: the process's timers. */
  readonly timers?: Timers;
}

export class PolicyWatcher {
  readonly #options: PolicyWatchOptions;
  readonly #api: CoreV1Api;
  readonly #timers: Timers;
  readonly #reporter: RejectionReporter;
  readonly #own: ConfigMapInformer;
  #all: ConfigMapInformer | undefined;
  #good: ReadonlyMap<string, PolicyUnit> = new Map();
  #policySet: PolicySet | undefined;
  /** Resolved with the first policy set published. */
  readonly #ready = Promise.withResolvers<PolicySet>();
  #timer: TimerHandle | undefined;
  #started = false;
  #stopped = false;

  constructor(options: PolicyWatchOptions) {
    this.#options = options;
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#timers = options.timers ?? realTimers;
    const events = options.events ?? new KubeEventRecorder(this.#api, (message) => options.logger.warn({ err: message }, 'Event not recorded'));
    this.#reporter = new RejectionReporter(options.logger, events);
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
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#own.stop();
    this.#all?.stop();
  }

  /** Resolves once a policy set is active (the informers have listed and it was published); rejects after `timeoutMs`. */
  async whenReady(timeoutMs: number): Promise<PolicySet> {
    if (this.#policySet !== undefined) return this.#policySet;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = this.#timers.setTimeout(() => reject(new Error(`no complete sync of the policy ConfigMaps within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.#ready.promise, timedOut]);
    } finally {
      if (timer !== undefined) this.#timers.clearTimeout(timer);
    }
  }

  #informer(namespace: string | undefined): ConfigMapInformer {
    const { logger } = this.#options;
    const where = namespace === undefined ? 'all namespaces' : `namespace ${namespace}`;
    return new ConfigMapInformer({
      kubeConfig: this.#options.kubeConfig,
      api: this.#api,
      namespace,
      retry: this.#options.retry ?? DEFAULT_RETRY,
      timers: this.#timers,
      onChange: () => this.#schedule(),
      onRelist: () => logger.info({ where }, 'policy ConfigMaps listed again (the watch could not resume where it stopped, e.g. 410 Gone)'),
      onError: (error, retryInMs) =>
        logger.warn({ err: describeKubeError(error, WATCH_WORDING), retryInMs, where }, 'watching policy ConfigMaps failed; retrying'),
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

  /** A reconcile after the debounce; events meanwhile join it. */
  #schedule(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => {
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
    const errors = this.#reporter.report(composition.rejections, this.#good);
    const { policySet } = composition;
    // The first policy set waits for every namespace's ConfigMaps too: they add requirements.
    if (this.#policySet === undefined && this.#all !== undefined && !this.#all.synced) return;

    const previous = this.#policySet?.revision;
    if (policySet.revision !== previous) {
      try {
        this.#options.onPolicySet(policySet);
      } catch (error) {
        const message = `policy revision ${policySet.revision} not applied: ${describeError(error)}`;
        logger.error({ err: message, revision: policySet.revision }, 'policy not applied; the previous one stays active');
        this.#options.onReload?.({ ok: false, revision: previous, errors: [...errors, message] });
        return;
      }
      this.#policySet = policySet;
      this.#ready.resolve(policySet);
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
}
