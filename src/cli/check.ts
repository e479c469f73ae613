/** `modelgate check`: the admission engine on manifests from files or stdin. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { objectsFromText } from '../admission/objects.ts';
import type { KubeObject } from '../admission/objects.ts';
import { createEngine } from '../engine/engine.ts';
import type { Engine } from '../engine/engine.ts';
import { loadPolicySet } from '../policy/load.ts';
import { policyOptions } from './options.ts';
import { evaluateObjects, outputFormat, printJson, printTable } from './report.ts';
import type { CheckRow, CommandIO } from './report.ts';
import { EXIT_DENIED, EXIT_OK, UsageError } from './usage.ts';

export type { CheckRow, CommandIO } from './report.ts';

export interface CheckReport {
  readonly allowed: boolean;
  readonly policyRevision: string;
  readonly objects: number;
  readonly rows: readonly CheckRow[];
  readonly denials: readonly string[];
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
  const results = await evaluateObjects(objects, engine);
  const denials = results.flatMap((result) => (result.denial === undefined ? [] : [result.denial]));
  return { allowed: denials.length === 0, policyRevision: engine.policySet.revision, objects: objects.length, rows: results.flatMap((result) => result.rows), denials };
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
  const output = outputFormat(values.output, ['table', 'json']);
  const { policyPaths, configPath } = policyOptions(values);
  const policySet = await loadPolicySet(policyPaths, configPath);
  const objects: KubeObject[] = [];
  for (const file of files) objects.push(...objectsFromText(await readSource(file, io), file === '-' ? '(stdin)' : file));
  const report = await checkObjects(objects, createEngine(policySet, { offline: values.offline === true }));
  if (output === 'json') printJson(io, report);
  else printTable(io, report.rows, report.objects, report.denials);
  return report.allowed ? EXIT_OK : EXIT_DENIED;
}
