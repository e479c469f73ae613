/**
 * Entry point of the `modelgate` and `kubectl-modelgate` executables.
 *
 * Each command's module is imported when that command runs: the Kubernetes
 * client, express, pino and the registry client take a second to load, and
 * `--help` or a `check` of one file needs none of them.
 */
import { describeError, exitCodeOf } from '../core/errors.ts';
import { COMMANDS, commandSpec } from './commands.ts';
import type { CommandSpec } from './commands.ts';
import { asksForHelp, editDistance } from './flags.ts';
import { commandHelp, overviewHelp, version } from './help.ts';
import type { CommandIO } from './report.ts';
import { EXIT_USAGE, UsageError } from './usage.ts';

type Runner = (args: readonly string[], io: CommandIO) => Promise<number>;

const RUNNERS: Readonly<Record<string, () => Promise<Runner>>> = {
  serve: async () => {
    const { runServe } = await import('./serve.ts');
    return (args) => runServe(args);
  },
  check: async () => (await import('./check.ts')).runCheck,
  audit: async () => (await import('./audit.ts')).runAudit,
  explain: async () => (await import('./explain.ts')).runExplain,
  pin: async () => (await import('./pin.ts')).runPin,
};

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

function unknownCommand(command: string): UsageError {
  if (command.startsWith('-')) return new UsageError(`unknown flag ${command}: flags go after the command, as in modelgate check ${command} ...`);
  const closest = COMMANDS.map((spec) => ({ name: spec.name, distance: editDistance(command.toLowerCase(), spec.name) })).sort(
    (a, b) => a.distance - b.distance,
  )[0];
  if (closest !== undefined && closest.distance <= 2)
    return new UsageError(`unknown command ${JSON.stringify(command)}; did you mean ${closest.name}?`, { pointToHelp: false });
  return new UsageError(`unknown command ${JSON.stringify(command)} (commands: ${COMMANDS.map((spec) => spec.name).join(', ')}, help, version)`);
}

function help(topic: string | undefined): string {
  if (topic === undefined) return overviewHelp();
  const spec = commandSpec(topic);
  if (spec === undefined) throw unknownCommand(topic);
  return commandHelp(spec);
}

export async function main(argv: readonly string[], io: CommandIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  let spec: CommandSpec | undefined;
  try {
    switch (command) {
      case undefined:
        io.stdout(overviewHelp());
        return EXIT_USAGE;
      case 'help':
      case '--help':
      case '-h':
        io.stdout(help(rest[0]));
        return 0;
      case 'version':
      case '--version':
      case '-v':
        io.stdout(`modelgate ${version()}\n`);
        return 0;
    }
    spec = commandSpec(command);
    if (spec === undefined) throw unknownCommand(command);
    if (asksForHelp(rest, spec.flags)) {
      io.stdout(commandHelp(spec));
      return 0;
    }
    const run = await (RUNNERS[spec.name] as () => Promise<Runner>)();
    return await run(rest, io);
  } catch (error) {
    // An error whose code has an exit code says everything the user needs (core/errors.ts); any other is a bug: its stack, exit 1.
    const exitCode = exitCodeOf(error);
    if (exitCode === undefined) throw error;
    const hint =
      error instanceof UsageError && error.pointToHelp ? `Run \`modelgate ${spec === undefined ? 'help' : `${spec.name} --help`}\` for usage.\n` : '';
    io.stderr(`modelgate: ${describeError(error)}\n${hint}`);
    return exitCode;
  }
}
