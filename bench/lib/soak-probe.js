// Loaded into the server under soak (NODE_OPTIONS=--import=…/soak-probe.js):
// every SOAK_PROBE_MS (default 10 s) appends one JSON line to $SOAK_PROBE_FILE
// with what only the process itself can see: the JavaScript heap, the event
// loop delay p99 and max over the interval (the histogram is reset each time),
// and its open handles (timers, sockets, servers, …), also counted by kind.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.SOAK_PROBE_FILE;
const every = Number(process.env.SOAK_PROBE_MS ?? 10_000);
if (file !== undefined) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const timer = setInterval(() => {
    const memory = process.memoryUsage();
    const resources = process.getActiveResourcesInfo();
    const kinds = {};
    for (const kind of resources) kinds[kind] = (kinds[kind] ?? 0) + 1;
    const line = {
      t: Date.now(),
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      eldP99Ms: delay.percentile(99) / 1e6,
      eldMaxMs: delay.max / 1e6,
      handles: resources.length,
      kinds,
    };
    delay.reset();
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, every);
  timer.unref();
}
