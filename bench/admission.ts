/**
 * Foundation benchmark: modelgate against an allow-all express HTTPS handler,
 * for a Pod with one digest-pinned image volume (default policy) and a Pod
 * with no image volume. Targets: throughput ≥ 80% of allow-all; p99 ≤ 5 ms at
 * a fixed 500 requests/s.
 *
 *   npm run bench            (BENCH_SECONDS: length of each run, default 5; BENCH_ROUNDS: alternating rounds, default 3)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCerts } from '../test/support/webhook-server.ts';
import { PINNED, admissionReview, kubeObject } from '../test/support/objects.ts';
import { compare, describeComparison, meetsTargets } from './lib/compare.ts';
import { startAllowAll, startModelgate } from './lib/servers.ts';

const seconds = Number(process.env['BENCH_SECONDS'] ?? '5');
const RATE = 500;
const certs = await makeCerts();
const ca = await readFile(join(certs.dir, 'ca.crt'), 'utf8');

const bodies = {
  'pinned image volume': JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: PINNED }]))),
  'no image volume': JSON.stringify(admissionReview(kubeObject('Pod', []))),
};

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '3');
let failed = false;
console.log(`modelgate admission benchmark: ${ROUNDS} alternating rounds of ${seconds} s per server, fixed load ${RATE} req/s, Node ${process.version}`);
for (const [name, body] of Object.entries(bodies)) {
  const comparison = await compare({
    baseline: () => startAllowAll(certs.dir, ca),
    gate: () => startModelgate(certs.dir, ca),
    ca,
    body,
    seconds,
    rounds: ROUNDS,
    rate: RATE,
  });
  const ok = meetsTargets(comparison);
  failed ||= !ok;
  console.log(`\n${name}`);
  for (const line of describeComparison(comparison, RATE)) console.log(line);
  console.log(`  ${ok ? 'OK' : 'MISSED'}`);
}
process.exitCode = failed ? 1 : 0;
