/**
 * modelgate beside a peer (issue 16): Kyverno's verifyImages, built from source by
 * test/e2e/tools/install-peers.sh, and modelgate's `signatures`, each in turn the only webhook of
 * the same kube-apiserver, judging the same cosign v2 signatures (the real cosign binary) of
 * ModelPacks on the test bed's docker-registry (plain HTTP on loopback, no referrers API).
 * Admissions are dry-run Pod creations with one image volume, sent to the API server; both peers
 * run out of cluster on 127.0.0.1 and are judged on the same figures:
 *
 *   - warm: the same signed digest again and again (both cache a verified digest);
 *   - cold: every admission names a freshly signed digest;
 *   - throughput: BENCH_CONCURRENCY warm admissions in flight for BENCH_SECONDS;
 *   - CPU per admission of the peer (and of the API server) from /proc/<pid>/stat; RSS.
 *
 * The API server alone (no webhook) is measured first, for scale. Figures only, no assertion.
 *
 *   bash test/e2e/tools/install-peers.sh   (once: builds Kyverno, ~8 minutes on 2 cores)
 *   npm run bench:peers   (BENCH_WARM 200, BENCH_COLD 40, BENCH_CONCURRENCY 8, BENCH_SECONDS 10)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from '../test/e2e/lib/cluster.ts';
import { generateSigningKeys } from '../test/e2e/lib/cosign.ts';
import { makeModelgateCerts, renderWebhookConfiguration, writeConfigFile, writePolicyDirectory } from '../test/e2e/lib/modelgate.ts';
import { startDockerRegistry } from '../test/e2e/lib/registries.ts';
import { loadTools } from '../test/e2e/lib/tools.ts';
import { closePushAgents } from '../test/support/push.ts';
import { ensureBuilt } from './lib/build.ts';
import { closedLoop, cpuMs, dryRunClient, memoryMiB, sequential } from './lib/dry-run-load.ts';
import type { DryRunClient } from './lib/dry-run-load.ts';
import { applyKyvernoPolicy, installKyvernoCrds, kyvernoPolicy, locateKyverno, removeKyvernoWebhooks, startKyverno } from './lib/kyverno.ts';
import { printPeerTable } from './lib/peer-report.ts';
import type { PeerFigures } from './lib/peer-report.ts';
import { spawnModelgate } from './lib/servers.ts';
import { pushFreshModel, signedModels } from './lib/signed-models.ts';

const WARM = Number(process.env['BENCH_WARM'] ?? '200');
const COLD = Number(process.env['BENCH_COLD'] ?? '40');
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? '8');
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '10');
const NAMESPACE = 'bench';

const kyverno = locateKyverno();
if (kyverno === undefined) {
  // Non-zero: the comparison was asked for and nothing was measured; a zero exit would read as a run.
  console.error('bench:peers needs Kyverno, which the test bed does not build by default. Build it once (about 8 minutes on 2 cores):');
  console.error('  bash test/e2e/tools/install.sh && bash test/e2e/tools/install-peers.sh');
  process.exit(1);
}
loadTools();
if (ensureBuilt() !== undefined) console.log('rebuilt dist/ (the server runs bin/modelgate.js)');

const [cluster, registry, keys, certs] = await Promise.all([startCluster(), startDockerRegistry(), generateSigningKeys(), makeModelgateCerts()]);
await cluster.createNamespace(NAMESPACE);
await installKyvernoCrds(cluster, kyverno);
console.log(
  `Kyverno ${kyverno.version} vs modelgate, through kube-apiserver ${loadTools().versions.KUBE_APISERVER}; signing ${2 * COLD + 1} ModelPacks with cosign v2…`,
);
const [warmReference, ...coldReferences] = await signedModels(registry, keys, 2 * COLD + 1);
if (warmReference === undefined) throw new Error('no signed model');
const unsigned = await pushFreshModel(registry);
const client = dryRunClient(cluster, NAMESPACE, CONCURRENCY);

/** Waits until the peer's webhook judges: an unsigned model denied by it (`marker` names its webhook), the signed one admitted. */
async function awaitEnforcing(peer: string, marker: RegExp): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const denied = await client.create(unsigned);
    const admitted = await client.create(warmReference as string);
    // A webhook's denial: 403 from a validating webhook, 400 from Kyverno's mutating one.
    const message = denied.status === 201 ? '' : String((JSON.parse(denied.body) as { message?: unknown }).message);
    const refused = (denied.status === 400 || denied.status === 403) && marker.test(message);
    if (refused && admitted.status === 201) return;
    if (Date.now() > deadline)
      throw new Error(
        `${peer} does not enforce: unsigned → ${denied.status} ${denied.body.slice(0, 400)}; signed → ${admitted.status} ${admitted.body.slice(0, 400)}`,
      );
    await sleep(500);
  }
}

/** Idle CPU of the peer (ms per second) over 5 s after 2 s of rest: its own background work, outside any admission. */
async function idleCpu(pid: number): Promise<number> {
  await sleep(2000);
  const before = cpuMs(pid);
  await sleep(5000);
  return (cpuMs(pid) - before) / 5;
}

async function measure(name: string, pid: number | undefined, cold: readonly string[], load: DryRunClient): Promise<PeerFigures> {
  const pids = pid === undefined ? [cluster.apiserver.pid] : [pid, cluster.apiserver.pid];
  await sequential(
    load,
    Array.from({ length: 20 }, () => warmReference as string),
    pids,
  );
  const warm = await sequential(
    load,
    Array.from({ length: WARM }, () => warmReference as string),
    pids,
  );
  const coldRun = cold.length === 0 ? undefined : await sequential(load, cold, pids);
  const throughput = await closedLoop(load, warmReference as string, CONCURRENCY, SECONDS, pids);
  const memory = pid === undefined ? undefined : memoryMiB(pid);
  const idle = pid === undefined ? undefined : await idleCpu(pid);
  const server = (values: readonly number[]): number | undefined => (pid === undefined ? undefined : values[0]);
  console.log(`  ${name}: measured (${throughput.errors} errors under load)`);
  return {
    name,
    warm: { p50: warm.p50, p95: warm.p95 },
    ...(coldRun === undefined ? {} : { cold: { p50: coldRun.p50, p95: coldRun.p95 } }),
    perSecond: throughput.perSecond,
    errors: throughput.errors,
    cpuWarm: server(throughput.cpuPerAdmission),
    cpuCold: coldRun === undefined ? undefined : server(coldRun.cpuPerAdmission),
    apiserverCpuWarm: throughput.cpuPerAdmission.at(-1) as number,
    memory,
    idleCpu: idle,
  };
}

async function kyvernoPhase(cold: readonly string[]): Promise<PeerFigures> {
  const running = await startKyverno(cluster, kyverno as NonNullable<typeof kyverno>);
  try {
    await applyKyvernoPolicy(cluster, kyvernoPolicy(NAMESPACE, registry.host, keys.publicKeyPem));
    await awaitEnforcing('Kyverno', /admission webhook "[^"]*kyverno[^"]*" denied/);
    return await measure(`Kyverno ${(kyverno as NonNullable<typeof kyverno>).version}`, running.process.pid, cold, client);
  } finally {
    await running.process.stop();
    await cluster.request('DELETE', '/apis/kyverno.io/v1/clusterpolicies/signed-models');
    await removeKyvernoWebhooks(cluster);
  }
}

async function modelgatePhase(cold: readonly string[]): Promise<PeerFigures> {
  const policyDir = writePolicyDirectory({
    'signed-models.yaml': [
      {
        apiVersion: 'modelgate.dev/v1alpha1',
        kind: 'ModelPolicy',
        metadata: { name: 'signed-models' },
        spec: {
          mode: 'enforce',
          match: { namespaces: [NAMESPACE], references: [`${registry.host}/**`] },
          requireDigest: true,
          signatures: { authorities: [{ name: 'release-key', key: keys.publicKeyPem, tlog: 'optional' }] },
        },
      },
    ],
  });
  const configFile = writeConfigFile({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'Config', spec: { registries: [{ host: registry.host, insecure: true }] } });
  const gate = await spawnModelgate(certs.dir, certs.caPem, ['--policy', policyDir, '--config', configFile]);
  const port = Number(new URL(gate.origin).port);
  try {
    const { configuration } = await renderWebhookConfiguration(cluster, { url: `${gate.origin}/validate`, port, certs });
    const created = await cluster.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', configuration);
    if (created.status !== 201) throw new Error(`registering modelgate: HTTP ${created.status}: ${created.body}`);
    await awaitEnforcing('modelgate', /admission webhook "validate\.modelgate\.dev" denied/);
    return await measure('modelgate', gate.pid, cold, client);
  } finally {
    await gate.stop();
    await cluster.request('DELETE', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/modelgate');
  }
}

try {
  const baseline = await measure('API server alone (no webhook)', undefined, [], client);
  const peer = await kyvernoPhase(coldReferences.slice(0, COLD));
  const ours = await modelgatePhase(coldReferences.slice(COLD));
  printPeerTable(baseline, peer, ours, { warm: WARM, cold: COLD, concurrency: CONCURRENCY, seconds: SECONDS });
} finally {
  await client.close();
  await closePushAgents();
  await registry.stop();
  await cluster.stop();
}
