/**
 * Policy ConfigMaps → one PolicySet, keeping each ConfigMap's last good content.
 *
 * Pure: the watcher (policy-watch.ts) feeds it what its informers hold and
 * applies the result. A ConfigMap labelled `modelgate.dev/policy: "true"`
 * holds ModelPolicy and Config documents in its `*.yaml` / `*.yml` data keys.
 * Those in the webhook's namespace are cluster policies; those elsewhere
 * (when namespaced policies are on) apply to their own namespace only.
 *
 * Each ConfigMap is judged on its own change: when its new content does not
 * load together with everything else that is active, the change is refused
 * and its last good content stays active (none, if it never had any), while
 * the other ConfigMaps update normally.
 */
import { describeError } from '../core/errors.ts';
import { createHash } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { PolicyLoadError, formatProblem, policySetFromTexts } from '../policy/load.ts';
import type { PolicyProblem, PolicyText } from '../policy/load.ts';
import { CLUSTER_SCOPE } from '../policy/types.ts';
import type { PolicyScope, PolicySet } from '../policy/types.ts';

export const POLICY_LABEL = 'modelgate.dev/policy';
export const POLICY_LABEL_SELECTOR = `${POLICY_LABEL}=true`;

const YAML_KEY = /\.ya?ml$/i;

/** One policy ConfigMap's content, ready to load. */
export interface PolicyUnit {
  /** `<namespace>/<name>`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly scope: PolicyScope;
  /** The YAML data keys, in key order. */
  readonly texts: readonly PolicyText[];
  /** Problems found before loading (the ConfigMap cannot hold policies at all). */
  readonly problems: readonly PolicyProblem[];
  /** Hash of scope, texts and problems: equal fingerprints load alike. */
  readonly fingerprint: string;
}

export function configMapSource(namespace: string, name: string, key: string): string {
  return `configmap ${namespace}/${name} key ${key}`;
}

/**
 * The ConfigMap's YAML keys as policy texts. `webhookNamespace` decides the
 * scope: its ConfigMaps hold cluster policies, any other namespace's are
 * namespaced policies for that namespace.
 */
export function policyUnit(configMap: V1ConfigMap, webhookNamespace: string): PolicyUnit {
  const namespace = configMap.metadata?.namespace ?? webhookNamespace;
  const name = configMap.metadata?.name ?? '';
  const scope: PolicyScope = namespace === webhookNamespace ? CLUSTER_SCOPE : namespace;
  const data = configMap.data ?? {};
  const texts = Object.keys(data)
    .filter((key) => YAML_KEY.test(key))
    .sort()
    .map((key): PolicyText => ({ source: configMapSource(namespace, name, key), text: data[key] ?? '', scope }));
  const problems: PolicyProblem[] = [];
  if (namespace !== webhookNamespace && namespace === CLUSTER_SCOPE) {
    // `cluster` is the scope of cluster policies; a namespace of that name cannot be told apart.
    problems.push({
      source: `configmap ${namespace}/${name}`,
      document: 0,
      path: 'metadata.namespace',
      message: `namespaced policies cannot come from a namespace named "${CLUSTER_SCOPE}" (the name is reserved for cluster policies); put them in the webhook namespace ${webhookNamespace} or another namespace`,
    });
  }
  for (const key of Object.keys(configMap.binaryData ?? {})) {
    if (YAML_KEY.test(key))
      problems.push({
        source: configMapSource(namespace, name, key),
        document: 0,
        path: `binaryData.${key}`,
        message: 'policy documents must be in data, not binaryData',
      });
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ scope, texts: texts.map(({ source, text }) => [source, text]), problems }))
    .digest('hex');
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: configMap.metadata?.uid,
    resourceVersion: configMap.metadata?.resourceVersion,
    scope,
    texts,
    problems,
    fingerprint,
  };
}

export interface UnitRejection {
  readonly unit: PolicyUnit;
  readonly problems: readonly PolicyProblem[];
  /** `last-good`: the ConfigMap's previous content stays active; `none`: none of its policies are active. */
  readonly kept: 'last-good' | 'none';
}

export interface Composition {
  readonly policySet: PolicySet;
  /** What is active now, per ConfigMap key: the last good content for the next round. */
  readonly good: ReadonlyMap<string, PolicyUnit>;
  readonly rejections: readonly UnitRejection[];
}

type Attempt = { readonly ok: true; readonly policySet: PolicySet } | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

/** Cluster ConfigMaps first (they hold the Config), then by namespace and name. */
function unitOrder(a: PolicyUnit, b: PolicyUnit): number {
  const rank = (unit: PolicyUnit): number => (unit.scope === CLUSTER_SCOPE ? 0 : 1);
  return rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * Loads `desired` (what the informers hold now) into one PolicySet. A
 * ConfigMap whose content is unchanged since `previous` (the last round's
 * `good`) is kept; each changed one is added if everything still loads, and
 * otherwise falls back to its previous content. `check` may refuse a loaded
 * set by throwing PolicyLoadError (e.g. an unreadable dockerConfig).
 */
export function composePolicies(
  previous: ReadonlyMap<string, PolicyUnit>,
  desired: readonly PolicyUnit[],
  check?: (policySet: PolicySet) => void,
): Composition {
  const attempt = (units: readonly PolicyUnit[]): Attempt => {
    const early = units.flatMap((unit) => unit.problems);
    if (early.length > 0) return { ok: false, problems: early };
    try {
      const policySet = policySetFromTexts(units.flatMap((unit) => unit.texts));
      check?.(policySet);
      return { ok: true, policySet };
    } catch (error) {
      if (error instanceof PolicyLoadError) return { ok: false, problems: error.problems };
      return { ok: false, problems: [{ source: units.at(-1)?.key ?? '(policy)', document: 0, path: '', message: describeError(error) }] };
    }
  };
  const sorted = [...desired].sort(unitOrder);
  const unchanged = sorted.filter((unit) => previous.get(unit.key)?.fingerprint === unit.fingerprint);
  const changed = sorted.filter((unit) => previous.get(unit.key)?.fingerprint !== unit.fingerprint);
  const good: PolicyUnit[] = [];
  const rejections: UnitRejection[] = [];
  let current = attempt(unchanged);
  if (current.ok) {
    good.push(...unchanged);
  } else {
    // A deletion (or a change elsewhere) broke content that was fine, e.g. a
    // Config with the trusted root a policy names is gone: keep what still fits.
    current = attempt([]);
    for (const unit of unchanged) {
      const next = attempt([...good, unit]);
      if (next.ok) {
        good.push(unit);
        current = next;
      } else {
        rejections.push({ unit, problems: next.problems, kept: 'none' });
      }
    }
  }
  if (changed.length > 0) {
    const all = attempt([...good, ...changed]);
    if (all.ok) {
      good.push(...changed);
      current = all;
    } else {
      for (const unit of changed) {
        const next = attempt([...good, unit]);
        if (next.ok) {
          good.push(unit);
          current = next;
          continue;
        }
        const last = previous.get(unit.key);
        const fallback = last === undefined ? undefined : attempt([...good, last]);
        if (last !== undefined && fallback?.ok === true) {
          good.push(last);
          current = fallback;
          rejections.push({ unit, problems: next.problems, kept: 'last-good' });
        } else {
          rejections.push({ unit, problems: next.problems, kept: 'none' });
        }
      }
    }
  }
  if (!current.ok) throw new Error('the empty policy set did not load'); // cannot happen: no texts load to the built-in Config
  return { policySet: current.policySet, good: new Map(good.map((unit) => [unit.key, unit])), rejections };
}

/** The log/Event text of a rejection: which ConfigMap, what stays active, and every problem with key and field path. */
export function describeRejection(rejection: UnitRejection): string {
  const { unit } = rejection;
  const kept = rejection.kept === 'last-good' ? 'its last good content stays active' : 'none of its policies are active';
  return `ConfigMap ${unit.key} holds invalid policy; ${kept}:\n${rejection.problems.map(formatProblem).join('\n')}`;
}
