/**
 * What `check` and `audit` print: one row per image-volume reference of each
 * object, judged by the admission engine exactly as a CREATE of the object,
 * as a kubectl-style table (denial messages on stderr) or as JSON.
 */
import { handleAdmission } from '../admission/handle.ts';
import { creationRequest } from '../admission/objects.ts';
import type { KubeObject } from '../admission/objects.ts';
import { describeObject, findingsOf, verdictOf } from '../engine/decision.ts';
import type { Verdict } from '../engine/decision.ts';
import type { Engine } from '../engine/engine.ts';
import type { ReferenceVerdict } from '../engine/evaluate.ts';
import type { Finding } from '../core/finding.ts';
import { formatReference } from '../reference/parse.ts';
import { renderTable } from './table.ts';
import { UsageError } from './usage.ts';

export interface CommandIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stdin: () => Promise<string>;
}

export type RowVerdict = Verdict;

export interface CheckRow {
  readonly object: string;
  readonly volume: string;
  readonly path: string;
  readonly reference: string;
  readonly verdict: RowVerdict;
  readonly reasons: readonly string[];
}

/** One object judged as a CREATE: its rows (none without image volumes) and its denial message. */
export interface ObjectResult {
  readonly object: string;
  readonly rows: readonly CheckRow[];
  readonly denial: string | undefined;
}

/** The -o value, one of `allowed` (the first is the default). */
export function outputFormat<T extends string>(value: string | undefined, allowed: readonly [T, ...T[]]): T {
  const format = value ?? allowed[0];
  if (!(allowed as readonly string[]).includes(format)) throw new UsageError(`-o must be ${allowed.join(' or ')}, got ${JSON.stringify(format)}`);
  return format as T;
}

/** `policy/rule: reason`, without the policy for built-in rules. */
export function findingReason(finding: Finding): string {
  return `${finding.policy === '(default)' || finding.policy === '(reference)' ? '' : `${finding.policy}/`}${finding.rule}: ${finding.reason}`;
}

export function rowOf(object: string, verdict: ReferenceVerdict): CheckRow {
  return {
    object,
    volume: verdict.site.volume,
    path: verdict.site.path,
    reference: verdict.reference === undefined ? String(verdict.site.reference) : formatReference(verdict.reference),
    verdict: verdictOf(verdict.results),
    reasons: findingsOf(verdict.results).map(findingReason),
  };
}

export async function evaluateObject(object: KubeObject, engine: Engine): Promise<ObjectResult> {
  const outcome = await handleAdmission(creationRequest(object), engine);
  const name = describeObject(outcome.object);
  return { object: name, rows: outcome.decision.verdicts.map((verdict) => rowOf(name, verdict)), denial: outcome.decision.message };
}

/** evaluateObject over a list with at most `concurrency` in flight; results in input order. */
export async function evaluateObjects(objects: readonly KubeObject[], engine: Engine, concurrency = 1): Promise<ObjectResult[]> {
  const results: ObjectResult[] = new Array<ObjectResult>(objects.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < objects.length) {
      const index = next++;
      results[index] = await evaluateObject(objects[index] as KubeObject, engine);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, objects.length)) }, worker));
  return results;
}

export const TABLE_HEADERS: readonly string[] = ['OBJECT', 'VOLUME', 'REFERENCE', 'VERDICT', 'REASONS'];

export function tableOf(rows: readonly CheckRow[]): string {
  return renderTable(
    TABLE_HEADERS,
    rows.map((row) => [row.object, row.volume, row.reference, row.verdict.toUpperCase(), row.reasons.join('; ') || '-']),
  );
}

/** The table (or the "no references" line) on stdout and each denial message on stderr, as `check` prints them. */
export function printTable(io: CommandIO, rows: readonly CheckRow[], objects: number, denials: readonly string[]): void {
  io.stdout(rows.length === 0 ? `no image-volume model references in ${objects} object(s)\n` : tableOf(rows));
  for (const denial of denials) io.stderr(`\n${denial}\n`);
}

export function printJson(io: CommandIO, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}
