/**
 * Command-line flags: each command's table (commands.ts) drives parsing, the
 * unknown-flag message with its "did you mean" and the command's --help, so
 * the three never disagree. Light on purpose: main.ts reads it before it
 * loads any command.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './usage.ts';

export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  /** The value's name in help, e.g. FILE. */
  readonly value?: string;
  /** One line, or several separated by \n. */
  readonly help: string;
  /** The environment variable read when the flag is absent, as help shows it. */
  readonly env?: string;
}

export type Flags = Readonly<Record<string, Flag>>;

/** Every command takes -h/--help; main.ts answers it before loading the command. */
export const HELP_FLAG = { type: 'boolean', short: 'h', help: "print this command's usage" } as const satisfies Flag;

const isParseError = (error: unknown): error is Error => error instanceof Error && String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');

/** Optimal string alignment distance: edits, with a swap of neighbours counting as one (`--namepsace`). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The flag a mistyped one most likely meant: a close spelling, a unique prefix, or a short flag in the other case. */
export function suggestFlag(typed: string, flags: Flags): string | undefined {
  const entries = Object.entries(flags);
  if (/^-[^-]$/.test(typed)) {
    const other = entries.find(([, flag]) => flag.short !== undefined && flag.short.toLowerCase() === typed.slice(1).toLowerCase());
    return other === undefined ? undefined : `-${other[1].short}`;
  }
  const name = typed.replace(/^-+/, '').split('=')[0] ?? '';
  if (name === '') return undefined;
  const scored = entries
    .map(([long]) => ({ long, distance: editDistance(name.toLowerCase(), long) }))
    .sort((a, b) => a.distance - b.distance || a.long.localeCompare(b.long));
  const best = scored[0];
  // Two edits at most, and fewer than half the letters: `--out` is not `--offline`.
  if (best !== undefined && best.distance <= 2 && best.distance * 2 < name.length && scored[1]?.distance !== best.distance) return `--${best.long}`;
  const prefixed = entries.filter(([long]) => name.length >= 3 && long.startsWith(name.toLowerCase()));
  return prefixed.length === 1 ? `--${prefixed[0]?.[0]}` : undefined;
}

function unknownFlag(command: string, typed: string, flags: Flags): UsageError {
  const suggestion = suggestFlag(typed, flags);
  if (suggestion === undefined) return new UsageError(`unknown flag ${typed} for ${command}`);
  return new UsageError(`unknown flag ${typed} for ${command}; did you mean ${suggestion}?`, { pointToHelp: false });
}

/** parseArgs's words for a flag without its value (or with one it does not take), in ours. */
function valueError(command: string, error: Error, flags: Flags): UsageError {
  const message = error.message.replace(/\s*\n\s*/g, ' ');
  const named = /^Option '(?:-(\w), )?--?([\w-]+)/.exec(message);
  const long =
    named?.[2] !== undefined && Object.hasOwn(flags, named[2])
      ? named[2]
      : Object.entries(flags).find(([, flag]) => flag.short !== undefined && flag.short === named?.[2])?.[0];
  const flag = long === undefined ? undefined : flags[long];
  if (long === undefined || flag === undefined) return new UsageError(`${command}: ${message}`);
  const label = `${flag.short === undefined ? '' : `-${flag.short}/`}--${long}`;
  if (/argument missing$/.test(message)) return new UsageError(`${label} needs a value (${flag.value ?? 'VALUE'})`);
  if (/argument is ambiguous/.test(message))
    return new UsageError(`${label} needs a value (${flag.value ?? 'VALUE'}); for one that starts with a dash, write --${long}=-VALUE`);
  if (/does not take an argument$/.test(message)) return new UsageError(`--${long} takes no value`);
  return new UsageError(`${command}: ${message}`);
}

/** The tokens parseArgs sees, without failing on unknown flags. */
function tokensOf(args: readonly string[], flags: Flags) {
  return parseArgs({ args: [...args], options: flags, strict: false, allowPositionals: true, tokens: true }).tokens;
}

/** Whether -h/--help is among the flags (not merely a value of another flag, nor after `--`). */
export function asksForHelp(args: readonly string[], flags: Flags): boolean {
  try {
    return tokensOf(args, flags).some((token) => token.kind === 'option' && token.name === 'help');
  } catch {
    return false;
  }
}

/**
 * Parses a command's arguments with its flag table. Unknown flags, a missing
 * value and the like are UsageErrors of one line that name the command.
 */
export function parseFlags<F extends Flags>(command: string, flags: F, args: readonly string[]) {
  const end = args.indexOf('--');
  for (const arg of end === -1 ? args : args.slice(0, end)) {
    // `-policy` would otherwise read as the short flags -p -o -l ...
    const single = /^-([a-z][a-z-]+)(?:=.*)?$/.exec(arg);
    if (single !== null && Object.hasOwn(flags, single[1] as string))
      throw new UsageError(`unknown flag ${arg.split('=')[0]} for ${command}; did you mean --${single[1]}?`, { pointToHelp: false });
  }
  let tokens: ReturnType<typeof tokensOf>;
  try {
    tokens = tokensOf(args, flags);
  } catch (error) {
    if (isParseError(error)) throw valueError(command, error, flags);
    throw error;
  }
  for (const token of tokens) {
    if (token.kind === 'option' && !Object.hasOwn(flags, token.name)) throw unknownFlag(command, token.rawName, flags);
  }
  try {
    return parseArgs({ args: [...args], options: flags, strict: true, allowPositionals: true });
  } catch (error) {
    if (isParseError(error)) throw valueError(command, error, flags);
    throw error;
  }
}
