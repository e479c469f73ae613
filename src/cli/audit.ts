/**
 * `modelgate audit` (also `kubectl modelgate audit`): the admission engine over
 * what already runs in a cluster. Lists Pods, every workload kind that
 * carries a pod template, and the AI workloads (and the Config's workloads)
 * whose kinds the cluster serves; judges each exactly as a CREATE would be
 * judged, and prints the same table or JSON as `check`.
 *
 * Like the webhook's namespaceSelector, it leaves out kube-system and the
 * webhook's own namespace (--policy-namespace) unless asked to include them.
 *
 * Objects a controller made from its owner's template (a ReplicaSet of a
 * Deployment, the Pods of a ReplicaSet, Job or RayCluster, the StatefulSets
 * of a LeaderWorkerSet) are reported once, at the top-level owner, as long
 * as their image-volume references are among the owner's; one with other
 * references (an old ReplicaSet still running a previous template) is
 * reported on its own. `--all-objects` reports every object.
 *
 * Policy: policy-source.ts's rule, with a cluster: the files given with
 * --policy, else the ConfigMaps labelled modelgate.dev/policy=true in
 * --policy-namespace (default modelgate), read once — what the webhook in
 * that cluster enforces.
 */
import type { KubeObject } from '../admission/objects.ts';
import { extractModelReferences } from '../admission/extract.ts';
import { AI_WORKLOAD_KINDS, KUBERNETES_KINDS, groupOf, workloadKind } from '../admission/kinds.ts';
import type { WorkloadKind } from '../admission/kinds.ts';
import { coreApi } from '../kube/client.ts';
import { KubePullSecretReader } from '../kube/pull-secrets.ts';
import type { WorkloadSetting } from '../policy/types.ts';
import { isPlainObject } from '../core/guards.ts';
import { contextNamespace } from '../kube/client.ts';
import { listWorkloads } from '../kube/list-workloads.ts';
import { loadClusterConfig } from './cluster.ts';
import { AUDIT, DEFAULT_POLICY_NAMESPACE } from './commands.ts';
import { commandEngine } from './engine.ts';
import { parseFlags } from './flags.ts';
import { choosePolicySource, loadPolicy, policyLines } from './policy-source.ts';
import type { PolicyInfo } from './policy-source.ts';
import { evaluateObjects, outputFormat, printJson, printTable } from './report.ts';
import type { CheckRow, CommandIO, ObjectResult, RowVerdict } from './report.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

export { DEFAULT_POLICY_NAMESPACE } from './commands.ts';
/** Objects judged at once; registry facts are cached and shared, so this only bounds waiting. */
const CONCURRENCY = 8;

export interface AuditRow extends CheckRow {
  /** The controller owner, for an object reported on its own although it has one. */
  readonly owner?: string;
  /** Objects reported at this one: made from its template, their references among its own. */
  readonly covers?: readonly string[];
}

export interface AuditReport {
  readonly allowed: boolean;
  readonly policyRevision: string;
  /** Where the policy came from: the files, or the ConfigMaps read. */
  readonly policySources: readonly string[];
  /** The policy's source, revision and warnings. */
  readonly policy?: PolicyInfo;
  /** `all namespaces` or `namespace NAME`. */
  readonly scope: string;
  /** Namespaces left out as the webhook's namespaceSelector leaves them out (kube-system, the webhook's own). */
  readonly skippedNamespaces?: readonly string[];
  /** Objects listed in them and not judged. */
  readonly skippedObjects?: number;
  /** Custom workload kinds looked for that the cluster does not serve (`group/Kind`). */
  readonly absentKinds?: readonly string[];
  /** Objects listed from the cluster (without those of skipped namespaces). */
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
  /** The image-volume references as `volume reference` pairs; what was made from a template has some of its owner's. */
  readonly references: ReadonlySet<string>;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function describe(object: KubeObject): string {
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  const namespace = str(metadata['namespace']);
  return `${str(object['kind']) ?? '?'} ${namespace === undefined ? '' : `${namespace}/`}${str(metadata['name']) ?? '(unnamed)'}`;
}

function listed(object: KubeObject, workloads: readonly WorkloadSetting[]): Listed {
  const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
  const owners = Array.isArray(metadata['ownerReferences']) ? metadata['ownerReferences'] : [];
  const controller: unknown = owners.find((owner: unknown) => isPlainObject(owner) && owner['controller'] === true);
  const owner = isPlainObject(controller) ? controller : undefined;
  const kind = workloadKind(groupOf(str(object['apiVersion']) ?? ''), str(object['kind']) ?? '', workloads);
  const sites = kind === undefined ? [] : extractModelReferences(object, kind);
  return {
    object,
    uid: str(metadata['uid']),
    label: describe(object),
    ownerUid: owner === undefined ? undefined : str(owner['uid']),
    ownerLabel: owner === undefined ? undefined : `${str(owner['kind']) ?? '?'} ${str(owner['name']) ?? '?'}`,
    references: new Set(sites.map((site) => JSON.stringify([site.volume, site.reference]))),
  };
}

export interface FoldedObject {
  readonly object: KubeObject;
  readonly owner: string | undefined;
  readonly covers: readonly string[];
}

/**
 * Whether an object made from its owner's templates says nothing the owner
 * does not: its references are among the owner's (a LeaderWorkerSet's leader
 * StatefulSet holds one of its two templates), or neither has any.
 */
function amongOwners(child: Listed, owner: Listed): boolean {
  if (child.references.size === 0) return owner.references.size === 0;
  return [...child.references].every((reference) => owner.references.has(reference));
}

/**
 * Which objects to report: each object whose controller owner was listed too
 * and whose references are among the owner's is folded into that owner (up
 * to the top-level one); with `all`, every object is reported. `workloads`:
 * the Config's, so that their references are found.
 */
export function foldIntoOwners(objects: readonly KubeObject[], all: boolean, workloads: readonly WorkloadSetting[] = []): FoldedObject[] {
  const entries = objects.map((object) => listed(object, workloads));
  const byUid = new Map<string, Listed>();
  for (const entry of entries) if (entry.uid !== undefined) byUid.set(entry.uid, entry);
  const parentOf = (entry: Listed): Listed | undefined => {
    const parent = entry.ownerUid === undefined ? undefined : byUid.get(entry.ownerUid);
    return parent !== undefined && parent !== entry && amongOwners(entry, parent) ? parent : undefined;
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

// ---- the command ----------------------------------------------------------------------

/**
 * The namespaces the webhook's namespaceSelector leaves out
 * (manifests/base/validatingwebhookconfiguration.yaml): kube-system, whose
 * control plane must never wait on modelgate, and the webhook's own.
 */
export function unreviewedNamespaces(webhookNamespace: string): string[] {
  return [...new Set(['kube-system', webhookNamespace])];
}

/** The custom kinds to look for: the AI workloads and the Config's workloads (its row winning), Kubernetes' own kinds aside. */
export function customKinds(workloads: readonly WorkloadSetting[]): WorkloadKind[] {
  const keyOf = (kind: { group: string; kind: string }): string => `${kind.group}/${kind.kind}`;
  const builtIn = new Set(KUBERNETES_KINDS.map(keyOf));
  const wanted = new Map<string, WorkloadKind>();
  for (const { group, kind } of [...AI_WORKLOAD_KINDS, ...workloads]) {
    const row = workloadKind(group, kind, workloads);
    if (group !== '' && !builtIn.has(keyOf({ group, kind })) && row !== undefined) wanted.set(keyOf(row), row);
  }
  return [...wanted.values()];
}

const namespaceOf = (object: KubeObject): string | undefined => str((isPlainObject(object['metadata']) ? object['metadata'] : {})['namespace']);

export async function runAudit(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags('audit', AUDIT.flags, args);
  if (positionals.length > 0)
    throw new UsageError(`audit takes no arguments, got ${JSON.stringify(positionals.join(' '))} (objects come from the cluster; use -n NAMESPACE or -A)`);
  if (values.namespace !== undefined && values['all-namespaces'] === true) throw new UsageError('use either -n NAMESPACE or -A, not both');
  if (values.namespace === '' || values['policy-namespace'] === '')
    throw new UsageError(`${values.namespace === '' ? '-n' : '--policy-namespace'} needs a namespace name`);
  const output = outputFormat(values.output, ['table', 'json']);
  const policyNamespace = values['policy-namespace'] ?? DEFAULT_POLICY_NAMESPACE;
  const allObjects = values['all-objects'] === true;

  const kubeConfig = loadClusterConfig({ kubeconfig: values.kubeconfig, context: values.context });
  const namespace = values['all-namespaces'] === true ? undefined : (values.namespace ?? contextNamespace(kubeConfig));
  const scope = namespace === undefined ? 'all namespaces' : `namespace ${namespace}`;
  const unreviewed = values['include-system-namespaces'] === true ? [] : unreviewedNamespaces(policyNamespace);
  const skippedNamespaces = namespace === undefined ? unreviewed : unreviewed.filter((name) => name === namespace);

  const source = choosePolicySource({
    policy: values.policy,
    config: values.config,
    cluster: 'always',
    policyNamespace,
    namespacedPolicies: values['namespaced-policies'] === true,
  });
  const { policySet, info } = await loadPolicy(source, kubeConfig);
  if (output === 'table') io.stderr(policyLines(info));

  const pullSecrets = policySet.config.credentials.pullSecrets
    ? new KubePullSecretReader(coreApi(kubeConfig), (message) => io.stderr(`modelgate: warning: ${message}\n`))
    : undefined;
  const engine = await commandEngine(policySet, { offline: values.offline === true, ...(pullSecrets === undefined ? {} : { pullSecrets }) });

  try {
    const listing = await listWorkloads(kubeConfig, namespace, customKinds(policySet.config.workloads));
    const objects = sortObjects(listing.objects.filter((object) => !skippedNamespaces.includes(namespaceOf(object) ?? '')));
    const folded = foldIntoOwners(objects, allObjects, policySet.config.workloads);
    const results = await evaluateObjects(
      folded.map((entry) => entry.object),
      engine,
      CONCURRENCY,
    );
    const report = auditReport(results, folded, {
      policyRevision: policySet.revision,
      policySources: info.sources,
      policy: info,
      scope,
      skippedNamespaces,
      skippedObjects: listing.objects.length - objects.length,
      absentKinds: listing.absentKinds,
      listed: objects.length,
    });
    if (output === 'json') {
      printJson(io, report);
    } else {
      printTable(io, report.rows, report.objects, report.denials);
      io.stderr(`\n${summaryLine(report, allObjects)}\n${skippedLine(report)}`);
    }
    return report.allowed ? EXIT_OK : EXIT_DENIED;
  } finally {
    await engine.client?.close();
  }
}

/** Custom kinds (the AI workloads) first: they own Kubernetes' own kinds, never the other way round. */
const KIND_ORDER = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'ReplicationController', 'PodTemplate', 'Pod'];

/** Namespace, then kind (owners before what they own), then name: a stable order for people and tests. */
function sortObjects(objects: readonly KubeObject[]): KubeObject[] {
  const key = (object: KubeObject): [string, number, string, string] => {
    const metadata = isPlainObject(object['metadata']) ? object['metadata'] : {};
    const kind = str(object['kind']) ?? '';
    return [str(metadata['namespace']) ?? '', KIND_ORDER.indexOf(kind), kind, str(metadata['name']) ?? ''];
  };
  return [...objects].sort((a, b) => {
    const [na, ka, kna, ma] = key(a);
    const [nb, kb, knb, mb] = key(b);
    return na.localeCompare(nb) || ka - kb || kna.localeCompare(knb) || ma.localeCompare(mb);
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
  context: Omit<AuditReport, 'allowed' | 'objects' | 'summary' | 'rows' | 'denials'>,
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
  const counts = [
    `${report.summary.deny} denied`,
    `${report.summary.warn} warned`,
    `${report.summary.audit} audited`,
    `${report.summary.allow} allowed`,
    `${report.summary.none} without image volumes`,
  ];
  const foldNote = allObjects || folded === 0 ? '' : `, ${folded} more reported at their owner (--all-objects lists each)`;
  return `audited ${report.objects} object(s) in ${report.scope}${foldNote}: ${counts.join(', ')}`;
}

/** The namespaces left out, as the webhook leaves them out; empty when none were. */
export function skippedLine(report: AuditReport): string {
  const skipped = report.skippedNamespaces ?? [];
  if (skipped.length === 0) return '';
  const them = skipped.length === 1 ? 'it' : 'them';
  return `skipped ${skipped.join(' and ')} (${report.skippedObjects ?? 0} object(s)): the webhook's namespaceSelector leaves ${them} out; --include-system-namespaces audits ${them} too\n`;
}
