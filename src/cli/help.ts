/** What `modelgate help`, `modelgate COMMAND --help` and `modelgate --version` print. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-root.ts';
import { COMMANDS } from './commands.ts';
import type { CommandSpec } from './commands.ts';
import type { Flag } from './flags.ts';

const exitCodes = (which: string): string => `Exit codes${which}: 0 allowed (warnings included), 1 something would be denied,
2 usage, policy or cluster errors (unreachable, unauthorized, forbidden) and empty input.`;

function flagLabel(long: string, flag: Flag): string {
  const value = flag.type === 'string' ? ` ${flag.value ?? 'VALUE'}` : '';
  return `${flag.short === undefined ? '    ' : `-${flag.short}, `}--${long}${value}`;
}

function flagTable(flags: CommandSpec['flags']): string {
  const rows = Object.entries(flags).map(([long, flag]) => {
    const lines = flag.help.split('\n');
    // The variable goes on the flag's last line: `... (env MODELGATE_CONFIG)`.
    if (flag.env !== undefined) lines.push(`${lines.pop() ?? ''} (env ${flag.env})`);
    return { label: flagLabel(long, flag), lines };
  });
  const width = Math.max(...rows.map((row) => row.label.length)) + 3;
  return rows.map((row) => row.lines.map((line, index) => `  ${(index === 0 ? row.label : '').padEnd(width)}${line}`).join('\n')).join('\n');
}

export function commandHelp(spec: CommandSpec): string {
  const usage = spec.synopsis.map((line, index) => `${index === 0 ? '  modelgate ' : '            '}${line}`).join('\n');
  return `modelgate ${spec.name}: ${spec.about}\n\nUsage:\n${usage}\n\nFlags:\n${flagTable(spec.flags)}\n${spec.notes === undefined ? '' : `\n${spec.notes}\n`}${spec.name === 'serve' ? '' : `\n${exitCodes('')}\n`}`;
}

export function overviewHelp(): string {
  const usage = COMMANDS.flatMap((spec) => spec.synopsis.map((line, index) => `${index === 0 ? '  modelgate ' : '            '}${line}`));
  return `modelgate: admission control for AI models mounted as OCI image volumes

Usage:
${usage.join('\n')}
  modelgate help [COMMAND]       this overview, or a command's flags (also: modelgate COMMAND --help)
  modelgate version              the version (also: --version, -v)

Commands:
${COMMANDS.map((spec) => `  ${spec.name.padEnd(9)}${spec.summary}`).join('\n')}

As a kubectl plugin (kubectl-modelgate on PATH): kubectl modelgate audit -A, kubectl modelgate pin -f DIR -w, ...

${exitCodes(' (check, audit, explain, pin)')}
Run \`modelgate COMMAND --help\` for a command's flags and where its policy comes from.
`;
}

export function version(): string {
  const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}
