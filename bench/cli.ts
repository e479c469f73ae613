/**
 * CLI startup benchmark (issue 10, item 10): the wall time of a whole
 * process, spawn to exit, for
 *   - `node -e 0`, the floor;
 *   - `node bin/modelgate.js --help`;
 *   - `node bin/modelgate.js check -f <one small file>` with the bundled policy;
 * each with the built dist/ (what bin/modelgate.js runs when dist/ exists, as
 * the package ships) and with the TypeScript sources (Node strips the types).
 * Runs are interleaved (one of each case per round), so that a burst of load
 * from elsewhere on the machine spreads over every case alike; each case
 * reports the median. Target: a median at most 300 ms above `node -e 0`.
 *
 *   npm run build && npm run bench:cli      (BENCH_RUNS to change the runs, default 20)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env['BENCH_RUNS'] ?? '20');
const WARMUP = 2;
const TARGET_MS = 300;
const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'modelgate.js');
const DIST_MAIN = join(ROOT, 'dist', 'src', 'cli', 'main.js');

const work = mkdtempSync(join(tmpdir(), 'modelgate-bench-cli-'));
const manifest = join(work, 'deployment.yaml');
writeFileSync(
  manifest,
  `apiVersion: apps/v1
kind: Deployment
metadata: {name: llm, namespace: team-a}
spec:
  selector: {matchLabels: {app: llm}}
  template:
    metadata: {labels: {app: llm}}
    spec:
      containers: [{name: server, image: "ghcr.io/acme/server@sha256:${'b'.repeat(64)}"}]
      volumes: [{name: model, image: {reference: "ghcr.io/acme/models/llama@sha256:${'a'.repeat(64)}"}}]
`,
);
// What bin/modelgate.js does, with the sources instead of dist/.
const fromSources = join(work, 'modelgate-sources.mjs');
writeFileSync(
  fromSources,
  `const { main } = await import(${JSON.stringify(new URL('../src/cli/main.ts', import.meta.url).href)});\nprocess.exitCode = await main(process.argv.slice(2));\n`,
);

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** Compared with the target (the floor itself is not). */
  readonly judged: boolean;
}

const built = existsSync(DIST_MAIN);
const cases: Case[] = [
  { name: 'node -e 0', args: ['-e', '0'], judged: false },
  ...(built
    ? [
        { name: 'dist: modelgate --help', args: [BIN, '--help'], judged: true },
        { name: 'dist: modelgate check -f small.yaml', args: [BIN, 'check', '-f', manifest], judged: true },
      ]
    : []),
  { name: 'sources: modelgate --help', args: [fromSources, '--help'], judged: true },
  { name: 'sources: modelgate check -f small.yaml', args: [fromSources, 'check', '-f', manifest], judged: true },
];

/** The newest modification time under a directory. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

// A command's own settings must not change what it does.
const env = { ...process.env, MODELGATE_POLICY: '', MODELGATE_CONFIG: '', NODE_OPTIONS: '' };

function once(entry: Case): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, entry.args, { env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`${entry.name} exited ${String(result.status)}: ${result.stderr}`);
  return ms;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

if (!built) console.log('dist/ is not built (npm run build): measuring the sources only\n');
else if (newest(join(ROOT, 'src')) > newest(join(ROOT, 'dist', 'src')))
  console.log('warning: src/ changed after the last build; run npm run build for current dist/ figures\n');

for (let round = 0; round < WARMUP; round++) for (const entry of cases) once(entry);
const times = new Map<Case, number[]>(cases.map((entry) => [entry, []]));
for (let round = 0; round < RUNS; round++) for (const entry of cases) times.get(entry)?.push(once(entry));

const floor = median(times.get(cases[0] as Case) ?? []);
const rows = cases.map((entry) => {
  const samples = times.get(entry) ?? [];
  const value = median(samples);
  const over = value - floor;
  return [
    entry.name,
    `${value.toFixed(0)} ms`,
    `${Math.min(...samples).toFixed(0)} ms`,
    entry.judged ? `+${over.toFixed(0)} ms` : '-',
    entry.judged ? (over <= TARGET_MS ? 'OK' : 'MISSED') : '-',
  ];
});
const headers = ['CASE', 'MEDIAN', 'MIN', 'OVER node -e 0', `TARGET (<= +${TARGET_MS} ms)`];
const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
for (const row of [headers, ...rows])
  console.log(
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('   ')
      .trimEnd(),
  );
console.log(`\n${RUNS} runs of each case, interleaved, after ${WARMUP} warm-up rounds; Node ${process.version}, ${process.platform}/${process.arch}`);
process.exitCode = rows.some((row) => row[4] === 'MISSED') ? 1 : 0;
