/**
 * Admissions through a real kube-apiserver: dry-run creations of a Pod with one image volume
 * (`POST …/pods?dryRun=All`), so the API server runs its whole admission chain, calls whatever
 * webhooks are registered, and stores nothing. Measured from the client: end-to-end latency and
 * closed-loop throughput; the process under test is watched from /proc (CPU ticks, RSS).
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { Cluster } from '../../test/e2e/lib/cluster.ts';

/** The container image: never pulled (no nodes) and outside both peers' policies. */
const APP_IMAGE = `registry.invalid/bench/app@sha256:${'0'.repeat(64)}`;

export function podWithModel(name: string, reference: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      containers: [{ name: 'app', image: APP_IMAGE, volumeMounts: [{ name: 'model', mountPath: '/models', readOnly: true }] }],
      volumes: [{ name: 'model', image: { reference, pullPolicy: 'IfNotPresent' } }],
    },
  };
}

export interface Admission {
  /** 201 admitted, 403 denied by a webhook, anything else an error. */
  readonly status: number;
  readonly ms: number;
  readonly body: string;
}

export interface DryRunClient {
  create(reference: string): Promise<Admission>;
  close(): Promise<void>;
}

export function dryRunClient(cluster: Cluster, namespace: string, connections: number): DryRunClient {
  const pool = new Pool(cluster.server, {
    connections,
    pipelining: 1,
    connect: { ca: cluster.ca.certPem, cert: cluster.admin.certPem, key: cluster.admin.keyPem },
  });
  let sequence = 0;
  return {
    async create(reference) {
      const body = JSON.stringify(podWithModel(`bench-${++sequence}`, reference));
      const started = performance.now();
      const response = await pool.request({
        path: `/api/v1/namespaces/${namespace}/pods?dryRun=All`,
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
      });
      const text = await response.body.text();
      return { status: response.statusCode, ms: performance.now() - started, body: text };
    },
    close: () => pool.close(),
  };
}

/** utime + stime of a process from /proc/<pid>/stat, in milliseconds (10 ms ticks). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** VmRSS and VmHWM of a process, in MiB. */
export function memoryMiB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) / 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

export interface Sequential {
  readonly p50: number;
  readonly p95: number;
  /** CPU (ms) per admission over the run, for each pid watched. */
  readonly cpuPerAdmission: readonly number[];
}

/** One admission after another; every one must be admitted (a peer that errors is not measured). */
export async function sequential(client: DryRunClient, references: readonly string[], pids: readonly number[]): Promise<Sequential> {
  const before = pids.map(cpuMs);
  const latencies: number[] = [];
  for (const reference of references) {
    const admission = await client.create(reference);
    if (admission.status !== 201) throw new Error(`${reference}: HTTP ${admission.status}: ${admission.body.slice(0, 600)}`);
    latencies.push(admission.ms);
  }
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    cpuPerAdmission: pids.map((pid, index) => (cpuMs(pid) - (before[index] as number)) / references.length),
  };
}

export interface Throughput {
  readonly perSecond: number;
  readonly errors: number;
  readonly cpuPerAdmission: readonly number[];
}

/** `concurrency` admissions of one reference in flight for `seconds`; CPU per admission for each pid. */
export async function closedLoop(client: DryRunClient, reference: string, concurrency: number, seconds: number, pids: readonly number[]): Promise<Throughput> {
  const before = pids.map(cpuMs);
  let admitted = 0;
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const admission = await client.create(reference).catch(() => undefined);
        if (admission?.status === 201) admitted++;
        else errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: admitted / elapsed, errors, cpuPerAdmission: pids.map((pid, index) => (cpuMs(pid) - (before[index] as number)) / Math.max(1, admitted)) };
}
