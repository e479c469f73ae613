/**
 * Verdicts → one decision for the object: enforce failures deny with a message
 * that lists each failure, warn failures become warnings, audit failures
 * become audit annotations.
 */
import { formatReference } from '../reference/parse.ts';
import type { ReferenceVerdict } from './evaluate.ts';
import type { Finding } from './finding.ts';

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

export function describeObject(object: ObjectIdentity): string {
  return `${object.kind} ${object.namespace === '' ? '' : `${object.namespace}/`}${object.name}`;
}

function describeSite(verdict: ReferenceVerdict): string {
  const written = typeof verdict.site.reference === 'string' ? verdict.site.reference : JSON.stringify(verdict.site.reference ?? null);
  const resolved = verdict.reference === undefined ? '' : formatReference(verdict.reference);
  const shown = resolved !== '' && resolved !== written ? `${JSON.stringify(written)} (${resolved})` : JSON.stringify(written);
  return `volume ${JSON.stringify(verdict.site.volume)} at ${verdict.site.path}, reference ${shown}`;
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
  return truncate(`modelgate: ${rule}: volume ${JSON.stringify(verdict.site.volume)}: ${firstLine(finding.reason)}`, MAX_WARNING_LENGTH);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function decide(object: ObjectIdentity, verdicts: readonly ReferenceVerdict[]): Decision {
  const denials: string[] = [];
  const warnings: string[] = [];
  const audits: string[] = [];
  const reasons: string[] = [];
  for (const verdict of verdicts) {
    const bySeverity = new Map<string, string[]>();
    for (const finding of verdict.findings) {
      reasons.push(`${verdict.site.path}: ${finding.policy}/${finding.rule}${finding.mode === 'enforce' ? '' : ` (${finding.mode})`}`);
      const list = bySeverity.get(finding.mode) ?? [];
      list.push(describeFinding(finding, '    '));
      bySeverity.set(finding.mode, list);
      if (finding.mode === 'warn') {
        warnings.push(describeWarning(verdict, finding));
      } else if (finding.mode === 'audit') {
        audits.push(`${verdict.site.path}: ${finding.policy}/${finding.rule}: ${firstLine(finding.reason)}`);
      }
    }
    const enforced = bySeverity.get('enforce');
    if (enforced !== undefined) {
      denials.push(`- ${describeSite(verdict)}:\n${enforced.join('\n')}`);
    }
  }
  const auditAnnotations: Record<string, string> = audits.length > 0 ? { 'policy-violations': audits.join('; ') } : {};
  if (denials.length === 0) return { allowed: true, message: undefined, warnings, auditAnnotations, verdicts, reasons };
  const count = denials.length === 1 ? 'a model reference' : `${denials.length} model references`;
  const message = `modelgate denied ${describeObject(object)}: ${count} failed policy\n${denials.join('\n')}`;
  return { allowed: false, message, warnings, auditAnnotations, verdicts, reasons };
}
