/**
 * `modelgate audit` (also `kubectl modelgate audit`): the admission engine over
 * what already runs in a cluster. Lists Pods and every workload kind that
 * carries a pod template, judges each exactly as a CREATE would be judged, and
 * prints the same table or JSON as `check`.
 *
 * Objects a controller made from its owner's template (a ReplicaSet of a
 * Deployment, the Pods of a ReplicaSet or Job, the Jobs of a CronJob) are
 * reported once, at the top-level owner, as long as their image-volume
 * references equal the owner's; one whose references differ (an old
 * ReplicaSet still running a previous template) is reported on its own.
 * `--all-objects` reports every object.
 *
 * Policy: the files given with --policy, else the ConfigMaps labelled
 * modelgate.dev/policy=true in --policy-namespace (default modelgate), read
 * once — what the webhook in that cluster enforces.
 */
import { parseArgs } from 'node:util';
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import type { KubeObject } from '../admission/objects.ts';
import { extractModelReferences } from '../admission/extract.ts';
import { groupOf, workloadKind } from '../admission/kinds.ts';
import { createEngine } from '../engine/engine.ts';
import { coreApi } from '../kube/client.ts';
import { POLICY_LABEL_SELECTOR, policyUnit } from '../kube/policy-configmaps.ts';
import { KubePullSecretReader } from '../kube/pull-secrets.ts';
import { PolicyLoadError, loadPolicySet, policySetFromTexts, readPolicyTexts } from '../policy/load.ts';
import { CLUSTER_SCOPE } from '../policy/types.ts';
import type { PolicySet } from '../policy/types.ts';
import { isPlainObject } from '../policy/schema.ts';
import { contextNamespace, listPolicyConfigMaps, listWorkloads, loadClusterConfig } from './cluster.ts';
import { evaluateObjects, outputFormat, printJson, printTable } from './report.ts';
import type { CheckRow, CommandIO, ObjectResult, RowVerdict } from './report.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

export const DEFAULT_POLICY_NAMESPACE = 'modelgate';
/** Objects judged at once; registry facts are cached and shared, so this only bounds waiting. */
const CONCURRENCY = 8;

export interface AuditRow extends CheckRow {
  /** The controller owner, for an object reported on its own although it has one. */
  readonly owner?: string;
  /** Objects reported at this one: made from its template, with the same references. */
  readonly covers?: readonly string[];
}

export interface AuditReport {
  readonly allowed: boolean;
  readonly policyRevision: string;
  /** Where the policy came from: the files, or the ConfigMaps read. */
  readonly policySources: readonly string[];
  /** `all namespaces` or `namespace NAME`. */
  readonly scope: string;
  /** Objects listed from the cluster. */
  readonly listed: number;
  /** Objects reported (listed minus those folded into their owner). */
  readonly objects: number;
  readonly summary: Readonly<Record<RowVerdict | 'none', number>>;
  readonly rows: readonly AuditRow[];
  readonly denials: readonly string[];
}

// ---- owners ---------------------------------------------------------------------

interface Listed {
  readonly object: KubeObject;
  readonly uid: string | undefined;
  readonly label: string;
  /** The controller owner's uid, when it has one. */
  readonly ownerUid: string | undefined;
  readonly ownerLabel: string | undefined;
  /** The image-volume references, `volume=reference` in volume order; equal for a template and what was made from it. */
  readonly references: string;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function describe(object: KubeObject): string {
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  const namespace = str(metadata['namespace']);
  return `${str(object['kind']) ?? '?'} ${namespace === undefined ? '' : `${namespace}/`}${str(metadata['name']) ?? '(unnamed)'}`;
}

function listed(object: KubeObject): Listed {
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  const owners = Array.isArray(metadata['ownerReferences']) ? metadata['ownerReferences'] : [];
  const controller: unknown = owners.find((owner: unknown) => isPlainObject(owner) && owner['controller'] === true);
  const owner = isPlainObject(controller) ? controller : undefined;
  const kind = workloadKind(groupOf(str(object['apiVersion']) ?? ''), str(object['kind']) ?? '');
  const sites = kind === undefined ? [] : extractModelReferences(object, kind);
  return {
    object,
    uid: str(metadata['uid']),
    label: describe(object),
    ownerUid: owner === undefined ? undefined : str(owner['uid']),
    ownerLabel: owner === undefined ? undefined : `${str(owner['kind']) ?? '?'} ${str(owner['name']) ?? '?'}`,
    references: JSON.stringify(sites.map((site) => [site.volume, site.reference])),
  };
}

export interface FoldedObject {
  readonly object: KubeObject;
  readonly owner: string | undefined;
  readonly covers: readonly string[];
}

/**
 * Which objects to report: each object whose controller owner was listed too
 * and has the same references is folded into that owner (up to the top-level
 * one); with `all`, every object is reported.
 */
export function foldIntoOwners(objects: readonly KubeObject[], all: boolean): FoldedObject[] {
  const entries = objects.map(listed);
  const byUid = new Map<string, Listed>();
  for (const entry of entries) if (entry.uid !== undefined) byUid.set(entry.uid, entry);
  const parentOf = (entry: Listed): Listed | undefined => {
    const parent = entry.ownerUid === undefined ? undefined : byUid.get(entry.ownerUid);
    return parent !== undefined && parent !== entry && parent.references === entry.references ? parent : undefined;
  };
  const topOf = (entry: Listed): Listed => {
    let current = entry;
    // Owner chains are short (CronJob → Job → Pod); the bound guards against a cycle in odd data.
    for (let depth = 0; depth < 8; depth++) {
      const parent = parentOf(current);
      if (parent === undefined) break;
      current = parent;
    }
    return current;
  };
  const covers = new Map<Listed, string[]>();
  const reported: Listed[] = [];
  for (const entry of entries) {
    const top = all ? entry : topOf(entry);
    if (top === entry) reported.push(entry);
    else covers.set(top, [...(covers.get(top) ?? []), entry.label]);
  }
  return reported.map((entry) => ({
    object: entry.object,
    // A reported object still names its controller when it has one (folded away or not listed).
    owner: entry.ownerLabel,
    covers: covers.get(entry) ?? [],
  }));
}

// ---- policy -------------------------------------------------------------------------

interface LoadedPolicy {
  readonly policySet: PolicySet;
  readonly sources: readonly string[];
}

/**
 * The policy the webhook builds from its ConfigMaps (policyUnit, as the
 * watcher reads them): the labelled ConfigMaps of the webhook namespace, and
 * with namespaced policies those of every namespace, each confined to its
 * own. Unlike the webhook, which keeps serving without an invalid ConfigMap,
 * audit refuses to run on a partial policy: every problem is an error.
 */
async function clusterPolicy(config: KubeConfig, policyNamespace: string, configPath: string | undefined, namespacedFlag: boolean): Promise<LoadedPolicy> {
  const extra = configPath === undefined ? [] : await readPolicyTexts([configPath]);
  const load = (maps: readonly V1ConfigMap[]): LoadedPolicy => {
    const units = maps.map((map) => policyUnit(map, policyNamespace)).filter((unit) => unit.texts.length > 0 || unit.problems.length > 0);
    const problems = units.flatMap((unit) => unit.problems);
    if (problems.length > 0) throw new PolicyLoadError(problems);
    // Cluster ConfigMaps first (they hold the Config), then namespaced ones by namespace and name, as the watcher orders them.
    const ordered = [...units.filter((unit) => unit.scope === CLUSTER_SCOPE), ...units.filter((unit) => unit.scope !== CLUSTER_SCOPE)];
    return {
      policySet: policySetFromTexts([...ordered.flatMap((unit) => unit.texts), ...extra]),
      sources: ordered.map((unit) => `ConfigMap ${unit.key}${unit.scope === CLUSTER_SCOPE ? '' : ' (namespaced)'}`),
    };
  };
  const maps = await listPolicyConfigMaps(config, policyNamespace);
  const loaded = load(maps);
  if (loaded.sources.length === 0) {
    const found = maps.length === 0 ? 'none' : `${maps.map((map) => map.metadata?.name ?? '?').join(', ')}, none with a .yaml or .yml key`;
    throw new PolicyLoadError([
      {
        source: `namespace ${policyNamespace}`,
        document: 0,
        path: '',
        message: `no policy ConfigMaps labelled ${POLICY_LABEL_SELECTOR} (found: ${found}); pass --policy-namespace NAMESPACE or --policy FILE`,
      },
    ]);
  }
  if (!namespacedFlag && !loaded.policySet.config.namespacedPolicies) return loaded;
  return load(await listPolicyConfigMaps(config, undefined));
}

// ---- the command ----------------------------------------------------------------------

export async function runAudit(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A', default: false },
      policy: { type: 'string', multiple: true },
      config: { type: 'string' },
      'policy-namespace': { type: 'string', default: DEFAULT_POLICY_NAMESPACE },
      'namespaced-policies': { type: 'boolean', default: false },
      context: { type: 'string' },
      kubeconfig: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      'all-objects': { type: 'boolean', default: false },
      offline: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`audit takes no arguments, got ${JSON.stringify(positionals.join(' '))} (objects come from the cluster; use -n NAMESPACE or -A)`);
  if (values.namespace !== undefined && values['all-namespaces'] === true) throw new UsageError('use either -n NAMESPACE or -A, not both');
  const output = outputFormat(values.output, ['table', 'json']);
  const policyNamespace = values['policy-namespace'] ?? DEFAULT_POLICY_NAMESPACE;

  const kubeConfig = loadClusterConfig({ kubeconfig: values.kubeconfig, context: values.context });
  const namespace = values['all-namespaces'] === true ? undefined : (values.namespace ?? contextNamespace(kubeConfig));
  const scope = namespace === undefined ? 'all namespaces' : `namespace ${namespace}`;

  const policyPaths = values.policy ?? [];
  const { policySet, sources } =
    policyPaths.length > 0
      ? { policySet: await loadPolicySet(policyPaths, values.config), sources: [...policyPaths, ...(values.config === undefined ? [] : [values.config])] }
      : await clusterPolicy(kubeConfig, policyNamespace, values.config, values['namespaced-policies'] === true);

  const pullSecrets = policySet.config.credentials.pullSecrets ? new KubePullSecretReader(coreApi(kubeConfig), (message) => io.stderr(`modelgate: warning: ${message}\n`)) : undefined;
  const engine = createEngine(policySet, { offline: values.offline === true, ...(pullSecrets === undefined ? {} : { pullSecrets }) });

  try {
    const objects = sortObjects(await listWorkloads(kubeConfig, namespace));
    const folded = foldIntoOwners(objects, values['all-objects'] === true);
    const results = await evaluateObjects(
      folded.map((entry) => entry.object),
      engine,
      CONCURRENCY,
    );
    const report = auditReport(results, folded, { policyRevision: policySet.revision, policySources: sources, scope, listed: objects.length });
    if (output === 'json') {
      printJson(io, report);
    } else {
      printTable(io, report.rows, report.objects, report.denials);
      io.stderr(`\n${summaryLine(report, values['all-objects'] === true)}\n`);
    }
    return report.allowed ? EXIT_OK : EXIT_DENIED;
  } finally {
    await engine.client?.close();
  }
}

const KIND_ORDER = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'ReplicationController', 'PodTemplate', 'Pod'];

/** Namespace, then kind (owners before what they own), then name: a stable order for people and tests. */
function sortObjects(objects: readonly KubeObject[]): KubeObject[] {
  const key = (object: KubeObject): [string, number, string] => {
    const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
    return [str(metadata['namespace']) ?? '', KIND_ORDER.indexOf(str(object['kind']) ?? ''), str(metadata['name']) ?? ''];
  };
  return [...objects].sort((a, b) => {
    const [na, ka, ma] = key(a);
    const [nb, kb, mb] = key(b);
    return na.localeCompare(nb) || ka - kb || ma.localeCompare(mb);
  });
}

const SEVERITY: readonly RowVerdict[] = ['allow', 'audit', 'warn', 'deny'];

/** The object's verdict: its worst row's. */
function worstVerdict(rows: readonly CheckRow[]): RowVerdict {
  return rows.reduce<RowVerdict>((worst, row) => (SEVERITY.indexOf(row.verdict) > SEVERITY.indexOf(worst) ? row.verdict : worst), 'allow');
}

export function auditReport(
  results: readonly ObjectResult[],
  folded: readonly FoldedObject[],
  context: { readonly policyRevision: string; readonly policySources: readonly string[]; readonly scope: string; readonly listed: number },
): AuditReport {
  const summary: Record<RowVerdict | 'none', number> = { allow: 0, warn: 0, audit: 0, deny: 0, none: 0 };
  const rows: AuditRow[] = [];
  const denials: string[] = [];
  results.forEach((result, index) => {
    const entry = folded[index];
    summary[result.rows.length === 0 ? 'none' : worstVerdict(result.rows)]++;
    if (result.denial !== undefined) denials.push(result.denial);
    for (const row of result.rows) {
      rows.push({
        ...row,
        ...(entry?.owner === undefined ? {} : { owner: entry.owner }),
        ...(entry === undefined || entry.covers.length === 0 ? {} : { covers: entry.covers }),
      });
    }
  });
  return { allowed: denials.length === 0, ...context, objects: results.length, summary, rows, denials };
}

export function summaryLine(report: AuditReport, allObjects: boolean): string {
  const folded = report.listed - report.objects;
  const counts = [`${report.summary.deny} denied`, `${report.summary.warn} warned`, `${report.summary.audit} audited`, `${report.summary.allow} allowed`, `${report.summary.none} without image volumes`];
  const foldNote = allObjects || folded === 0 ? '' : `, ${folded} more reported at their owner (--all-objects lists each)`;
  return `audited ${report.objects} object(s) in ${report.scope}${foldNote}: ${counts.join(', ')}; policy revision ${report.policyRevision} from ${report.policySources.join(', ')}`;
}
