/**
 * The explain report as text: the reference, its digest, the manifest, each
 * matching policy's rules as the engine judged them, the signature
 * authorities, the attestations found and their conditions' values, the verdict with reasons and fixes, and the time of each step.
 */
import { formatBytes } from '../../artifact/quantity.ts';
import { ATTESTATIONS_RULE, requirementTitle } from '../../attestation/finding.ts';
import { renderTable } from '../table.ts';
import type { Evaluation, ExplainReport, RuleTrace } from './model.ts';

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
  else if (evaluation.builtIn.some((rule) => rule.rule === 'shortNames'))
    out.push('the reference names no registry and the Config denies short names: no policy is consulted, it is always denied');
  else if (evaluation.policies.length === 0)
    out.push(`no policy matches; the Config's defaultAction ${evaluation.builtIn.length === 0 ? 'allows it' : 'decides'}`);
  for (const policy of evaluation.policies) {
    out.push(`policy ${policy.name} (mode ${policy.mode}, onError ${policy.onError}, from ${policy.source})`);
    out.push(indent(rulesTable(policy.rules).trimEnd(), 2));
    for (const rule of policy.rules) if (rule.facts !== undefined) out.push(`  ${rule.rule}:`, indent(rule.facts.join('\n'), 4));
    // Each attestation requirement's result lists the attestations found, which verified and each condition's value.
    for (const rule of policy.rules) {
      if (rule.rule !== ATTESTATIONS_RULE) continue;
      for (const detail of rule.details) out.push(indent([requirementTitle(detail), ...detail.split('\n').slice(1)].join('\n'), 2));
    }
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
