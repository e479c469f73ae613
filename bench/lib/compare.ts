/**
 * modelgate against the allow-all baseline, fairly on a shared machine: the
 * two servers alternate round by round so that drift hits both alike, the
 * figures are medians, and each run also reports server CPU per request,
 * which the load generator sharing the cores disturbs far less than throughput.
 */
import { latencyAtRate, throughput } from './load.ts';
import type { Latency, Target } from './load.ts';
import type { ServerProcess } from './servers.ts';

export interface Measurement {
  readonly perSecond: number;
  readonly errors: number;
  /** Server CPU (all threads) per request, in microseconds. */
  readonly cpuPerRequest: number;
}

export interface Comparison {
  readonly baseline: readonly Measurement[];
  readonly gate: readonly Measurement[];
  readonly baselineLatency: Latency;
  readonly gateLatency: Latency;
  /** Median modelgate throughput / median allow-all throughput. */
  readonly ratio: number;
  /** Median allow-all CPU per request / median modelgate CPU per request. */
  readonly cpuRatio: number;
  readonly errors: number;
}

export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function measureThroughput(start: () => Promise<ServerProcess>, ca: string, body: string, seconds: number): Promise<Measurement> {
  const server = await start();
  try {
    const target: Target = { origin: server.origin, ca, body };
    await throughput(target, 1); // warm-up: JIT, TLS sessions, caches
    const before = server.cpuMicros();
    const result = await throughput(target, seconds);
    return { perSecond: result.perSecond, errors: result.errors, cpuPerRequest: (server.cpuMicros() - before) / result.requests };
  } finally {
    await server.stop();
  }
}

async function measureLatency(start: () => Promise<ServerProcess>, ca: string, body: string, rate: number, seconds: number): Promise<Latency> {
  const server = await start();
  try {
    const target: Target = { origin: server.origin, ca, body };
    await throughput(target, 1);
    return await latencyAtRate(target, rate, seconds);
  } finally {
    await server.stop();
  }
}

export async function compare(options: {
  readonly baseline: () => Promise<ServerProcess>;
  readonly gate: () => Promise<ServerProcess>;
  readonly ca: string;
  readonly body: string;
  readonly seconds: number;
  readonly rounds: number;
  readonly rate: number;
}): Promise<Comparison> {
  const { ca, body, seconds } = options;
  const baseline: Measurement[] = [];
  const gate: Measurement[] = [];
  for (let round = 0; round < options.rounds; round++) {
    baseline.push(await measureThroughput(options.baseline, ca, body, seconds));
    gate.push(await measureThroughput(options.gate, ca, body, seconds));
  }
  const gateLatency = await measureLatency(options.gate, ca, body, options.rate, seconds);
  const baselineLatency = await measureLatency(options.baseline, ca, body, options.rate, seconds);
  return {
    baseline,
    gate,
    baselineLatency,
    gateLatency,
    ratio: median(gate.map((m) => m.perSecond)) / median(baseline.map((m) => m.perSecond)),
    cpuRatio: median(baseline.map((m) => m.cpuPerRequest)) / median(gate.map((m) => m.cpuPerRequest)),
    errors: gate.reduce((sum, m) => sum + m.errors, 0) + gateLatency.errors,
  };
}

export function describeComparison(comparison: Comparison, rate: number): string[] {
  const fmt = (n: number, digits = 2): string => n.toFixed(digits);
  const { baseline, gate } = comparison;
  return [
    `  allow-all  ${baseline.map((m) => fmt(m.perSecond, 0)).join(' / ')} req/s   ${fmt(median(baseline.map((m) => m.cpuPerRequest)), 1)} µs CPU per request   p99 ${fmt(comparison.baselineLatency.p99)} ms @${rate}/s`,
    `  modelgate  ${gate.map((m) => fmt(m.perSecond, 0)).join(' / ')} req/s   ${fmt(median(gate.map((m) => m.cpuPerRequest)), 1)} µs CPU per request   p50 ${fmt(comparison.gateLatency.p50)} ms  p99 ${fmt(comparison.gateLatency.p99)} ms @${rate}/s  errors ${comparison.errors}`,
    `  throughput ratio (medians) ${fmt(comparison.ratio * 100, 1)}% (target ≥ 80%)   CPU-cost ratio ${fmt(comparison.cpuRatio * 100, 1)}%   p99 ${fmt(comparison.gateLatency.p99)} ms (target ≤ 5 ms)`,
  ];
}

export function meetsTargets(comparison: Comparison): boolean {
  return comparison.ratio >= 0.8 && comparison.gateLatency.p99 <= 5 && comparison.errors === 0;
}
