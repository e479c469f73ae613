/**
 * The "ordinary" client of the abuse benchmark: what the API server sends while
 * an attack runs. One small review every `intervalMs` on a schedule, over a
 * keep-alive connection of its own; like the API server's Go client, it opens
 * another connection only when its connection is busy (an answer slower than
 * the interval) or was closed by the server. Each latency is measured from the
 * scheduled time, so that a stalled server shows as latency (no coordinated
 * omission).
 */
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';

export interface OrdinaryResult {
  /** When it was due (performance.timeOrigin + performance.now(), comparable across threads). */
  readonly due: number;
  /** How late the generator sent it (its own event loop's delay), ms. */
  readonly lagMs: number;
  readonly latencyMs: number;
  readonly ok: boolean;
  /** For a failure: the status, the wrong answer or the error code. */
  readonly failure?: string;
}

export interface OrdinaryStats {
  readonly sent: number;
  readonly failed: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Failure kinds and their counts. */
  readonly failures: ReadonlyMap<string, number>;
  /** Connections the client opened in the window (0 when the one it had stayed open and sufficed). */
  readonly connections: number;
  /** The largest delay of the generator itself in sending a review (not counted against the server, but included in the latencies). */
  readonly maxLag: number;
}

export interface OrdinaryRun {
  readonly results: readonly OrdinaryResult[];
  /** When each connection was opened (same clock as OrdinaryResult.due). */
  readonly connectTimes: readonly number[];
}

export interface OrdinaryClient {
  /** Stops sending, waits for the answers still due (at most `timeoutMs` each) and returns every result. */
  stop(): Promise<OrdinaryRun>;
}

/** Milliseconds since the epoch, with performance.now()'s resolution: one clock for every thread. */
export const now = (): number => performance.timeOrigin + performance.now();

export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

/**
 * Starts sending `body(uid)` to `${origin}/validate`; an answer is right when
 * it is a 200 AdmissionReview for the same uid with `allowed: true`.
 */
export function startOrdinary(origin: string, ca: string, body: (uid: string) => string, intervalMs = 50, timeoutMs = 10_000): OrdinaryClient {
  const connectTimes: number[] = [];
  const client = new Pool(origin, {
    connect: { ca, servername: 'localhost' },
    connections: 64,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  client.on('connect', () => connectTimes.push(now()));
  const results: OrdinaryResult[] = [];
  const pending = new Set<Promise<void>>();
  let stopped = false;
  let n = 0;
  const started = now();

  const once = async (due: number): Promise<void> => {
    const uid = `ordinary-${++n}`;
    const lagMs = now() - due;
    let ok = false;
    let failure: string | undefined;
    try {
      const response = await client.request({ path: '/validate', method: 'POST', body: body(uid), headers: { 'content-type': 'application/json' } });
      const text = await response.body.text();
      if (response.statusCode !== 200) {
        failure = `HTTP ${response.statusCode}`;
      } else {
        const answer = JSON.parse(text) as { response?: { uid?: string; allowed?: boolean } };
        if (answer.response?.uid !== uid) failure = 'wrong uid';
        else if (answer.response.allowed !== true) failure = 'denied';
        else ok = true;
      }
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      failure = typeof code === 'string' ? code : (error as Error).message.slice(0, 60);
    }
    results.push({ due, lagMs, latencyMs: now() - due, ok, ...(failure === undefined ? {} : { failure }) });
  };

  const tick = (i: number): void => {
    if (stopped) return;
    const due = started + i * intervalMs;
    const promise = once(due);
    pending.add(promise);
    void promise.finally(() => pending.delete(promise));
    // The next one on schedule, whether or not this one has been answered.
    setTimeout(() => tick(i + 1), Math.max(0, started + (i + 1) * intervalMs - now()));
  };
  tick(0);

  return {
    async stop() {
      stopped = true;
      await Promise.all([...pending]);
      await client.close().catch(() => undefined);
      return { results, connectTimes };
    },
  };
}

/** Figures for the results due within [from, to) (times from now()). */
export function summarize(run: OrdinaryRun, from: number, to: number): OrdinaryStats {
  const window = run.results.filter((result) => result.due >= from && result.due < to);
  const latencies = window.map((result) => result.latencyMs).sort((a, b) => a - b);
  const failures = new Map<string, number>();
  for (const result of window) if (!result.ok) failures.set(result.failure ?? '?', (failures.get(result.failure ?? '?') ?? 0) + 1);
  return {
    sent: window.length,
    failed: window.filter((result) => !result.ok).length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
    failures,
    connections: run.connectTimes.filter((time) => time >= from && time < to).length,
    maxLag: Math.max(0, ...window.map((result) => result.lagMs)),
  };
}

/**
 * startOrdinary in a worker thread of its own, so that the attack's load
 * generator (TLS handshakes, JSON) cannot delay the ordinary client's sends.
 * `template` holds `@UID@` where each review's uid goes.
 */
export function startOrdinaryInWorker(origin: string, ca: string, template: string, intervalMs = 50): OrdinaryClient {
  const worker = new Worker(new URL('./ordinary-worker.ts', import.meta.url), { workerData: { origin, ca, template, intervalMs } });
  const done = new Promise<OrdinaryRun>((resolve, reject) => {
    worker.once('message', (run: OrdinaryRun) => resolve(run));
    worker.once('error', reject);
  });
  const ready = new Promise<void>((resolve) => worker.once('online', () => resolve()));
  return {
    async stop() {
      await ready;
      worker.postMessage('stop');
      const run = await done;
      await worker.terminate();
      return run;
    },
  };
}
