// Diagnosis only: loaded into the server under test with
//   BENCH_ABUSE_SERVER_ENV="NODE_OPTIONS=--import=$PWD/bench/lib/memory-probe.js MEMORY_PROBE_FILE=/tmp/probe.jsonl"
// it appends, every 25 ms, one line of the process's memory as V8 and the
// allocator see it (MiB) to $MEMORY_PROBE_FILE (default /tmp/memory-probe.<pid>.jsonl),
// so that a peak in RSS can be told apart: JavaScript heap spaces, external
// memory (Buffers), or memory outside both (TLS, malloc); and how late the
// line came (`lag`, ms): how long the event loop was busy, GC included; and
// the GC pauses since the line before (`gcMs` in all, `gcMax` the longest,
// `majorGcs` the mark-compacts among them).
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env.MEMORY_PROBE_FILE ?? `/tmp/memory-probe.${process.pid}.jsonl`;
const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
// GC pauses since the last line: their sum and the longest (ms), and how many were full (mark-compact).
let gcMs = 0;
let gcMax = 0;
let majorGcs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    gcMax = Math.max(gcMax, entry.duration);
    if (entry.detail?.kind === 4) majorGcs++; // NODE_PERFORMANCE_GC_MAJOR
  }
}).observe({ entryTypes: ['gc'] });
let last = performance.now();
const timer = setInterval(() => {
  const at = performance.now();
  const lag = Math.round(at - last - 25);
  last = at;
  const usage = process.memoryUsage();
  const spaces = {};
  for (const space of getHeapSpaceStatistics()) if (space.space_size > 0) spaces[space.space_name.replace(/_space$/, '')] = mib(space.space_size);
  appendFileSync(
    file,
    `${JSON.stringify({ t: Math.round(at), lag, gcMs: Math.round(gcMs), gcMax: Math.round(gcMax), majorGcs, rss: mib(usage.rss), heapTotal: mib(usage.heapTotal), heapUsed: mib(usage.heapUsed), external: mib(usage.external), arrayBuffers: mib(usage.arrayBuffers), spaces })}\n`,
  );
  gcMs = 0;
  gcMax = 0;
  majorGcs = 0;
}, 25);
timer.unref();
