/**
 * Foundation benchmark: modelgate against an allow-all express HTTPS handler,
 * for a Pod with one digest-pinned image volume (default policy) and a Pod
 * with no image volume. Targets: throughput ≥ 80% of allow-all; p99 ≤ 5 ms at
 * a fixed 500 requests/s.
 *
 *   npm run bench            (BENCH_SECONDS=N to change the length of each run)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCerts } from '../test/unit/helpers/server.ts';
import { PINNED, admissionReview, kubeObject } from '../test/unit/helpers/objects.ts';
import { latencyAtRate, throughput } from './lib/load.ts';
import type { Target } from './lib/load.ts';
import { startAllowAll, startModelgate } from './lib/servers.ts';
import type { ServerProcess } from './lib/servers.ts';

const seconds = Number(process.env['BENCH_SECONDS'] ?? '5');
const RATE = 500;
const certs = await makeCerts();
const ca = await readFile(join(certs.dir, 'ca.crt'), 'utf8');

const bodies = {
  'pinned image volume': JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]))),
  'no image volume': JSON.stringify(admissionReview(kubeObject('Pod', []))),
};

async function measure(start: () => Promise<ServerProcess>, body: string) {
  const server = await start();
  try {
    const target: Target = { origin: server.origin, ca, body };
    await throughput(target, 1); // warm-up: JIT, TLS sessions
    const rps = await throughput(target, seconds);
    const latency = await latencyAtRate(target, RATE, seconds);
    return { rps, latency };
  } finally {
    await server.stop();
  }
}

const fmt = (n: number, digits = 2): string => n.toFixed(digits);
let failed = false;
console.log(`modelgate admission benchmark: ${seconds} s per run, fixed load ${RATE} req/s, Node ${process.version}`);
for (const [name, body] of Object.entries(bodies)) {
  const baseline = await measure(() => startAllowAll(certs.dir, ca), body);
  const gate = await measure(() => startModelgate(certs.dir, ca), body);
  const ratio = gate.rps.perSecond / baseline.rps.perSecond;
  const ok = ratio >= 0.8 && gate.latency.p99 <= 5 && gate.rps.errors === 0 && gate.latency.errors === 0;
  failed ||= !ok;
  console.log(`\n${name}`);
  console.log(`  allow-all  ${fmt(baseline.rps.perSecond, 0)} req/s   p50 ${fmt(baseline.latency.p50)} ms  p99 ${fmt(baseline.latency.p99)} ms @${RATE}/s`);
  console.log(`  modelgate  ${fmt(gate.rps.perSecond, 0)} req/s   p50 ${fmt(gate.latency.p50)} ms  p99 ${fmt(gate.latency.p99)} ms @${RATE}/s  errors ${gate.rps.errors + gate.latency.errors}`);
  console.log(`  throughput ratio ${fmt(ratio * 100, 1)}% (target ≥ 80%)   p99 ${fmt(gate.latency.p99)} ms (target ≤ 5 ms)   ${ok ? 'OK' : 'MISSED'}`);
}
process.exitCode = failed ? 1 : 0;
