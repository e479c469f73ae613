/**
 * Kubernetes Events about policy ConfigMaps (reason InvalidPolicy, type
 * Warning), so that `kubectl describe configmap` shows why a change did not
 * take effect. Only the policy watcher records Events; nothing in the
 * admission path does (dry-run reviews must have no side effects).
 *
 * An Event's name is derived from the ConfigMap and the problem, so replicas
 * (and restarts) reporting the same problem share one Event: the first
 * creates it, later reports only move its lastTimestamp (create, then merge
 * patch on 409 AlreadyExists).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { describeKubeError } from './api-errors.ts';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';

export interface EventTarget {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
}

export interface PolicyEvent {
  readonly reason: string;
  readonly message: string;
  /** Identifies the problem: equal keys on one object are one Event. */
  readonly key: string;
}

export interface EventRecorder {
  /** Records a Warning Event on a ConfigMap; never throws (failures go to onError). */
  warning(target: EventTarget, event: PolicyEvent): Promise<void>;
}

export const EVENT_COMPONENT = 'modelgate';
/** Kubernetes shortens long notes; keep the message well inside every limit. */
export const MAX_EVENT_MESSAGE = 1024;

export function eventName(target: EventTarget, key: string): string {
  const hash = createHash('sha256')
    .update(`${target.uid ?? ''}\n${target.name}\n${key}`)
    .digest('hex')
    .slice(0, 16);
  return `${target.name.slice(0, 200)}.${hash}`;
}

export function truncateMessage(message: string, max = MAX_EVENT_MESSAGE): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}

/** The core/v1 Event for a ConfigMap problem. */
export function configMapEvent(target: EventTarget, event: PolicyEvent, now: Date, instance: string): CoreV1Event {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: eventName(target, event.key), namespace: target.namespace },
    involvedObject: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: target.namespace,
      name: target.name,
      ...(target.uid === undefined ? {} : { uid: target.uid }),
      ...(target.resourceVersion === undefined ? {} : { resourceVersion: target.resourceVersion }),
    },
    reason: event.reason,
    message: truncateMessage(event.message),
    type: 'Warning',
    source: { component: EVENT_COMPONENT, host: instance },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

export class KubeEventRecorder implements EventRecorder {
  readonly #api: CoreV1Api;
  readonly #onError: (message: string) => void;
  readonly #instance: string;

  constructor(api: CoreV1Api, onError: (message: string) => void = () => undefined, instance: string = hostname()) {
    this.#api = api;
    this.#onError = onError;
    this.#instance = instance;
  }

  async warning(target: EventTarget, event: PolicyEvent): Promise<void> {
    const body = configMapEvent(target, event, new Date(), this.#instance);
    const name = body.metadata?.name ?? '';
    try {
      await this.#api.createNamespacedEvent({ namespace: target.namespace, body });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409)) {
        this.#onError(`cannot record Event ${target.namespace}/${name}: ${describeKubeError(error)}`);
        return;
      }
      try {
        await this.#api.patchNamespacedEvent(
          { namespace: target.namespace, name, body: { lastTimestamp: new Date().toISOString(), message: body.message } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } catch (patchError) {
        this.#onError(`cannot update Event ${target.namespace}/${name}: ${describeKubeError(patchError)}`);
      }
    }
  }
}
