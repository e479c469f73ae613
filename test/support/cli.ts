/** Runs the CLI's main() in process, capturing what it prints. */
import type { ExplainReport } from '../../src/cli/explain.ts';
import { main } from '../../src/cli/main.ts';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Environment for one run: MODELGATE_POLICY and MODELGATE_CONFIG are unset
 * unless given, so that the shell running the tests does not change them.
 * `undefined` unsets a variable.
 */
export type RunEnv = Readonly<Record<string, string | undefined>>;

export async function runCli(args: string[], stdin = '', env: RunEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const wanted: RunEnv = { MODELGATE_POLICY: undefined, MODELGATE_CONFIG: undefined, ...env };
  const saved = Object.fromEntries(Object.keys(wanted).map((key) => [key, process.env[key]]));
  const apply = (values: RunEnv): void => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  apply(wanted);
  try {
    const code = await main(args, {
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
      stdin: async () => stdin,
    });
    return { code, stdout, stderr };
  } finally {
    apply(saved);
  }
}

/** The JSON report of `modelgate explain -o json`. */
export function explainReport(result: Run): ExplainReport {
  return JSON.parse(result.stdout) as ExplainReport;
}

/** One rule's entry in an explain report's evaluation. */
export const explainedRule = (evaluation: ExplainReport['evaluation'], policy: string, name: string) =>
  evaluation.policies.find((p) => p.name === policy)?.rules.find((entry) => entry.rule === name);
