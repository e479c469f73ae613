/**
 * One ListWatch of policy ConfigMaps (list, then watch from the list's resourceVersion; on
 * 410 Gone it lists again), restarted with backoff after errors. Its timers (the retry and
 * ListWatch's re-watch delay) run on an injectable clock.
 */
import { ListWatch } from '@kubernetes/client-node';
import type { CoreV1Api, KubeConfig, V1ConfigMap, V1ConfigMapList } from '@kubernetes/client-node';
import type { TimerHandle, Timers } from '../core/timers.ts';
import { backoffDelay } from './backoff.ts';
import type { RetryOptions } from './backoff.ts';
import { POLICY_LABEL_SELECTOR } from './policy-configmaps.ts';
import { StoppableWatch } from './stoppable-watch.ts';

/** ListWatch waits before re-watching after a clean close; never longer than this, to stay within the 2 s bound. */
const MAX_REWATCH_DELAY_MS = 500;

export interface InformerOptions {
  readonly kubeConfig: KubeConfig;
  readonly api: CoreV1Api;
  /** Undefined: every namespace. */
  readonly namespace: string | undefined;
  readonly retry: RetryOptions;
  readonly timers: Timers;
  readonly onChange: () => void;
  /** A list after the first: the watch's resourceVersion had expired (410 Gone) or a list had failed. */
  readonly onRelist?: () => void;
  readonly onError: (error: unknown, retryInMs: number) => void;
}

export class ConfigMapInformer {
  readonly #informer: ListWatch<V1ConfigMap>;
  readonly #watch: StoppableWatch;
  readonly #options: InformerOptions;
  readonly #delays = new Set<TimerHandle>();
  #synced = false;
  #stopped = false;
  #failures = 0;
  #retry: TimerHandle | undefined;

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
      if (this.#synced) options.onRelist?.();
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
    const { timers } = this.#options;
    if (this.#retry !== undefined) timers.clearTimeout(this.#retry);
    this.#retry = undefined;
    // Pending re-watch delays never resolve: ListWatch then starts no new watch.
    for (const timer of this.#delays) timers.clearTimeout(timer);
    this.#delays.clear();
    this.#watch.stop();
    void this.#informer.stop();
  }

  #run(): void {
    this.#informer.start().catch((error: unknown) => this.#failed(error));
  }

  #failed(error: unknown): void {
    if (this.#stopped) return;
    const { timers } = this.#options;
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.#options.retry);
    this.#options.onError(error, delay);
    if (this.#retry !== undefined) timers.clearTimeout(this.#retry);
    this.#retry = timers.setTimeout(() => {
      this.#retry = undefined;
      // Watches again from the last resourceVersion; lists again if there is none or it is too old (410).
      if (!this.#stopped) this.#run();
    }, delay);
  }

  #delay(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#stopped) return;
      const timer = this.#options.timers.setTimeout(
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
