/** Load generation for the benchmarks: closed-loop throughput and open-loop latency at a fixed rate. */
import { type Agent, Pool } from 'undici';

export interface Target {
  readonly origin: string;
  readonly ca: string;
  readonly body: string;
}

export interface Throughput {
  readonly requests: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly errors: number;
}

export interface Latency {
  readonly sent: number;
  readonly errors: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function pool(target: Target, connections: number): Pool {
  return new Pool(target.origin, { connections, pipelining: 1, connect: { ca: target.ca, servername: 'localhost' } });
}

async function once(client: Pool | Agent, target: Target): Promise<boolean> {
  const response = await client.request({ path: '/validate', method: 'POST', body: target.body, headers: { 'content-type': 'application/json' } });
  const text = await response.body.text();
  return response.statusCode === 200 && text.includes('"uid"');
}

/** As many requests as `connections` keep-alive connections carry in `seconds`. */
export async function throughput(target: Target, seconds: number, connections = 16): Promise<Throughput> {
  const client = pool(target, connections);
  let requests = 0;
  let errors = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        try {
          if (await once(client, target)) requests++;
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await client.close();
  return { requests, seconds: elapsed, perSecond: requests / elapsed, errors };
}

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

/** Sends `rate` requests per second for `seconds`, on schedule whatever the answers' pace, and measures each. */
export async function latencyAtRate(target: Target, rate: number, seconds: number, connections = 32): Promise<Latency> {
  const client = pool(target, connections);
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inflight.push(
      (async () => {
        const sent = performance.now();
        try {
          if (!(await once(client, target))) errors++;
        } catch {
          errors++;
        }
        // Measured from the scheduled time, so a stalled generator shows as latency (no coordinated omission).
        latencies.push(performance.now() - Math.min(sent, due));
      })(),
    );
  }
  await Promise.all(inflight);
  await client.close();
  latencies.sort((a, b) => a - b);
  return { sent: total, errors, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN };
}
