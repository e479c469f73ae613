/**
 * `modelgate explain REFERENCE`: the whole trace for one model reference, as
 * the webhook would judge it in a namespace. Parsed reference; the digest
 * (from the reference, or resolved from its tag through the registry); the
 * manifest; every matching policy with each of its rules; each signature
 * authority; the verdict with reasons and fixes; and the time of each step.
 *
 * The verdict (and the exit code) is the engine's own: evaluateReference on
 * the reference as written, exactly as in a review. The manifest and the
 * signature results shown are read first through the same caches the engine
 * then reads, so the trace and the verdict are about the same facts. A
 * reference with only a tag is judged as written (requireDigest applies); the
 * digest its tag resolves to is then judged too, under "if pinned", so the
 * trace says what pinning it would change.
 */
import { performance } from 'node:perf_hooks';
import type { ArtifactFacts } from '../artifact/rules.ts';
import type { ModelReferenceSite } from '../engine/site.ts';
import { fileNameOf, rulesNeedConfig } from '../artifact/rules.ts';
import type { ImageManifest } from '../artifact/manifest.ts';
import { LICENSES_ANNOTATION } from '../artifact/media-types.ts';
import { formatBytes } from '../artifact/quantity.ts';
import { createEngine, createRegistryAccess } from '../engine/engine.ts';
import type { RegistryAccess, RegistryBackedEngine } from '../engine/engine.ts';
import { evaluateReference } from '../engine/evaluate.ts';
import type { ReferenceVerdict } from '../engine/evaluate.ts';
import type { Finding } from '../core/finding.ts';
import { matchingPolicies } from '../policy/match.ts';
import type { ModelPolicy, PolicyMode, PolicySet } from '../policy/types.ts';
import { InvalidReferenceError, formatReference, parseReference, repositoryName } from '../reference/parse.ts';
import type { ImageReference } from '../reference/parse.ts';
import type { SignatureResult } from '../signature/verify.ts';
import { EXPLAIN } from './commands.ts';
import { parseFlags } from './flags.ts';
import { choosePolicySource, loadPolicy } from './policy-source.ts';
import type { PolicyInfo } from './policy-source.ts';
import { outputFormat, printJson, verdictOf } from './report.ts';
import type { CommandIO, RowVerdict } from './report.ts';
import { renderTable } from './table.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

// ---- the report ----------------------------------------------------------------------

export interface ParsedReference {
  readonly input: string;
  readonly valid: boolean;
  /** Why the reference is invalid. */
  readonly error?: string;
  readonly registry?: string;
  readonly repository?: string;
  readonly tag?: string;
  readonly digest?: string;
  /** registry/repository[:tag][@digest], normalised (docker.io, library/). */
  readonly normalized?: string;
}

export interface Resolution {
  /** `reference`: pinned as written; `tag`: resolved through the registry; `none`: not resolved (see note). */
  readonly source: 'reference' | 'tag' | 'none';
  readonly digest?: string;
  readonly tag?: string;
  /** The request that resolved it, e.g. `GET /v2/acme/models/llama/manifests/v1 on ghcr.io`. */
  readonly request?: string;
  readonly error?: string;
  readonly note: string;
}

export interface LayerSummary {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  /** From org.cncf.model.filepath or org.opencontainers.image.title. */
  readonly file?: string;
}

export interface ManifestSummary {
  readonly digest: string;
  readonly mediaType: string;
  readonly artifactType?: string;
  readonly config: { readonly mediaType: string; readonly digest: string; readonly size: number };
  /** From the ModelPack config, when a rule needed it read, or the licences annotation. */
  readonly format?: string;
  readonly licenses?: readonly string[];
  readonly layers: readonly LayerSummary[];
  readonly totalSize: number;
}

export interface ArtifactSummary {
  readonly digest: string;
  readonly kind: 'manifest' | 'index';
  readonly mediaType: string;
  readonly artifactType?: string;
  /** The manifest itself, or each manifest of the index. */
  readonly manifests: readonly ManifestSummary[];
}

export type RuleResult = 'pass' | 'fail' | 'off' | 'not checked';

export interface RuleTrace {
  readonly rule: string;
  readonly result: RuleResult;
  /** For fail: the strongest mode among its findings (enforce denies, warn warns, audit records). */
  readonly mode?: PolicyMode;
  /** What was checked, or why it failed (one line per finding). */
  readonly details: readonly string[];
  readonly fixes?: readonly string[];
}

export interface AuthorityTrace {
  readonly name: string;
  readonly kind: string;
  readonly passed: boolean;
  readonly reason: string;
  readonly signature?: string;
}

export interface SignatureTrace {
  readonly threshold: number;
  readonly passed: boolean;
  readonly passedCount: number;
  readonly signaturesRead: number;
  readonly complete: boolean;
  readonly problems: readonly string[];
  readonly authorities: readonly AuthorityTrace[];
}

export interface PolicyTrace {
  readonly name: string;
  readonly mode: PolicyMode;
  readonly source: string;
  readonly onError: string;
  readonly rules: readonly RuleTrace[];
  /** Per-authority results, when the policy has spec.signatures and they could be read. */
  readonly signatures?: SignatureTrace | { readonly error: string };
}

export interface FindingTrace {
  readonly policy: string;
  readonly rule: string;
  readonly mode: PolicyMode;
  readonly reason: string;
  readonly fix: string;
}

export interface Evaluation {
  /** The reference judged. */
  readonly reference: string;
  readonly verdict: RowVerdict;
  readonly policies: readonly PolicyTrace[];
  /** Rules that belong to no policy: an invalid reference, the Config's defaultAction. */
  readonly builtIn: readonly RuleTrace[];
  readonly findings: readonly FindingTrace[];
}

export interface Timing {
  readonly step: string;
  readonly ms: number;
}

export interface ExplainReport {
  readonly reference: ParsedReference;
  readonly namespace: string;
  readonly policyRevision: string;
  /** Where the policy came from (runExplain sets it): files, the bundled file, or the cluster's ConfigMaps. */
  readonly policy?: PolicyInfo;
  readonly resolution: Resolution;
  readonly artifact?: ArtifactSummary | { readonly error: string };
  /** The reference as written: what the webhook decides, and the exit code. */
  readonly evaluation: Evaluation;
  /** Only for a reference without digest whose tag was resolved: the same reference pinned to that digest. */
  readonly ifPinned?: Evaluation;
  readonly timings: readonly Timing[];
}

// ---- building it ---------------------------------------------------------------------------

class Clock {
  readonly timings: Timing[] = [];
  readonly #start = performance.now();

  async time<T>(step: string, work: () => T | Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.timings.push({ step, ms: round(performance.now() - started) });
    }
  }

  total(): void {
    this.timings.push({ step: 'total', ms: round(performance.now() - this.#start) });
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
/** The error, with the operator's detail a registry error keeps out of admission answers (explain runs on the operator's side). */
const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  const diagnostic = (error as { diagnostic?: unknown }).diagnostic;
  return typeof diagnostic === 'string' ? `${error.message} (cause: ${diagnostic})` : error.message;
};

function summarizeManifest(manifest: ImageManifest, facts: ArtifactFacts): ManifestSummary {
  const config = facts.configs.get(manifest.config.digest);
  const annotated = manifest.annotations[LICENSES_ANNOTATION];
  const licenses = config?.ok === true && config.config.licenses.length > 0 ? config.config.licenses : annotated === undefined ? undefined : [annotated];
  const format = config?.ok === true ? config.config.format : undefined;
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    ...(manifest.artifactType === undefined ? {} : { artifactType: manifest.artifactType }),
    config: { mediaType: manifest.config.mediaType, digest: manifest.config.digest, size: manifest.config.size },
    ...(format === undefined ? {} : { format }),
    ...(licenses === undefined ? {} : { licenses }),
    layers: manifest.layers.map((layer) => {
      const file = fileNameOf(layer);
      return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size, ...(file === undefined ? {} : { file }) };
    }),
    totalSize: manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
  };
}

export function summarizeArtifact(facts: ArtifactFacts): ArtifactSummary {
  const { root } = facts;
  return {
    digest: root.digest,
    kind: root.kind,
    mediaType: root.mediaType,
    ...(root.artifactType === undefined ? {} : { artifactType: root.artifactType }),
    manifests: facts.manifests.map((manifest) => summarizeManifest(manifest, facts)),
  };
}

const ARTIFACT_RULES = ['types', 'layerMediaTypes', 'mountable', 'denyFiles', 'maxSize', 'formats', 'licenses'] as const;

function configuredArtifactRules(policy: ModelPolicy): { rule: string; what: string }[] {
  const rules = policy.artifact;
  if (rules === undefined) return [];
  const what: Record<(typeof ARTIFACT_RULES)[number], string | undefined> = {
    types: rules.types.length > 0 ? `type is one of ${rules.types.join(', ')}` : undefined,
    layerMediaTypes: rules.layerMediaTypes.length > 0 ? `layer media types match ${rules.layerMediaTypes.join(', ')}` : undefined,
    mountable: rules.mountable ? 'every layer has a file path, so CRI-O mounts it' : undefined,
    denyFiles: rules.denyFiles.length > 0 ? `no layer file matches ${rules.denyFiles.join(', ')}` : undefined,
    maxSize: rules.maxSize === undefined ? undefined : `layers add up to at most ${formatBytes(rules.maxSize)}`,
    formats: rules.formats.length > 0 ? `ModelPack config.format is one of ${rules.formats.join(', ')}` : undefined,
    licenses: rules.licenses.length > 0 ? `licence allowed by ${rules.licenses.join(', ')}` : undefined,
  };
  return ARTIFACT_RULES.flatMap((rule) => (what[rule] === undefined ? [] : [{ rule: `artifact.${rule}`, what: what[rule] }]));
}

const MODE_ORDER: readonly PolicyMode[] = ['audit', 'warn', 'enforce'];

function failed(rule: string, findings: readonly Finding[]): RuleTrace {
  const mode = findings.reduce<PolicyMode>((worst, finding) => (MODE_ORDER.indexOf(finding.mode) > MODE_ORDER.indexOf(worst) ? finding.mode : worst), 'audit');
  return { rule, result: 'fail', mode, details: findings.map((finding) => finding.reason), fixes: [...new Set(findings.map((finding) => finding.fix))] };
}

/** Each rule of the policy with its result, from the findings of the engine's verdict. */
function policyTrace(policy: ModelPolicy, verdict: ReferenceVerdict, signatures: SignatureTrace | { error: string } | undefined): PolicyTrace {
  const own = verdict.findings.filter((finding) => finding.policy === policy.name);
  const used = new Set<Finding>();
  const take = (rule: string): Finding[] => {
    const list = own.filter((finding) => finding.rule === rule);
    for (const finding of list) used.add(finding);
    return list;
  };
  const judge = (rule: string, what: string): RuleTrace => {
    const list = take(rule);
    return list.length > 0 ? failed(rule, list) : { rule, result: 'pass', details: [what] };
  };
  const pinned = verdict.reference?.digest !== undefined;
  const rules: RuleTrace[] = [];
  rules.push(
    policy.requireDigest
      ? judge('requireDigest', 'the reference carries a digest')
      : { rule: 'requireDigest', result: 'off', details: ['not required by this policy'] },
  );
  rules.push(
    policy.registries.length > 0
      ? judge('registries', `registry is one of ${policy.registries.join(', ')}`)
      : { rule: 'registries', result: 'off', details: ['any registry is allowed'] },
  );
  for (const [rule, configured] of [
    ['artifact', policy.artifact !== undefined],
    ['signatures', policy.signatures !== undefined],
  ] as const) {
    if (!configured) continue;
    // A finding on the rule itself means it could not run: no digest, or the registry could not be read (spec.onError).
    const blocked = take(rule);
    const notChecked = blocked.length > 0 || !pinned;
    const reason = blocked.length > 0 ? blocked.map((finding) => finding.reason) : ['the reference has no digest, so the registry is not consulted'];
    if (rule === 'artifact') {
      if (notChecked) {
        if (blocked.length > 0) rules.push(failed('artifact', blocked));
        for (const { rule: sub } of configuredArtifactRules(policy))
          rules.push({ rule: sub, result: 'not checked', details: blocked.length > 0 ? ['see artifact'] : reason });
      } else {
        for (const { rule: sub, what } of configuredArtifactRules(policy)) rules.push(judge(sub, what));
      }
    } else if (blocked.length > 0) {
      rules.push(failed('signatures', blocked));
    } else if (!pinned) {
      rules.push({ rule: 'signatures', result: 'not checked', details: reason });
    } else {
      const threshold = policy.signatures?.threshold ?? 1;
      rules.push({ rule: 'signatures', result: 'pass', details: [`at least ${threshold} authorit${threshold === 1 ? 'y' : 'ies'} verified a signature`] });
    }
  }
  // Anything not attributed above (a rule added later) is still shown.
  const rest = own.filter((finding) => !used.has(finding));
  for (const rule of [...new Set(rest.map((finding) => finding.rule))])
    rules.push(
      failed(
        rule,
        rest.filter((finding) => finding.rule === rule),
      ),
    );
  return {
    name: policy.name,
    mode: policy.mode,
    source: policy.source,
    onError: policy.onError,
    rules,
    ...(signatures === undefined ? {} : { signatures }),
  };
}

function signatureTrace(result: SignatureResult): SignatureTrace {
  return {
    threshold: result.threshold,
    passed: result.passed,
    passedCount: result.passedCount,
    signaturesRead: result.signatures,
    complete: result.complete,
    problems: result.problems,
    authorities: result.authorities.map((outcome) => ({
      name: outcome.name,
      kind: outcome.kind,
      passed: outcome.passed,
      reason: outcome.reason,
      ...(outcome.signature === undefined ? {} : { signature: outcome.signature }),
    })),
  };
}

interface Prepared {
  readonly signatures: ReadonlyMap<string, SignatureTrace | { error: string }>;
}

/** Reads the manifest and signatures through the engine's caches, so that the evaluation after it judges the same facts. */
async function prefetch(
  ref: ImageReference,
  digest: string,
  policies: readonly ModelPolicy[],
  access: RegistryAccess,
  policySet: PolicySet,
  clock: Clock,
): Promise<{ artifact: ArtifactSummary | { error: string }; prepared: Prepared }> {
  const locator = { registry: ref.registry, repository: ref.repository };
  const deadline = (): number => Date.now() + policySet.config.timeouts.totalMs;
  // As the engine asks: with ModelPack configs only when a rule reads them (then both lookups share one cache entry).
  const withConfigs = policies.some((policy) => policy.artifact !== undefined && rulesNeedConfig(policy.artifact));
  let artifact: ArtifactSummary | { error: string };
  try {
    artifact = summarizeArtifact(await clock.time('read manifest', () => access.cache.facts(locator, digest, withConfigs, deadline())));
  } catch (error) {
    artifact = { error: errorText(error) };
  }
  const signatures = new Map<string, SignatureTrace | { error: string }>();
  for (const policy of policies) {
    const wanted = policy.signatures;
    if (wanted === undefined) continue;
    try {
      const result = await clock.time(`verify signatures (${policy.name})`, () => access.signatureCache.verify(wanted, locator, digest, deadline()));
      signatures.set(policy.name, signatureTrace(result));
    } catch (error) {
      signatures.set(policy.name, { error: errorText(error) });
    }
  }
  return { artifact, prepared: { signatures } };
}

function builtInRules(verdict: ReferenceVerdict): RuleTrace[] {
  const outside = verdict.findings.filter((finding) => finding.policy === '(reference)' || finding.policy === '(default)');
  return [...new Set(outside.map((finding) => finding.rule))].map((rule) =>
    failed(
      rule,
      outside.filter((finding) => finding.rule === rule),
    ),
  );
}

async function evaluate(
  reference: string,
  engine: RegistryBackedEngine,
  namespace: string,
  prepared: Prepared | undefined,
  clock: Clock,
  step: string,
): Promise<Evaluation> {
  const site: ModelReferenceSite = { kind: 'volume', volume: '(explain)', path: '(reference)', reference, podSpec: undefined };
  const deadline = Date.now() + engine.policySet.config.timeouts.totalMs;
  const verdict = await clock.time(step, () => evaluateReference(site, { engine, namespace, deadline }));
  const matched = engine.policySet.policies.filter((policy) => verdict.policies.includes(policy.name));
  return {
    reference,
    verdict: verdictOf(verdict.findings),
    policies: matched.map((policy) => policyTrace(policy, verdict, prepared?.signatures.get(policy.name))),
    builtIn: builtInRules(verdict),
    findings: verdict.findings.map(({ policy, rule, mode, reason, fix }) => ({ policy, rule, mode, reason, fix })),
  };
}

export interface ExplainOptions {
  readonly namespace: string;
  readonly offline: boolean;
}

export async function explainReference(input: string, policySet: PolicySet, options: ExplainOptions): Promise<ExplainReport> {
  const clock = new Clock();
  const { namespace } = options;
  let ref: ImageReference | undefined;
  let parseError: string | undefined;
  await clock.time('parse reference', () => {
    try {
      ref = parseReference(input);
    } catch (error) {
      parseError = error instanceof InvalidReferenceError ? error.reason : errorText(error);
    }
  });
  const access = options.offline ? undefined : createRegistryAccess(policySet.config);
  const engine = createEngine(policySet, { offline: options.offline, ...(access === undefined ? {} : { registry: access }) });
  try {
    if (ref === undefined) {
      const evaluation = await evaluate(input, engine, namespace, undefined, clock, 'evaluate');
      clock.total();
      return {
        reference: { input, valid: false, error: parseError ?? 'invalid reference' },
        namespace,
        policyRevision: policySet.revision,
        resolution: { source: 'none', note: 'the reference is invalid' },
        evaluation,
        timings: clock.timings,
      };
    }
    const parsed = ref;
    const policies = await clock.time('match policies', () => matchingPolicies(policySet, namespace, repositoryName(parsed)));
    const locator = { registry: parsed.registry, repository: parsed.repository };

    let resolution: Resolution;
    if (parsed.digest !== undefined) {
      resolution = { source: 'reference', digest: parsed.digest, note: 'pinned by digest in the reference' };
    } else {
      const tag = parsed.tag ?? 'latest';
      const request = `GET /v2/${parsed.repository}/manifests/${tag} on ${parsed.registry}`;
      if (access === undefined) {
        resolution = { source: 'none', tag, note: `not resolved: --offline (the reference means tag ${JSON.stringify(tag)})` };
      } else {
        try {
          const fetched = await clock.time(`resolve tag ${tag}`, () =>
            access.client.fetchManifestByTag(locator, tag, { deadline: Date.now() + policySet.config.timeouts.totalMs }),
          );
          resolution = {
            source: 'tag',
            digest: fetched.digest,
            tag,
            request,
            note: `resolved from tag ${JSON.stringify(tag)} (${request}); admission judges the reference as written, without this digest`,
          };
        } catch (error) {
          resolution = { source: 'none', tag, request, error: errorText(error), note: `tag ${JSON.stringify(tag)} could not be resolved (${request})` };
        }
      }
    }

    let artifact: ArtifactSummary | { error: string } | undefined;
    let prepared: Prepared | undefined;
    if (resolution.digest !== undefined && access !== undefined) {
      ({ artifact, prepared } = await prefetch(parsed, resolution.digest, policies, access, policySet, clock));
    }

    const evaluation = await evaluate(input, engine, namespace, parsed.digest === undefined ? undefined : prepared, clock, 'evaluate');
    const pinnedReference =
      resolution.source === 'tag' && resolution.digest !== undefined
        ? formatReference({ ...parsed, tag: resolution.tag, digest: resolution.digest })
        : undefined;
    const ifPinned = pinnedReference === undefined ? undefined : await evaluate(pinnedReference, engine, namespace, prepared, clock, 'evaluate if pinned');
    clock.total();
    return {
      reference: {
        input,
        valid: true,
        registry: parsed.registry,
        repository: parsed.repository,
        ...(parsed.tag === undefined ? {} : { tag: parsed.tag }),
        ...(parsed.digest === undefined ? {} : { digest: parsed.digest }),
        normalized: formatReference(parsed),
      },
      namespace,
      policyRevision: policySet.revision,
      resolution,
      ...(artifact === undefined ? {} : { artifact }),
      evaluation,
      ...(ifPinned === undefined ? {} : { ifPinned }),
      timings: clock.timings,
    };
  } finally {
    await access?.client.close();
  }
}

// ---- text output ------------------------------------------------------------------------------

const indent = (text: string, spaces: number): string =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `${' '.repeat(spaces)}${line}`))
    .join('\n');

const firstLine = (text: string): string => text.split('\n', 1)[0] ?? '';

function resultLabel(rule: RuleTrace): string {
  if (rule.result !== 'fail') return rule.result.toUpperCase();
  return rule.mode === 'enforce' || rule.mode === undefined ? 'FAIL' : `FAIL (${rule.mode})`;
}

function rulesTable(rules: readonly RuleTrace[]): string {
  return renderTable(
    ['RULE', 'RESULT', 'DETAIL'],
    // One line per detail: a signature finding's multi-line summary is the authorities table below.
    rules.flatMap((rule) => {
      const [first = '', ...more] = rule.details.map(firstLine);
      return [[rule.rule, resultLabel(rule), first], ...more.map((line) => ['', '', line])];
    }),
  );
}

function evaluationText(evaluation: Evaluation): string {
  const out: string[] = [];
  const invalid = evaluation.builtIn.some((rule) => rule.rule === 'reference');
  if (invalid) out.push('the reference is invalid: no policy is consulted, it is always denied');
  else if (evaluation.policies.length === 0)
    out.push(`no policy matches; the Config's defaultAction ${evaluation.builtIn.length === 0 ? 'allows it' : 'decides'}`);
  for (const policy of evaluation.policies) {
    out.push(`policy ${policy.name} (mode ${policy.mode}, onError ${policy.onError}, from ${policy.source})`);
    out.push(indent(rulesTable(policy.rules).trimEnd(), 2));
    const signatures = policy.signatures;
    if (signatures !== undefined) {
      if ('error' in signatures) {
        out.push(`  signatures could not be read: ${signatures.error}`);
      } else {
        out.push(
          `  signature authorities: ${signatures.passedCount} of ${signatures.threshold} required passed (${signatures.signaturesRead} signature(s) read${signatures.complete ? '' : ', incomplete'})`,
        );
        out.push(
          indent(
            renderTable(
              ['AUTHORITY', 'KIND', 'RESULT', 'REASON'],
              signatures.authorities.map((authority) => [
                authority.name,
                authority.kind,
                authority.passed ? 'PASS' : 'FAIL',
                `${authority.reason}${authority.signature === undefined ? '' : ` (${authority.signature})`}`,
              ]),
            ).trimEnd(),
            2,
          ),
        );
        for (const problem of signatures.problems) out.push(`  registry problem: ${problem}`);
      }
    }
  }
  if (evaluation.builtIn.length > 0) out.push(indent(rulesTable(evaluation.builtIn).trimEnd(), 2));
  return out.join('\n');
}

export function renderExplain(report: ExplainReport): string {
  const out: string[] = [];
  const { reference } = report;
  out.push(`Reference   ${reference.input}`);
  if (!reference.valid) {
    out.push(`  invalid: ${reference.error ?? ''}`);
  } else {
    out.push(
      indent(
        renderTable(
          ['FIELD', 'VALUE'],
          [
            ['registry', reference.registry ?? ''],
            ['repository', reference.repository ?? ''],
            ['tag', reference.tag ?? '(none)'],
            ['digest', reference.digest ?? '(none)'],
            ['normalized', reference.normalized ?? ''],
          ],
        )
          .split('\n')
          .slice(1)
          .join('\n')
          .trimEnd(),
        2,
      ),
    );
  }
  const { resolution } = report;
  out.push('');
  out.push(`Digest      ${resolution.digest ?? '(none)'}`);
  out.push(`  ${resolution.note}`);
  if (resolution.error !== undefined) out.push(`  error: ${resolution.error}`);
  if (report.ifPinned !== undefined) out.push(`  pinned: ${report.ifPinned.reference}`);
  if (report.artifact !== undefined) {
    out.push('');
    if ('error' in report.artifact) {
      out.push(`Manifest    could not be read: ${report.artifact.error}`);
    } else {
      const artifact = report.artifact;
      out.push(`Manifest    ${artifact.digest}`);
      out.push(
        `  ${artifact.kind === 'index' ? 'index' : 'manifest'} ${artifact.mediaType}${artifact.artifactType === undefined ? '' : `, artifactType ${artifact.artifactType}`}`,
      );
      artifact.manifests.forEach((manifest, index) => {
        if (artifact.kind === 'index')
          out.push(
            `  manifest ${index + 1} of the index: ${manifest.digest}${manifest.artifactType === undefined ? '' : `, artifactType ${manifest.artifactType}`}`,
          );
        const facts = [
          manifest.format === undefined ? undefined : `format ${manifest.format}`,
          manifest.licenses === undefined ? undefined : `licenses ${manifest.licenses.join(', ')}`,
        ].filter((fact) => fact !== undefined);
        out.push(`  config ${manifest.config.mediaType} (${formatBytes(manifest.config.size)})${facts.length === 0 ? '' : `: ${facts.join('; ')}`}`);
        out.push(`  ${manifest.layers.length} layer(s), ${formatBytes(manifest.totalSize)} in total`);
        if (manifest.layers.length > 0) {
          out.push(
            indent(
              renderTable(
                ['MEDIA TYPE', 'SIZE', 'FILE'],
                manifest.layers.map((layer) => [layer.mediaType, formatBytes(layer.size), layer.file ?? '(no file path)']),
              ).trimEnd(),
              4,
            ),
          );
        }
      });
    }
  }
  out.push('');
  if (report.policy !== undefined) {
    out.push(`Policy      ${report.policy.description}`);
    for (const warning of report.policy.warnings) out.push(`  warning: ${warning}`);
  }
  out.push(`Policies    namespace ${report.namespace}, policy revision ${report.policyRevision}`);
  out.push(indent(evaluationText(report.evaluation), 2));
  out.push('');
  out.push(`Verdict     ${report.evaluation.verdict.toUpperCase()}`);
  for (const finding of report.evaluation.findings) {
    const source = finding.policy.startsWith('(') ? finding.rule : `${finding.policy}/${finding.rule}`;
    out.push(indent(`- ${source} (${finding.mode}): ${firstLine(finding.reason)}\n  Fix: ${finding.fix}`, 2));
  }
  if (report.ifPinned !== undefined) {
    out.push('');
    out.push(`If pinned   ${report.ifPinned.reference}: ${report.ifPinned.verdict.toUpperCase()}`);
    out.push(indent(evaluationText(report.ifPinned), 2));
  }
  out.push('');
  out.push('Timing');
  const width = Math.max(...report.timings.map((timing) => timing.ms.toFixed(2).length));
  out.push(
    indent(
      renderTable(
        ['STEP', 'TIME'],
        report.timings.map((timing) => [timing.step, `${timing.ms.toFixed(2).padStart(width)} ms`]),
      ).trimEnd(),
      2,
    ),
  );
  return `${out.join('\n')}\n`;
}

// ---- the command -------------------------------------------------------------------------------

export async function runExplain(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags('explain', EXPLAIN.flags, args);
  if (positionals.length !== 1) throw new UsageError(`explain needs exactly one REFERENCE, got ${positionals.length}`);
  const output = outputFormat(values.output, ['text', 'json']);
  if (values.namespace === '' || values['policy-namespace'] === '')
    throw new UsageError(`${values.namespace === '' ? '-n' : '--policy-namespace'} needs a namespace name`);
  const source = choosePolicySource({
    policy: values.policy,
    config: values.config,
    cluster: 'when-configured',
    clusterFlags: values.kubeconfig !== undefined || values.context !== undefined,
    policyNamespace: values['policy-namespace'],
    namespacedPolicies: values['namespaced-policies'] === true,
  });
  // The Kubernetes client is loaded only when the policy comes from the cluster.
  const cluster = source.kind === 'configmaps' ? await import('./cluster.ts') : undefined;
  const kubeConfig = cluster?.loadClusterConfig({ kubeconfig: values.kubeconfig, context: values.context });
  const { policySet, info } = await loadPolicy(source, kubeConfig);
  // As kubectl: the context's namespace where a cluster is used.
  const namespace = values.namespace ?? (cluster === undefined || kubeConfig === undefined ? 'default' : cluster.contextNamespace(kubeConfig));
  const report: ExplainReport = {
    ...(await explainReference(positionals[0] as string, policySet, { namespace, offline: values.offline === true })),
    policy: info,
  };
  if (output === 'json') printJson(io, report);
  else io.stdout(renderExplain(report));
  return report.evaluation.verdict === 'deny' ? EXIT_DENIED : EXIT_OK;
}
