/**
 * Two `modelgate serve` processes behind HAProxy as the webhook of a real
 * kube-apiserver, under a steady stream of pod creations (real and dry-run,
 * admitted and denied): rolling restarts with SIGTERM and --shutdown-delay,
 * then the serving pair rotated both ways. What users need: no failed
 * admission, no wrong verdict, no webhook error in the API server's metrics,
 * bounded latency.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SHUTDOWN_DELAY_S, TEAM, startChaosBed } from './lib/bed.ts';
import type { ChaosBed } from './lib/bed.ts';
import { PINNED, describeLoad, metricsDelta, startLoad, webhookMetrics } from './lib/load.ts';
import type { LoadReport, WebhookMetrics } from './lib/load.ts';

const RATE = 20;
/** The API server gives the webhook 5 s; an answer must come well before. */
const LATENCY_P99_BOUND_MS = 2_000;

function assertClean(report: LoadReport, before: WebhookMetrics, after: WebhookMetrics): void {
  const failed = report.failures.map((failure) => `  +${failure.at} ms ${failure.name}, expected ${failure.expected}: ${failure.got}`);
  assert.equal(report.failures.length, 0, `failed admissions:\n${failed.join('\n')}`);
  assert.equal(report.skipped, 0, 'the API server fell behind the load');
  assert.ok(report.admitted > 0 && report.denied > 0, 'both verdicts were exercised');
  // The API server's own account: every call answered, 200 for each admission and 403 for each denial, no call error.
  assert.deepEqual(metricsDelta(before.rejections, after.rejections), { 'no_error/403': report.denied }, 'apiserver_admission_webhook_rejection_count');
  assert.deepEqual(
    metricsDelta(before.requests, after.requests),
    { '200': report.admitted, '403': report.denied },
    'apiserver_admission_webhook_request_total by code',
  );
  assert.ok(report.latencyMs.p99 < LATENCY_P99_BOUND_MS, `latency p99 ${report.latencyMs.p99} ms`);
}

/** One review over a new TLS connection to HAProxy: the SHA-256 fingerprint of the certificate it presented. */
function handshakeReview(bed: ChaosBed): Promise<string> {
  const body = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'handshake',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: TEAM,
      name: 'handshake',
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'handshake', namespace: TEAM },
        spec: { volumes: [{ name: 'm', image: { reference: PINNED } }] },
      },
      userInfo: { username: 'chaos' },
      dryRun: true,
    },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: bed.lb.port,
        path: '/validate',
        method: 'POST',
        agent: false,
        ca: bed.serving.certs.caPem,
        headers: { 'content-type': 'application/json' },
        timeout: 5_000,
      },
      (res) => {
        const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const allowed = (JSON.parse(text) as { response?: { allowed?: boolean } }).response?.allowed;
          if (res.statusCode === 200 && allowed === true) resolve(fingerprint);
          else reject(new Error(`HTTP ${res.statusCode}: ${text}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const fingerprintOf = async (certPem: string): Promise<string> => new (await import('node:crypto')).X509Certificate(certPem).fingerprint256;

describe('modelgate behind HAProxy as the webhook of a real kube-apiserver, under load', { timeout: 600_000 }, () => {
  let bed: ChaosBed;
  before(async () => {
    bed = await startChaosBed();
  });
  after(async () => bed?.stop());

  it('rolling restarts (SIGTERM, --shutdown-delay) lose no admission and cause no webhook error', async () => {
    const before = await webhookMetrics(bed.cluster);
    const load = startLoad(bed.cluster, { namespace: TEAM, ratePerSecond: RATE, prefix: 'roll' });
    const exits: number[] = [];
    let report: LoadReport;
    try {
      await sleep(2_000);
      for (const round of [1, 2]) {
        for (const [index, gate] of bed.gates.entries()) {
          const name = `g${index + 1}`;
          const signalled = Date.now();
          const exit = await gate.stop();
          exits.push(Date.now() - signalled);
          assert.deepEqual(exit, { code: 0, signal: null }, `round ${round}: ${name} exited cleanly`);
          await gate.start();
          // As a rollout does: the next instance only once this one is ready (HAProxy's check passed).
          await bed.lb.waitUp(name);
          await sleep(1_500);
        }
      }
    } finally {
      report = await load.stop();
    }
    const after = await webhookMetrics(bed.cluster);
    process.stdout.write(
      `# rolling restart ×4: ${describeLoad(report)}; exits ${exits.join(', ')} ms after SIGTERM (delay ${SHUTDOWN_DELAY_S} s); apiserver: ${JSON.stringify(metricsDelta(before.rejections, after.rejections))} ${JSON.stringify(metricsDelta(before.requests, after.requests))}\n`,
    );
    assertClean(report, before, after);
    for (const took of exits) assert.ok(took < SHUTDOWN_DELAY_S * 1000 + 2_000, `an instance took ${took} ms to exit`);
    // The API server's connections moved between the instances: each judged some of the load.
    for (const gate of bed.gates)
      assert.ok(
        gate.reviews().some((review) => review.name.startsWith('roll-')),
        'each instance judged part of the load',
      );
  });

  it('certificate rotation (atomic ..data swap, then an in-place rewrite) fails no handshake; new connections get the new pair', async () => {
    const before = await webhookMetrics(bed.cluster);
    const load = startLoad(bed.cluster, { namespace: TEAM, ratePerSecond: RATE, prefix: 'rotate' });
    let handshakes = 0;
    const handshakeFailures: string[] = [];
    const seen = new Set<string>();
    let running = true;
    const handshaking = (async () => {
      while (running) {
        try {
          seen.add(await handshakeReview(bed));
        } catch (error) {
          handshakeFailures.push((error as Error).message);
        }
        handshakes++;
        await sleep(20);
      }
    })();
    const waitForFingerprint = async (fingerprint: string, what: string): Promise<number> => {
      const started = Date.now();
      // Both instances: several new connections in a row present the new pair.
      let inARow = 0;
      while (inARow < 6) {
        if (Date.now() - started > 30_000) assert.fail(`${what}: new connections did not get the new pair within 30 s`);
        inARow = (await handshakeReview(bed)) === fingerprint ? inARow + 1 : 0;
      }
      return Date.now() - started;
    };
    let report: LoadReport;
    let swapMs: number;
    let rewriteMs: number;
    try {
      await sleep(1_000);
      const swapped = await bed.serving.issue();
      bed.serving.swapAtomically(swapped);
      swapMs = await waitForFingerprint(await fingerprintOf(swapped.certPem), 'atomic swap');
      await sleep(1_000);
      const rewritten = await bed.serving.issue();
      // The certificate and the key disagree for 300 ms: the old pair keeps serving until both are there.
      await bed.serving.rewriteInPlace(rewritten, 300);
      rewriteMs = await waitForFingerprint(await fingerprintOf(rewritten.certPem), 'in-place rewrite');
      await sleep(1_000);
    } finally {
      running = false;
      await handshaking;
      report = await load.stop();
    }
    const after = await webhookMetrics(bed.cluster);
    process.stdout.write(
      `# certificate rotation: ${describeLoad(report)}; ${handshakes} fresh handshakes, ${handshakeFailures.length} failed; new pair served ${swapMs} ms after the swap, ${rewriteMs} ms after the rewrite\n`,
    );
    assert.deepEqual(handshakeFailures, [], 'no failed handshake');
    assert.ok(seen.size >= 3, 'the original, swapped and rewritten pairs were all served');
    assertClean(report, before, after);
    for (const gate of bed.gates) assert.ok(gate.logLines().filter((line) => line['msg'] === 'TLS key pair reloaded').length >= 2);
  });
});
