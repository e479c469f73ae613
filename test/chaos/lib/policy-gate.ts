// `modelgate serve` following the policy ConfigMaps of a real kube-apiserver
// through a TCP proxy that can cut its connections (its watch and lists), with
// the client side of the tests that fault the control plane: AdmissionReviews
// sent straight to it, /readyz, its log, and ConfigMap writes.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { Cluster } from '../../e2e/lib/cluster.ts';
import { REPO_ROOT, makeModelgateCerts, serveArgs } from '../../e2e/lib/modelgate.ts';
import { freePort } from '../../e2e/lib/ports.ts';
import { loopbackEnv, startProcess } from '../../e2e/lib/processes.ts';
import type { ManagedProcess } from '../../e2e/lib/processes.ts';
import { admissionReview, kubeObject } from '../../support/objects.ts';
import { UNPINNED } from './load.ts';
import { startTcpProxy } from './tcp-proxy.ts';
import type { TcpProxy } from './tcp-proxy.ts';

export const POLICY_LABELS = { 'modelgate.dev/policy': 'true' };

export interface GateAnswer {
  readonly uid: string;
  readonly allowed: boolean;
  /** The denial message and warnings: they name the policies that answered. */
  readonly text: string;
}

export interface PolicyGate {
  readonly proxy: TcpProxy;
  /** The current (or last) process. */
  readonly process: ManagedProcess;
  /** A Pod with a tag-only model in `namespace`, reviewed by modelgate directly. */
  review(namespace: string): Promise<GateAnswer>;
  readyz(): Promise<number>;
  /** The JSON log lines of every run, in order. */
  logLines(): Record<string, unknown>[];
  /** SIGTERM, then the same command again (same port, kubeconfig). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts modelgate on the policy ConfigMaps of `namespace`, reaching the API server only through a cuttable proxy. */
export async function startPolicyGate(cluster: Cluster, namespace: string): Promise<PolicyGate> {
  const certs = await makeModelgateCerts();
  const agent = new Agent({ connect: { ca: certs.caPem, servername: 'localhost' }, connections: 4 });
  const proxy = await startTcpProxy(Number(new URL(cluster.server).port));
  const kubeconfig = JSON.parse(readFileSync(cluster.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const entry of kubeconfig.clusters) entry.cluster.server = `https://127.0.0.1:${proxy.port}`;
  const kubeconfigFile = join(certs.dir, 'kubeconfig-via-proxy');
  writeFileSync(kubeconfigFile, JSON.stringify(kubeconfig), { mode: 0o600 });
  const port = await freePort();
  const logFiles: string[] = [];
  const launch = async (): Promise<ManagedProcess> => {
    const started = await startProcess({
      name: 'modelgate-policy-watch',
      command: process.execPath,
      args: serveArgs(port, certs.certFile, certs.keyFile, ['--namespace', namespace]),
      cwd: REPO_ROOT,
      env: loopbackEnv({ KUBECONFIG: kubeconfigFile, MODELGATE_LOG_LEVEL: 'info', HOME: join(certs.dir, 'home') }),
      ready: { kind: 'http', url: `https://127.0.0.1:${port}/readyz`, ca: certs.caPem },
    });
    logFiles.push(started.logFile);
    return started;
  };
  let gate = await launch();
  return {
    proxy,
    get process() {
      return gate;
    },
    async review(target) {
      const body = admissionReview(kubeObject('Pod', [{ name: 'model', reference: UNPINNED }], { namespace: target }));
      const uid = String((body['request'] as Record<string, unknown>)['uid']);
      const response = await request(`https://127.0.0.1:${port}/validate`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
        dispatcher: agent,
      });
      const parsed = (await response.body.json()) as { response: { allowed: boolean; warnings?: string[]; status?: { message?: string } } };
      return { uid, allowed: parsed.response.allowed, text: [parsed.response.status?.message ?? '', ...(parsed.response.warnings ?? [])].join('\n') };
    },
    async readyz() {
      const response = await request(`https://127.0.0.1:${port}/readyz`, { dispatcher: agent });
      await response.body.text();
      return response.statusCode;
    },
    logLines: () =>
      logFiles.flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      ),
    async restart() {
      await gate.stop();
      gate = await launch();
    },
    async stop() {
      await agent.close();
      await gate.stop();
      await proxy.close();
    },
  };
}

export interface ConfigMapBody {
  readonly apiVersion: 'v1';
  readonly kind: 'ConfigMap';
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Readonly<Record<string, string>> };
  readonly data: Readonly<Record<string, string>>;
}

/** Creates or replaces a ConfigMap straight at the API server (never through the gate's proxy). */
export async function putConfigMap(cluster: Cluster, configMap: ConfigMapBody): Promise<void> {
  const path = `/api/v1/namespaces/${configMap.metadata.namespace}/configmaps`;
  let response = await cluster.request('PUT', `${path}/${configMap.metadata.name}`, configMap);
  if (response.status === 404) response = await cluster.request('POST', path, configMap);
  if (response.status !== 200 && response.status !== 201) throw new Error(`${configMap.metadata.name}: HTTP ${response.status} ${response.body}`);
}

/** Polls `check` until it holds; ms from `since`, or -1 after `limitMs`. */
export async function msUntil(check: () => Promise<boolean>, since: number, limitMs = 10_000): Promise<number> {
  while (Date.now() - since < limitMs) {
    if (await check()) return Date.now() - since;
    await sleep(20);
  }
  return -1;
}
