/** Runs the CLI's main() in process, capturing what it prints. */
import { main } from '../../../src/cli/main.ts';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(args: string[], stdin = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), stdin: async () => stdin });
  return { code, stdout, stderr };
}
