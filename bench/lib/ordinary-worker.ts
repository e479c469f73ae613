/** The ordinary client's thread (ordinary.ts, startOrdinaryInWorker): sends until told to stop, then posts every result. */
import { parentPort, workerData } from 'node:worker_threads';
import { startOrdinary } from './ordinary.ts';

const { origin, ca, template, intervalMs } = workerData as { origin: string; ca: string; template: string; intervalMs: number };
const client = startOrdinary(origin, ca, (uid) => template.replace('@UID@', uid), intervalMs);
parentPort?.once('message', () => {
  void client.stop().then((run) => parentPort?.postMessage(run));
});
