/**
 * Rule results → verdicts, in this one place: enforce failures deny with a
 * message that lists each failure, warn failures become warnings, audit
 * failures become audit annotations. Passed, skipped and not-checked results
 * never count; a failed or errored result counts as its mode says.
 */
import type { PolicyMode } from '../policy/types.ts';
import { formatReference } from '../reference/parse.ts';
import type { ReferenceVerdict } from './evaluate.ts';
import type { Finding } from '../core/finding.ts';
import { isFinding } from './result.ts';
import type { FailedResult, RuleResult } from './result.ts';

/** What a set of results comes to: deny (an enforce failure), else warn, else audit, else allow. */
export type Verdict = 'allow' | 'deny' | 'warn' | 'audit';

/** The strongest mode among the results that count (enforce, then warn, then audit); undefined when none counts. */
export function strongestMode(results: readonly RuleResult[]): PolicyMode | undefined {
  let strongest: PolicyMode | undefined;
  for (const result of results) {
    if (!isFinding(result)) continue;
    if (result.mode === 'enforce') return 'enforce';
    if (result.mode === 'warn') strongest = 'warn';
    else if (strongest === undefined) strongest = 'audit';
  }
  return strongest;
}

export function verdictOf(results: readonly RuleResult[]): Verdict {
  const mode = strongestMode(results);
  return mode === undefined ? 'allow' : mode === 'enforce' ? 'deny' : mode;
}

const NO_FINDINGS: readonly FailedResult[] = [];

/** The results that count (failures and errors), in order; the same empty list when none does. */
export function findingsOf(results: readonly RuleResult[]): readonly FailedResult[] {
  let findings: FailedResult[] | undefined;
  for (const result of results) {
    if (isFinding(result)) {
      findings ??= [];
      findings.push(result);
    }
  }
  return findings ?? NO_FINDINGS;
}

export interface ObjectIdentity {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface Decision {
  readonly allowed: boolean;
  /** The denial message; undefined when allowed. */
  readonly message: string | undefined;
  readonly warnings: readonly string[];
  readonly auditAnnotations: Readonly<Record<string, string>>;
  readonly verdicts: readonly ReferenceVerdict[];
  /** Short reasons for the log line: `<path>: <policy>/<rule>`. */
  readonly reasons: readonly string[];
}

/** Kubernetes keeps warnings short; kubectl prints each on its own line. */
const MAX_WARNING_LENGTH = 120;
/**
 * An answer stays small whatever the object: the API server passes warnings
 * on (it truncates past 4,096 characters in all) and the denial message to
 * the user, and writes audit annotations to its audit log. The first findings
 * are listed, then how many more there are.
 */
export const ANSWER_LIMITS = {
  /** Model references listed in a denial. */
  references: 20,
  /** Findings listed per reference. */
  findingsPerReference: 10,
  warnings: 20,
  auditEntries: 20,
  /** Reasons in the review's log line. */
  reasons: 50,
  /** Characters of a denial message, whatever its lists hold. */
  messageLength: 32 * 1024,
} as const;

export function describeObject(object: ObjectIdentity): string {
  return `${object.kind} ${object.namespace === '' ? '' : `${object.namespace}/`}${object.name}`;
}

function describeSite(verdict: ReferenceVerdict): string {
  const written = typeof verdict.site.reference === 'string' ? verdict.site.reference : JSON.stringify(verdict.site.reference ?? null);
  const resolved = verdict.reference === undefined ? '' : formatReference(verdict.reference);
  const shown = resolved !== '' && resolved !== written ? `${JSON.stringify(written)} (${resolved})` : JSON.stringify(written);
  const what = verdict.site.kind === 'storageUri' ? 'storage URI' : `volume ${JSON.stringify(verdict.site.volume)}`;
  return `${what} at ${verdict.site.path}, reference ${shown}`;
}

const firstLine = (text: string): string => text.split('\n', 1)[0] ?? '';
const isBuiltIn = (finding: Finding): boolean => finding.policy.startsWith('(');

/** A finding as indented lines: every line of a multi-line reason stays inside its item, and the fix has a line of its own. */
function describeFinding(finding: Finding, indent: string): string {
  const source = isBuiltIn(finding) ? `rule ${finding.rule}` : `policy ${JSON.stringify(finding.policy)} rule ${finding.rule}`;
  const [head, ...rest] = finding.reason.split('\n');
  return [`${indent}${source}: ${head ?? ''}`, ...rest.map((line) => `${indent}  ${line}`), `${indent}  Fix: ${finding.fix}.`].join('\n');
}

/** One short line for kubectl's Warning output: which rule, which volume, why. */
function describeWarning(verdict: ReferenceVerdict, finding: Finding): string {
  const rule = isBuiltIn(finding) ? finding.rule : `${finding.policy}/${finding.rule}`;
  const what = verdict.site.kind === 'storageUri' ? `storage URI ${verdict.site.path}` : `volume ${JSON.stringify(verdict.site.volume)}`;
  return truncate(`modelgate: ${rule}: ${what}: ${firstLine(finding.reason)}`, MAX_WARNING_LENGTH);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Appends `… and N more <what>` when a list was cut. */
function more(count: number, what: string): string {
  return `… and ${count} more ${what}`;
}

export function decide(object: ObjectIdentity, verdicts: readonly ReferenceVerdict[]): Decision {
  const denials: string[] = [];
  const warnings: string[] = [];
  const audits: string[] = [];
  const reasons: string[] = [];
  let deniedReferences = 0;
  let warningCount = 0;
  let auditCount = 0;
  let reasonCount = 0;
  for (const verdict of verdicts) {
    const enforced: string[] = [];
    let enforcedCount = 0;
    for (const finding of verdict.results) {
      if (!isFinding(finding)) continue;
      if (reasonCount++ < ANSWER_LIMITS.reasons)
        reasons.push(`${verdict.site.path}: ${finding.policy}/${finding.rule}${finding.mode === 'enforce' ? '' : ` (${finding.mode})`}`);
      if (finding.mode === 'enforce') {
        if (enforcedCount++ < ANSWER_LIMITS.findingsPerReference) enforced.push(describeFinding(finding, '    '));
      } else if (finding.mode === 'warn') {
        if (warningCount++ < ANSWER_LIMITS.warnings) warnings.push(describeWarning(verdict, finding));
      } else if (auditCount++ < ANSWER_LIMITS.auditEntries) {
        audits.push(`${verdict.site.path}: ${finding.policy}/${finding.rule}: ${truncate(firstLine(finding.reason), 200)}`);
      }
    }
    if (enforcedCount === 0) continue;
    if (enforcedCount > enforced.length) enforced.push(`    ${more(enforcedCount - enforced.length, 'failed rules')}`);
    if (deniedReferences++ < ANSWER_LIMITS.references) denials.push(`- ${describeSite(verdict)}:\n${enforced.join('\n')}`);
  }
  if (reasonCount > reasons.length) reasons.push(more(reasonCount - reasons.length, 'reasons'));
  if (warningCount > warnings.length) warnings.push(`modelgate: ${more(warningCount - warnings.length, 'warnings')}`);
  if (auditCount > audits.length) audits.push(more(auditCount - audits.length, 'findings'));
  const auditAnnotations: Record<string, string> = audits.length > 0 ? { 'policy-violations': audits.join('; ') } : {};
  if (deniedReferences === 0) return { allowed: true, message: undefined, warnings, auditAnnotations, verdicts, reasons };
  if (deniedReferences > denials.length) denials.push(more(deniedReferences - denials.length, 'model references failed policy'));
  const count = deniedReferences === 1 ? 'a model reference' : `${deniedReferences} model references`;
  const message = truncate(`modelgate denied ${describeObject(object)}: ${count} failed policy\n${denials.join('\n')}`, ANSWER_LIMITS.messageLength);
  return { allowed: false, message, warnings, auditAnnotations, verdicts, reasons };
}

/** The one denial for an object with more model references than the Config allows: judging each would be the attack. */
export function tooManyReferences(object: ObjectIdentity, count: number, limit: number): Decision {
  return {
    allowed: false,
    message: `modelgate denied ${describeObject(object)}: it has ${count} model references to judge, more than the limit of ${limit} per object\n  Fix: mount fewer model volumes per object, or raise spec.limits.maxReferencesPerObject in the modelgate Config.`,
    warnings: [],
    auditAnnotations: {},
    verdicts: [],
    reasons: [`(limits)/maxReferencesPerObject: ${count} > ${limit}`],
  };
}
