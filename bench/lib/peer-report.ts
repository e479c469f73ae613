/** The side-by-side table of bench/peers.ts: each figure for the API server alone, the peer and modelgate, and modelgate/peer. */

export interface PeerFigures {
  readonly name: string;
  /** End-to-end latency of a dry-run creation (ms), same digest again and again. */
  readonly warm: { readonly p50: number; readonly p95: number };
  /** The same, each admission a freshly signed digest. */
  readonly cold?: { readonly p50: number; readonly p95: number };
  /** Admitted per second, closed loop. */
  readonly perSecond: number;
  readonly errors: number;
  /** CPU (ms) of the webhook process per admission, under load (warm) and in the cold run. */
  readonly cpuWarm: number | undefined;
  readonly cpuCold: number | undefined;
  /** CPU (ms) of kube-apiserver per admission under load. */
  readonly apiserverCpuWarm: number;
  /** MiB of the webhook process after the runs. */
  readonly memory: { readonly rss: number; readonly hwm: number } | undefined;
  /** CPU (ms per second) of the webhook process while idle, after the runs. */
  readonly idleCpu: number | undefined;
}

export interface RunSettings {
  readonly warm: number;
  readonly cold: number;
  readonly concurrency: number;
  readonly seconds: number;
}

type Row = readonly [label: string, value: (f: PeerFigures) => number | undefined, unit: string, digits: number];

const ROWS: readonly Row[] = [
  ['warm latency p50', (f) => f.warm.p50, 'ms', 2],
  ['warm latency p95', (f) => f.warm.p95, 'ms', 2],
  ['cold latency p50', (f) => f.cold?.p50, 'ms', 2],
  ['cold latency p95', (f) => f.cold?.p95, 'ms', 2],
  ['throughput', (f) => f.perSecond, '/s', 0],
  ['webhook CPU per warm admission', (f) => f.cpuWarm, 'ms', 3],
  ['webhook CPU per cold admission', (f) => f.cpuCold, 'ms', 2],
  ['API server CPU per warm admission', (f) => f.apiserverCpuWarm, 'ms', 3],
  ['webhook RSS after the runs', (f) => f.memory?.rss, 'MiB', 1],
  ['webhook peak RSS (VmHWM)', (f) => f.memory?.hwm, 'MiB', 1],
  ['webhook idle CPU after the runs', (f) => f.idleCpu, 'ms/s', 1],
];

const cell = (value: number | undefined, unit: string, digits: number): string =>
  value === undefined || Number.isNaN(value) ? '–' : `${value.toFixed(digits)} ${unit}`;

export function printPeerTable(baseline: PeerFigures, peer: PeerFigures, ours: PeerFigures, settings: RunSettings): void {
  console.log(
    `\n${settings.warm} warm and ${settings.cold} cold admissions in sequence, throughput with ${settings.concurrency} in flight for ${settings.seconds} s` +
      ` (errors under load: ${peer.name} ${peer.errors}, ${ours.name} ${ours.errors}):\n`,
  );
  console.log(`| figure | ${baseline.name} | ${peer.name} | ${ours.name} | ${ours.name}/${peer.name.split(' ')[0]} |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const [label, value, unit, digits] of ROWS) {
    const [a, b] = [value(ours), value(peer)];
    const ratio = a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;
    console.log(`| ${label} | ${cell(value(baseline), unit, digits)} | ${cell(b, unit, digits)} | ${cell(a, unit, digits)} | ${ratio} |`);
  }
}
