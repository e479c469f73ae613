// `modelgate check -o json` from the TypeScript sources (src/cli/main.ts, as bin/modelgate.js
// runs dist/; never a stale build), with its report rows keyed by the object's name and each
// row's denial text beside it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO_ROOT } from './modelgate.ts';
import { loopbackEnv, runCommand } from './processes.ts';

const ENTRY = 'const { main } = await import(process.argv[1]); process.exitCode = await main(process.argv.slice(2));';

/** The CLI from the sources with `args`; exit 0 (allowed) or 1 (denied) expected. */
async function runCli(args: readonly string[]): Promise<{ readonly stdout: string }> {
  const run = await runCommand(process.execPath, ['--input-type=module', '--eval', ENTRY, join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args], {
    env: loopbackEnv(),
    cwd: REPO_ROOT,
    allowFailure: true,
    timeoutMs: 180_000,
  });
  assert.ok(run.code === 0 || run.code === 1, `modelgate ${args[0]} exited ${run.code}: ${run.stderr}`);
  return run;
}

export interface CheckRow {
  readonly object: string;
  readonly reference: string;
  readonly verdict: string;
  readonly reasons: readonly string[];
  /** The report's denial of this object, '' when none. */
  readonly denial: string;
}

interface Report {
  readonly rows: readonly Omit<CheckRow, 'denial'>[];
  readonly denials: readonly string[];
}

/** Runs `modelgate check -f <manifests> --policy <dir> --config <file> -o json`; exit 0 or 1 (denials) expected. */
export async function checkManifests(manifests: string, policyDir: string, configFile: string): Promise<Map<string, CheckRow>> {
  const run = await runCli(['check', '-f', manifests, '--policy', policyDir, '--config', configFile, '-o', 'json']);
  const report = JSON.parse(run.stdout) as Report;
  const rows = new Map<string, CheckRow>();
  for (const row of report.rows) {
    const name = row.object.split('/').at(-1) ?? '';
    rows.set(name, { ...row, denial: report.denials.find((denial) => denial.includes(`/${name}`)) ?? '' });
  }
  return rows;
}

/** `modelgate explain <reference> -n <namespace> --policy <dir> --config <file>` as text (exit 0 or 1). */
export async function explainReference(reference: string, namespace: string, policyDir: string, configFile: string): Promise<string> {
  const run = await runCli(['explain', reference, '-n', namespace, '--policy', policyDir, '--config', configFile]);
  return run.stdout;
}
