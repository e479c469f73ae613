/** `modelgate check`: the admission engine on manifests from files or stdin. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { handleAdmission } from '../admission/handle.ts';
import { creationRequest, objectsFromText } from '../admission/objects.ts';
import type { KubeObject } from '../admission/objects.ts';
import { describeObject } from '../engine/decision.ts';
import { createEngine } from '../engine/engine.ts';
import type { Engine } from '../engine/engine.ts';
import { loadPolicySet } from '../policy/load.ts';
import { formatReference } from '../reference/parse.ts';
import { policyOptions } from './options.ts';
import { renderTable } from './table.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

export interface CheckRow {
  readonly object: string;
  readonly volume: string;
  readonly path: string;
  readonly reference: string;
  readonly verdict: 'allow' | 'deny' | 'warn' | 'audit';
  readonly reasons: readonly string[];
}

export interface CheckReport {
  readonly allowed: boolean;
  readonly policyRevision: string;
  readonly objects: number;
  readonly rows: readonly CheckRow[];
  readonly denials: readonly string[];
}

export interface CommandIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stdin: () => Promise<string>;
}

async function readSource(source: string, io: CommandIO): Promise<string> {
  if (source === '-') return io.stdin();
  try {
    return await readFile(source, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

export async function checkObjects(objects: readonly KubeObject[], engine: Engine): Promise<CheckReport> {
  const rows: CheckRow[] = [];
  const denials: string[] = [];
  for (const object of objects) {
    const outcome = await handleAdmission(creationRequest(object), engine);
    const name = describeObject(outcome.object);
    if (outcome.decision.message !== undefined) denials.push(outcome.decision.message);
    for (const verdict of outcome.decision.verdicts) {
      const modes = new Set(verdict.findings.map((finding) => finding.mode));
      rows.push({
        object: name,
        volume: verdict.site.volume,
        path: verdict.site.path,
        reference: verdict.reference === undefined ? String(verdict.site.reference) : formatReference(verdict.reference),
        verdict: modes.has('enforce') ? 'deny' : modes.has('warn') ? 'warn' : modes.has('audit') ? 'audit' : 'allow',
        reasons: verdict.findings.map((finding) => `${finding.policy === '(default)' || finding.policy === '(reference)' ? '' : `${finding.policy}/`}${finding.rule}: ${finding.reason}`),
      });
    }
  }
  return { allowed: denials.length === 0, policyRevision: engine.policySet.revision, objects: objects.length, rows, denials };
}

export async function runCheck(args: readonly string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      policy: { type: 'string', multiple: true },
      config: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'table' },
      offline: { type: 'boolean', default: false },
    },
    allowPositionals: true,
  });
  const files = [...(values.filename ?? []), ...positionals];
  if (files.length === 0) throw new UsageError('check needs manifests: -f FILE (or -f - for stdin)');
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError(`-o must be table or json, got ${JSON.stringify(values.output)}`);
  const { policyPaths, configPath } = policyOptions(values);
  const policySet = await loadPolicySet(policyPaths, configPath);
  const objects: KubeObject[] = [];
  for (const file of files) objects.push(...objectsFromText(await readSource(file, io), file === '-' ? '(stdin)' : file));
  const report = await checkObjects(objects, createEngine(policySet, { offline: values.offline === true }));
  if (values.output === 'json') {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    if (report.rows.length === 0) {
      io.stdout(`no image-volume model references in ${report.objects} object(s)\n`);
    } else {
      io.stdout(
        renderTable(
          ['OBJECT', 'VOLUME', 'REFERENCE', 'VERDICT', 'REASONS'],
          report.rows.map((row) => [row.object, row.volume, row.reference, row.verdict.toUpperCase(), row.reasons.join('; ') || '-']),
        ),
      );
    }
    for (const denial of report.denials) io.stderr(`\n${denial}\n`);
  }
  return report.allowed ? EXIT_OK : EXIT_DENIED;
}
