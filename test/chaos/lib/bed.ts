// The chaos test bed: a real kube-apiserver (etcd, no nodes), two `modelgate
// serve` processes (from the sources, --shutdown-delay 2) behind HAProxy, and
// manifests/' webhook configuration pointed at HAProxy on 127.0.0.1, as a
// Deployment with two replicas behind its Service would be.

import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from '../../e2e/lib/cluster.ts';
import type { Cluster } from '../../e2e/lib/cluster.ts';
import { renderWebhookConfiguration, startModelgate, writeConfigFile, writePolicyDirectory } from '../../e2e/lib/modelgate.ts';
import type { Modelgate } from '../../e2e/lib/modelgate.ts';
import { freePort } from '../../e2e/lib/ports.ts';
import { stopAll } from '../../e2e/lib/processes.ts';
import { loadTools } from '../../e2e/lib/tools.ts';
import { startLoadBalancer } from './haproxy.ts';
import type { LoadBalancer } from './haproxy.ts';
import { UNPINNED, isDenial } from './load.ts';
import { makeServingCerts } from './serving-certs.ts';
import type { ServingCerts } from './serving-certs.ts';

export const TEAM = 'team-a';
export const SHUTDOWN_DELAY_S = 2;

export interface ChaosBed {
  readonly cluster: Cluster;
  readonly serving: ServingCerts;
  /** g1, g2: HAProxy's backend names, in order. */
  readonly gates: readonly Modelgate[];
  readonly lb: LoadBalancer;
  stop(): Promise<void>;
}

export async function startChaosBed(): Promise<ChaosBed> {
  loadTools(); // fails fast with "run install.sh" when the test bed is missing
  const [cluster, serving] = await Promise.all([startCluster(), makeServingCerts()]);
  try {
    const policyDir = writePolicyDirectory({
      'team.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'team-pinning' },
          spec: { mode: 'enforce', match: { namespaces: ['team-*'] }, requireDigest: true },
        },
      ],
    });
    const configFile = writeConfigFile({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'Config', spec: { defaultAction: 'allow' } });
    const ports = [await freePort(), await freePort()];
    const gates = await Promise.all(
      ports.map((port) =>
        startModelgate({
          certs: serving.certs,
          policyPaths: [policyDir],
          configFile,
          port,
          extraArgs: ['--shutdown-delay', String(SHUTDOWN_DELAY_S)],
        }),
      ),
    );
    const lb = await startLoadBalancer(ports);
    await Promise.all([lb.waitUp('g1'), lb.waitUp('g2')]);
    await cluster.createNamespace(TEAM);
    const url = `https://127.0.0.1:${lb.port}/validate`;
    const { configuration } = await renderWebhookConfiguration(cluster, { url, port: lb.port, certs: serving.certs });
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(configuration) });
    await waitUntilEffective(cluster);
    return {
      cluster,
      serving,
      gates,
      lb,
      stop: async () => {
        await Promise.allSettled([...gates.map((gate) => gate.stop()), lb.stop()]);
        await cluster.stop();
        await stopAll();
      },
    };
  } catch (error) {
    await cluster.stop();
    await stopAll();
    throw error;
  }
}

/** Until a dry-run pod with a tag-only model is denied by modelgate. */
async function waitUntilEffective(cluster: Cluster): Promise<void> {
  const probe = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'probe', namespace: TEAM },
    spec: { containers: [{ name: 'c', image: 'registry.invalid/c:1' }], volumes: [{ name: 'model', image: { reference: UNPINNED } }] },
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await cluster.request('POST', `/api/v1/namespaces/${TEAM}/pods?dryRun=All`, probe);
    if (isDenial(response.status, response.body)) return;
    if (Date.now() > deadline) throw new Error(`the webhook did not become effective within 60 s: HTTP ${response.status} ${response.body}`);
    await sleep(250);
  }
}
