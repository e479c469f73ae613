// A steady stream of pod creations through the real kube-apiserver, each one
// judged by the webhook: half real creates, half dry-run, half with a
// digest-pinned model (must be admitted), half with a tag-only one (must be
// denied by modelgate). Every answer is checked against the verdict it must
// have; anything else (a failed webhook call, a timeout, a wrong verdict)
// is a failure with the API server's own words.

import { createHash } from 'node:crypto';
import type { Cluster } from '../../e2e/lib/cluster.ts';
import { WEBHOOK_NAME } from '../../e2e/lib/modelgate.ts';

const hex = (seed: string): string => createHash('sha256').update(seed).digest('hex');
export const PINNED = `ghcr.io/acme/models/llama@sha256:${hex('llama')}`;
export const UNPINNED = 'ghcr.io/acme/models/llama:v1';
const APP_IMAGE = `registry.invalid/modelgate-chaos/server@sha256:${hex('server')}`;

export interface Failure {
  readonly at: number;
  readonly name: string;
  readonly expected: 'admitted' | 'denied';
  readonly got: string;
}

export interface LoadReport {
  readonly sent: number;
  readonly admitted: number;
  readonly denied: number;
  readonly failures: readonly Failure[];
  /** Requests not sent because `maxInFlight` were still waiting: the API server fell behind. */
  readonly skipped: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly seconds: number;
}

export interface LoadOptions {
  readonly namespace: string;
  readonly ratePerSecond: number;
  readonly maxInFlight?: number;
  /** Name prefix of the pods (unique per run). */
  readonly prefix: string;
}

export interface Load {
  /** Stops sending and resolves when every request has an answer. */
  stop(): Promise<LoadReport>;
  /** Failures so far. */
  failures(): readonly Failure[];
}

const DENIED = `admission webhook "${WEBHOOK_NAME}" denied the request: modelgate denied`;

/** Whether an API server answer is modelgate's denial (a Status whose message says so). */
export function isDenial(status: number, body: string): boolean {
  if (status !== 403) return false;
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === 'string' && message.startsWith(DENIED);
  } catch {
    return false;
  }
}

function pod(name: string, namespace: string, reference: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      containers: [{ name: 'server', image: APP_IMAGE, volumeMounts: [{ name: 'model', mountPath: '/models/model', readOnly: true }] }],
      volumes: [{ name: 'model', image: { reference, pullPolicy: 'IfNotPresent' } }],
    },
  };
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

export function startLoad(cluster: Cluster, options: LoadOptions): Load {
  const maxInFlight = options.maxInFlight ?? 64;
  const started = Date.now();
  const failures: Failure[] = [];
  const latencies: number[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let admitted = 0;
  let denied = 0;
  let skipped = 0;

  const one = async (index: number): Promise<void> => {
    const allowed = index % 2 === 0;
    const dryRun = index % 4 >= 2;
    const name = `${options.prefix}-${index}`;
    const expected = allowed ? 'admitted' : 'denied';
    const path = `/api/v1/namespaces/${options.namespace}/pods${dryRun ? '?dryRun=All' : ''}`;
    const begun = Date.now();
    let got: string;
    try {
      const response = await cluster.request('POST', path, pod(name, options.namespace, allowed ? PINNED : UNPINNED));
      latencies.push(Date.now() - begun);
      if (allowed && response.status === 201) {
        admitted++;
        return;
      }
      if (!allowed && isDenial(response.status, response.body)) {
        denied++;
        return;
      }
      got = `HTTP ${response.status}: ${response.body.slice(0, 400)}`;
    } catch (error) {
      got = `no answer: ${(error as Error).message}`;
    }
    failures.push({ at: Date.now() - started, name: `${name}${dryRun ? ' (dry-run)' : ''}`, expected, got });
  };

  const timer = setInterval(() => {
    if (pending.size >= maxInFlight) {
      skipped++;
      return;
    }
    const request = one(sent++).finally(() => pending.delete(request));
    pending.add(request);
  }, 1000 / options.ratePerSecond);

  return {
    failures: () => failures,
    async stop() {
      clearInterval(timer);
      await Promise.all([...pending]);
      const sorted = [...latencies].sort((a, b) => a - b);
      return {
        sent,
        admitted,
        denied,
        failures,
        skipped,
        latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
        seconds: (Date.now() - started) / 1000,
      };
    },
  };
}

/** One line for the test output. */
export function describeLoad(report: LoadReport): string {
  const { sent, admitted, denied, failures, skipped, latencyMs, seconds } = report;
  return `${sent} creations in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(1)}/s): ${admitted} admitted, ${denied} denied, ${failures.length} failed, ${skipped} not sent; latency p50 ${latencyMs.p50} ms, p99 ${latencyMs.p99} ms, max ${latencyMs.max} ms`;
}

export interface WebhookMetrics {
  /** apiserver_admission_webhook_rejection_count for this webhook, by error_type/rejection_code. */
  readonly rejections: Readonly<Record<string, number>>;
  /** apiserver_admission_webhook_request_total for this webhook, by code (the verdict's: 200, 403; 0: the call failed). */
  readonly requests: Readonly<Record<string, number>>;
}

const labelsOf = (text: string): Record<string, string> => Object.fromEntries([...text.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));

/** The API server's own counts of this webhook's calls (GET /metrics). */
export async function webhookMetrics(cluster: Cluster): Promise<WebhookMetrics> {
  const response = await cluster.request('GET', '/metrics');
  if (response.status !== 200) throw new Error(`GET /metrics: HTTP ${response.status}`);
  const rejections: Record<string, number> = {};
  const requests: Record<string, number> = {};
  for (const line of response.body.split('\n')) {
    const match = /^(apiserver_admission_webhook_rejection_count|apiserver_admission_webhook_request_total)\{([^}]*)\} (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = labelsOf(match[2] ?? '');
    if (labels['name'] !== WEBHOOK_NAME) continue;
    const value = Number(match[3]);
    const [table, key] =
      match[1] === 'apiserver_admission_webhook_rejection_count'
        ? [rejections, `${labels['error_type'] ?? '?'}/${labels['rejection_code'] ?? '?'}`]
        : [requests, labels['code'] ?? '?'];
    table[key] = (table[key] ?? 0) + value;
  }
  return { rejections, requests };
}

/** after − before, per key, keeping only keys that changed. */
export function metricsDelta(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const change = value - (before[key] ?? 0);
    if (change !== 0) delta[key] = change;
  }
  return delta;
}
