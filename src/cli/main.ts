/** Entry point of the `modelgate` and `kubectl-modelgate` executables. */
import { ManifestError } from '../admission/objects.ts';
import { PolicyLoadError } from '../policy/load.ts';
import { TlsFilesError } from '../server/tls.ts';
import { runAudit } from './audit.ts';
import { runCheck } from './check.ts';
import { ClusterError } from './cluster.ts';
import { runExplain } from './explain.ts';
import type { CommandIO } from './report.ts';
import { runServe } from './serve.ts';
import { EXIT_USAGE, HELP, UsageError } from './usage.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const processIO: CommandIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: readStdin,
};

export async function main(argv: readonly string[], io: CommandIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await runServe(rest);
      case 'check':
        return await runCheck(rest, io);
      case 'audit':
        return await runAudit(rest, io);
      case 'explain':
        return await runExplain(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout(HELP);
        return command === undefined ? EXIT_USAGE : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof PolicyLoadError || error instanceof ManifestError || error instanceof TlsFilesError || error instanceof ClusterError) {
      io.stderr(`modelgate: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      io.stderr(`modelgate: ${error.message}\nRun \`modelgate help\` for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
