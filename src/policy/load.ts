/**
 * Loads ModelPolicy and Config documents from YAML text, files and directories
 * into one PolicySet. All problems are collected, each naming its file,
 * document and field path, so one load reports every mistake at once.
 */
import { EXIT_USAGE, ModelgateError, describeError, describeFileError } from '../core/errors.ts';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { duplicateKeyProblem } from '../core/yaml-keys.ts';
import { TrustedRoots } from '../signature/trust.ts';
import { unknownTrustedRoots } from '../signature/trusted-root-settings.ts';
import { parseDocument } from './documents.ts';
import { CLUSTER_SCOPE, DEFAULT_CONFIG } from './types.ts';
import type { ModelPolicy, ModelgateConfig, PolicyScope, PolicySet } from './types.ts';

export interface PolicyProblem {
  /** File path or ConfigMap key. */
  readonly source: string;
  /** 1-based index of the YAML document in the source; 0 for the source as a whole. */
  readonly document: number;
  readonly path: string;
  readonly message: string;
}

export class PolicyLoadError extends ModelgateError<'INVALID_POLICY'> {
  static readonly codes = { INVALID_POLICY: { exitCode: EXIT_USAGE } } as const;
  override readonly name = 'PolicyLoadError';
  readonly problems: readonly PolicyProblem[];
  constructor(problems: readonly PolicyProblem[]) {
    super(PolicyLoadError.codes, 'INVALID_POLICY', `invalid policy:\n${problems.map(formatProblem).join('\n')}`);
    this.problems = problems;
  }
}

export function formatProblem(problem: PolicyProblem): string {
  const where = problem.document > 0 ? `${problem.source} (document ${problem.document})` : problem.source;
  return `  ${where}${problem.path === '' ? '' : ` ${problem.path}`}: ${problem.message}`;
}

export interface PolicyText {
  readonly source: string;
  readonly text: string;
  /**
   * A namespace for the texts of a namespaced policy ConfigMap: its policies
   * are confined to that namespace and named `<namespace>/<name>`, and it may
   * hold no Config. Absent or `cluster`: cluster policies.
   */
  readonly scope?: PolicyScope;
}

/** Confines a namespaced policy to its namespace: match.namespaces is forced, excludeNamespaces cleared. */
export function scopePolicy(policy: ModelPolicy, namespace: string): ModelPolicy {
  return {
    ...policy,
    name: `${namespace}/${policy.name}`,
    scope: namespace,
    match: { namespaces: [namespace], excludeNamespaces: [], references: policy.match.references },
  };
}

/** Builds a PolicySet from YAML texts; throws PolicyLoadError listing every problem. */
export function policySetFromTexts(texts: readonly PolicyText[]): PolicySet {
  const problems: PolicyProblem[] = [];
  const policies: ModelPolicy[] = [];
  const configs: ModelgateConfig[] = [];
  for (const { source, text, scope } of texts) {
    const namespace = scope === undefined || scope === CLUSTER_SCOPE ? undefined : scope;
    // Repeated keys are refused by duplicateKeyProblem, in linear time.
    const documents = parseAllDocuments(text, { uniqueKeys: false });
    const list = Array.isArray(documents) ? documents : [documents];
    list.forEach((doc, index) => {
      const number = index + 1;
      if (doc.errors.length > 0) {
        for (const error of doc.errors) problems.push({ source, document: number, path: '', message: `YAML: ${error.message.split('\n')[0]}` });
        return;
      }
      const duplicate = duplicateKeyProblem(doc);
      if (duplicate !== undefined) {
        problems.push({ source, document: number, path: '', message: `YAML: ${duplicate}` });
        return;
      }
      const data: unknown = doc.toJS({ maxAliasCount: 100 });
      if (data === null || data === undefined) return; // empty document, e.g. a trailing `---`
      const result = parseDocument(data, `${source}#${number}`);
      if (!result.ok) {
        for (const error of result.errors) problems.push({ source, document: number, path: error.path, message: error.message });
      } else if (result.document.kind === 'ModelPolicy') {
        policies.push(namespace === undefined ? result.document.policy : scopePolicy(result.document.policy, namespace));
      } else if (namespace !== undefined) {
        // A namespace may only add requirements: defaultAction, registries and credentials are the cluster's.
        problems.push({
          source,
          document: number,
          path: 'kind',
          message: `a namespaced policy ConfigMap (namespace ${namespace}) may not hold a Config; only the webhook namespace's ConfigMaps may`,
        });
      } else {
        configs.push(result.document.config);
      }
    });
  }
  problems.push(...namespaceBudgetProblems(policies));
  const seen = new Map<string, string>();
  for (const policy of policies) {
    const earlier = seen.get(policy.name);
    if (earlier !== undefined) {
      problems.push({
        source: policy.source,
        document: 0,
        path: 'metadata.name',
        message: `policy ${JSON.stringify(policy.name)} is also defined in ${earlier}`,
      });
    }
    seen.set(policy.name, policy.source);
  }
  if (configs.length > 1) {
    problems.push({ source: configs[1]?.source ?? '', document: 0, path: 'kind', message: `only one Config is allowed; another is in ${configs[0]?.source}` });
  }
  const config = configs[0] ?? DEFAULT_CONFIG;
  problems.push(...trustProblems(policies, config));
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return makePolicySet(policies, config);
}

/**
 * What one namespace's policies may ask of every review in that namespace: a
 * tenant writes them, and each review matches all of them (core/glob.ts costs
 * pattern × text). Cluster policies are the admin's and not counted.
 */
export const NAMESPACE_POLICY_LIMITS = { policies: 16, patternCharacters: 4096, attestationConditions: 16 } as const;

/** The globs and regular expressions of a policy, whose length its matching costs. */
function patternsOf(policy: ModelPolicy): string[] {
  const identities = [...(policy.signatures?.authorities ?? []), ...(policy.modelSignature?.authorities ?? [])].flatMap((authority) =>
    authority.kind === 'keyless' ? authority.identities : [],
  );
  return [
    ...policy.match.references,
    ...policy.registries,
    ...(policy.artifact?.denyFiles ?? []),
    ...(policy.artifact?.layerMediaTypes ?? []),
    ...identities.flatMap((identity) => [identity.issuerRegExp ?? '', identity.subjectRegExp ?? '']),
  ];
}

function namespaceBudgetProblems(policies: readonly ModelPolicy[]): PolicyProblem[] {
  const byNamespace = new Map<string, ModelPolicy[]>();
  for (const policy of policies) {
    if (policy.scope === undefined || policy.scope === CLUSTER_SCOPE) continue;
    byNamespace.set(policy.scope, [...(byNamespace.get(policy.scope) ?? []), policy]);
  }
  const problems: PolicyProblem[] = [];
  for (const [namespace, owned] of byNamespace) {
    const first = owned[0]?.source ?? namespace;
    if (owned.length > NAMESPACE_POLICY_LIMITS.policies) {
      problems.push({
        source: first,
        document: 0,
        path: '',
        message: `namespace ${namespace} has ${owned.length} ModelPolicies; a namespace may have at most ${NAMESPACE_POLICY_LIMITS.policies}`,
      });
    }
    const characters = owned.reduce((sum, policy) => sum + patternsOf(policy).reduce((total, pattern) => total + pattern.length, 0), 0);
    if (characters > NAMESPACE_POLICY_LIMITS.patternCharacters) {
      problems.push({
        source: first,
        document: 0,
        path: '',
        message: `namespace ${namespace}'s policies hold ${characters} characters of patterns (globs and regular expressions); a namespace may hold at most ${NAMESPACE_POLICY_LIMITS.patternCharacters}`,
      });
    }
    // Each CEL condition is evaluated within its own budget (cel/evaluate.ts): their number bounds what a tenant's policies cost a review.
    const conditions = owned.reduce(
      (sum, policy) => sum + (policy.attestations?.requirements ?? []).reduce((total, entry) => total + entry.conditions.length, 0),
      0,
    );
    if (conditions > NAMESPACE_POLICY_LIMITS.attestationConditions) {
      problems.push({
        source: first,
        document: 0,
        path: '',
        message: `namespace ${namespace}'s policies hold ${conditions} attestation conditions; a namespace may hold at most ${NAMESPACE_POLICY_LIMITS.attestationConditions}`,
      });
    }
  }
  return problems;
}

/** Every trusted root must parse, and every root an authority names must exist. */
function trustProblems(policies: readonly ModelPolicy[], config: ModelgateConfig): PolicyProblem[] {
  let roots: TrustedRoots;
  try {
    roots = TrustedRoots.fromSettings(config.trustedRoots);
  } catch (error) {
    return [{ source: config.source, document: 0, path: 'spec.trustedRoots', message: describeError(error) }];
  }
  const unknown = (policy: ModelPolicy, path: string, missing: readonly string[]): PolicyProblem[] =>
    missing.map((name) => ({
      source: policy.source,
      document: 0,
      path,
      message: `trusted root ${JSON.stringify(name)} is not defined (known: ${roots.names().join(', ')}); add it to the Config's spec.trustedRoots`,
    }));
  return policies.flatMap((policy) => [
    ...(policy.signatures === undefined ? [] : unknown(policy, 'spec.signatures.authorities', unknownTrustedRoots(policy.signatures, roots))),
    ...(policy.modelSignature === undefined ? [] : unknown(policy, 'spec.modelSignature.authorities', unknownTrustedRoots(policy.modelSignature, roots))),
    ...(policy.attestations?.requirements ?? []).flatMap((requirement, index) =>
      unknown(policy, `spec.attestations[${index}].authorities`, unknownTrustedRoots(requirement, roots)),
    ),
  ]);
}

export function makePolicySet(policies: readonly ModelPolicy[], config: ModelgateConfig): PolicySet {
  const sorted = [...policies].sort((a, b) => a.name.localeCompare(b.name));
  const digest = createHash('sha256')
    .update(JSON.stringify({ policies: sorted.map(({ source: _source, ...rest }) => rest), config: { ...config, source: undefined } }))
    .digest('hex');
  return { policies: sorted, config, revision: digest.slice(0, 12) };
}

const YAML_FILE = /\.ya?ml$/i;

/** Reads YAML files: each path is a file, or a directory whose *.yaml / *.yml files are read in name order. */
export async function readPolicyTexts(paths: readonly string[]): Promise<PolicyText[]> {
  const texts: PolicyText[] = [];
  const problems: PolicyProblem[] = [];
  for (const path of paths) {
    try {
      const info = await stat(path);
      const files = info.isDirectory()
        ? (await readdir(path, { withFileTypes: true }))
            // Kubernetes mounts ConfigMaps through `..data` symlinks; follow only real entries' names.
            .filter((entry) => !entry.name.startsWith('.') && YAML_FILE.test(entry.name))
            .map((entry) => join(path, entry.name))
            .sort()
        : [path];
      for (const file of files) texts.push({ source: file, text: await readFile(file, 'utf8') });
    } catch (error) {
      problems.push({ source: path, document: 0, path: '', message: `cannot read: ${describeFileError(error)}` });
    }
  }
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return texts;
}

/** Loads policy files and an optional Config file into a PolicySet. */
export async function loadPolicySet(policyPaths: readonly string[], configPath?: string): Promise<PolicySet> {
  const texts = await readPolicyTexts(configPath === undefined ? policyPaths : [...policyPaths, configPath]);
  return policySetFromTexts(texts);
}
