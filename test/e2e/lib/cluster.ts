// A real Kubernetes control plane for e2e tests: etcd + kube-apiserver on
// loopback, no nodes. Enough to exercise admission webhooks: the apiserver
// runs the full admission chain (incl. ValidatingAdmissionWebhook) on every
// create, and pods simply stay Pending because nothing schedules them.

import { rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { createCA, createKeyPair, issueCert } from '../../support/pki.ts';
import type { CertificateAuthority, KeyPairFiles } from '../../support/pki.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { guardedClientEnv, loopbackEnv, runCommand, startProcess } from './processes.ts';
import type { ExitInfo, ManagedProcess, RunOptions, RunResult, SpawnOptions } from './processes.ts';
import { loadTools } from './tools.ts';
import { scratchDir } from './workdir.ts';

export interface ClusterOptions {
  /** Extra kube-apiserver flags, appended last (later flags win). */
  extraApiserverArgs?: readonly string[];
  /** Time allowed for /readyz; default 180 s (a cold start on 2 cores takes ~10-30 s). */
  readyTimeoutMs?: number;
}

export interface KubeResponse {
  status: number;
  body: string;
}

export interface Cluster {
  /** Path of a kubeconfig (certificates embedded) for the admin user. */
  readonly kubeconfig: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** The cluster CA (signs the serving cert and the admin client cert). */
  readonly ca: CertificateAuthority;
  /** Client certificate of user "modelgate-e2e-admin" in group system:masters. */
  readonly admin: KeyPairFiles;
  /** The running (or last) etcd and kube-apiserver; restarts replace them. */
  readonly etcd: ManagedProcess;
  readonly apiserver: ManagedProcess;
  /** http://127.0.0.1:PORT, etcd's client URL (its gRPC gateway answers JSON at /v3/...). */
  readonly etcdUrl: string;
  /**
   * Kills etcd with `signal` (default SIGKILL: a crash), and once it is gone
   * starts it again on the same data directory and ports.
   */
  restartEtcd(options?: { signal?: NodeJS.Signals; downMs?: number }): Promise<void>;
  /**
   * Stops kube-apiserver (SIGTERM, SIGKILL after 10 s) and starts it again with the same flags;
   * resolves when /readyz is ok, with how it exited and how long that took.
   */
  restartApiserver(options?: { downMs?: number }): Promise<{ exit: ExitInfo; stopMs: number }>;
  /** Runs the test-bed kubectl against this cluster. */
  kubectl(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** A raw request to the apiserver as the admin user. */
  request(method: string, path: string, body?: unknown): Promise<KubeResponse>;
  /**
   * Creates a namespace and its "default" ServiceAccount. Needed because no
   * kube-controller-manager runs, and the ServiceAccount admission plugin
   * rejects pods whose service account does not exist.
   */
  createNamespace(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The service CIDR; the first address (10.96.0.1) becomes the "kubernetes" Service. */
export const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/24';

function kubeRequest(server: string, ca: string, admin: KeyPairFiles, method: string, path: string, body?: unknown): Promise<KubeResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(
      new URL(path, server),
      {
        method,
        ca,
        cert: admin.certPem,
        key: admin.keyPem,
        timeout: 30_000,
        headers: payload === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function kubeconfigYaml(server: string, ca: CertificateAuthority, admin: KeyPairFiles): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  // JSON is valid YAML; kubectl reads either.
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'modelgate-e2e', cluster: { server, 'certificate-authority-data': b64(ca.certPem) } }],
      users: [{ name: 'modelgate-e2e-admin', user: { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.keyPem) } }],
      contexts: [{ name: 'modelgate-e2e', context: { cluster: 'modelgate-e2e', user: 'modelgate-e2e-admin', namespace: 'default' } }],
      'current-context': 'modelgate-e2e',
    },
    null,
    2,
  );
}

async function ensureCreated(res: Promise<KubeResponse>, what: string): Promise<void> {
  const r = await res;
  if (r.status !== 201 && r.status !== 409) throw new Error(`creating ${what}: HTTP ${r.status}: ${r.body}`);
}

/** Starts etcd and kube-apiserver; resolves when /readyz answers "ok". */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const tools = loadTools();
  const dir = scratchDir('cluster');
  const pki = join(dir, 'pki');
  const started: ManagedProcess[] = [];
  const cleanup = async (): Promise<void> => {
    // apiserver first: it would log etcd errors while shutting down otherwise
    for (const p of [...started].reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${apiPort}`;

    const ca = await createCA(pki, 'modelgate-e2e-cluster-ca');
    const serving = await issueCert(ca, pki, {
      name: 'apiserver',
      commonName: 'kube-apiserver',
      // 10.96.0.1 is the in-cluster "kubernetes" Service address.
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ipAddresses: ['127.0.0.1', '10.96.0.1'],
      usage: 'server',
    });
    const admin = await issueCert(ca, pki, {
      name: 'admin',
      commonName: 'modelgate-e2e-admin',
      organizations: ['system:masters'],
      usage: 'client',
    });
    const sa = await createKeyPair(pki, 'service-account');

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcdOptions: SpawnOptions = {
      name: 'etcd',
      command: tools.paths.ETCD,
      args: [
        '--name=modelgate-e2e',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=modelgate-e2e=${peerUrl}`,
        '--initial-cluster-state=new',
        // Test data is thrown away: skip fsync, it dominates etcd latency.
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      ready: { kind: 'http', url: `${etcdUrl}/health`, accept: (s, body) => s === 200 && body.includes('"health":"true"') },
      readyTimeoutMs: 30_000,
    };
    let etcd = await startProcess(etcdOptions);
    started.push(etcd);

    const apiserverOptions: SpawnOptions = {
      name: 'kube-apiserver',
      command: tools.paths.KUBE_APISERVER,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${serving.certFile}`,
        `--tls-private-key-file=${serving.keyFile}`,
        `--client-ca-file=${ca.certFile}`,
        '--authorization-mode=RBAC',
        // Listed explicitly (they are on by default too) because the suite depends on them.
        '--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy',
        `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
        `--service-account-key-file=${sa.publicKeyFile}`,
        `--service-account-signing-key-file=${sa.privateKeyFile}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        '--allow-privileged=true',
        '--profiling=false',
        // Fewer background goroutines on a 2-core machine; APF is irrelevant here.
        '--enable-priority-and-fairness=false',
        ...(options.extraApiserverArgs ?? []),
      ],
      // No proxy variables: the apiserver must dial webhooks on 127.0.0.1 directly.
      env: loopbackEnv(),
      ready: {
        kind: 'http',
        url: `${server}/readyz`,
        ca: ca.certPem,
        cert: admin.certPem,
        key: admin.keyPem,
        accept: (s, b) => s === 200 && b.trim() === 'ok',
      },
      readyTimeoutMs: options.readyTimeoutMs ?? 180_000,
    };
    let apiserver = await startProcess(apiserverOptions);
    started.push(apiserver);
    // A restarted process replaces the old one in `started` (cleanup stops apiserver before etcd).
    const replace = (old: ManagedProcess, fresh: ManagedProcess): void => {
      started.splice(started.indexOf(old), 1, fresh);
    };

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(server, ca, admin), { mode: 0o600 });

    const request = (method: string, path: string, body?: unknown): Promise<KubeResponse> => kubeRequest(server, ca.certPem, admin, method, path, body);
    const createNamespace = async (name: string): Promise<void> => {
      await ensureCreated(request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }), `namespace ${name}`);
      await ensureCreated(
        request('POST', `/api/v1/namespaces/${name}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } }),
        `serviceaccount ${name}/default`,
      );
    };
    // The apiserver creates namespace "default" itself (and may still be at
    // it right after /readyz): createNamespace tolerates 409.
    await createNamespace('default');

    return {
      kubeconfig,
      server,
      ca,
      admin,
      get etcd() {
        return etcd;
      },
      get apiserver() {
        return apiserver;
      },
      etcdUrl,
      restartEtcd: async ({ signal = 'SIGKILL', downMs = 0 } = {}) => {
        process.kill(etcd.pid, signal);
        // Polled: the child is unref'd, awaiting `exited` alone would not keep the loop alive.
        while (etcd.isRunning()) await sleep(20);
        await etcd.stop(); // forgets it (already exited)
        await sleep(downMs);
        const fresh = await startProcess(etcdOptions);
        replace(etcd, fresh);
        etcd = fresh;
      },
      restartApiserver: async ({ downMs = 0 } = {}) => {
        const stopping = Date.now();
        const exit = await apiserver.stop();
        const stopMs = Date.now() - stopping;
        await sleep(downMs);
        const fresh = await startProcess(apiserverOptions);
        replace(apiserver, fresh);
        apiserver = fresh;
        return { exit, stopMs };
      },
      kubectl: (args, opts = {}) => runCommand(tools.paths.KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env: guardedClientEnv(), ...opts }),
      request,
      createNamespace,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
