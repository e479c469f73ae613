/**
 * Registry faults under load against the real `modelgate serve` process and
 * Debian's docker-registry behind a fault proxy: the registry stopped and
 * restarted, answering 503 and 429, slower than the deadline, resetting
 * connections, and serving other bytes for a digest. Reviews flow all the
 * time: digests judged before (cached) must keep being admitted at full
 * speed; digests never judged must follow `onError: warn` (admitted with a
 * "could not be checked" warning) within the deadline, except for content
 * that is wrong (denied whatever onError says, and remembered as refused);
 * and once the registry is back, every digest that could not be checked is
 * judged afresh and admitted: nothing was cached from a failed fetch.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { makeModelgateCerts, startModelgate, writeConfigFile, writePolicyDirectory } from '../e2e/lib/modelgate.ts';
import type { Modelgate } from '../e2e/lib/modelgate.ts';
import { startDistribution } from '../support/distribution.ts';
import type { RunningDistribution } from '../support/distribution.ts';
import { modelFile, modelPack } from '../support/models.ts';
import { admissionReview, kubeObject } from '../support/objects.ts';
import { scratchDir } from '../e2e/lib/workdir.ts';
import { startFaultProxy } from './lib/fault-proxy.ts';
import { pushModelPacks } from './lib/model-packs.ts';
import type { FaultMode, FaultProxy } from './lib/fault-proxy.ts';

const TOTAL_SECONDS = 2;
/** Warm (cached) answers while the registry misbehaves: full speed. */
const WARM_P99_BOUND_MS = 100;
const WARM = 8;
const COLD_PER_PHASE = 6;

interface Verdict {
  readonly allowed: boolean;
  readonly warnings: readonly string[];
  readonly message: string;
  readonly ms: number;
}

describe('registry faults under load (modelgate serve, docker-registry behind a fault proxy)', { timeout: 300_000 }, () => {
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: Modelgate;
  let pool: Pool;
  const digests: string[] = [];
  let next = WARM;

  before(async () => {
    const dir = scratchDir('registry-faults');
    registry = await startDistribution({ dir: join(dir, 'registry') });
    // Digests 0..WARM-1 become cached; each later one is judged for the first time in one phase.
    digests.push(...(await pushModelPacks(registry.url, 'chaos/model', WARM + 10 * COLD_PER_PHASE)));
    proxy = await startFaultProxy(registry.url);
    const policyDir = writePolicyDirectory({
      'registry.yaml': [
        {
          apiVersion: 'modelgate.dev/v1alpha1',
          kind: 'ModelPolicy',
          metadata: { name: 'registry-models' },
          spec: { match: { references: [`${proxy.host}/**`] }, requireDigest: true, onError: 'warn', artifact: { types: ['modelpack'] } },
        },
      ],
    });
    const configFile = writeConfigFile({
      apiVersion: 'modelgate.dev/v1alpha1',
      kind: 'Config',
      spec: { defaultAction: 'allow', registries: [{ host: proxy.host, insecure: true }], timeouts: { requestSeconds: 1, totalSeconds: TOTAL_SECONDS } },
    });
    const certs = await makeModelgateCerts();
    gate = await startModelgate({ certs, policyPaths: [policyDir], configFile });
    pool = new Pool(`https://127.0.0.1:${gate.port}`, { connections: 8, connect: { ca: certs.caPem, servername: 'localhost' } });
  });
  after(async () => {
    await pool?.close();
    await Promise.allSettled([gate?.stop(), proxy?.close(), registry?.stop()]);
  });

  async function review(digest: string): Promise<Verdict> {
    const started = Date.now();
    const body = JSON.stringify(admissionReview(kubeObject('Pod', [{ name: 'model', reference: `${proxy.host}/chaos/model@${digest}` }])));
    const response = await pool.request({ path: '/validate', method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const parsed = (await response.body.json()) as { response: { allowed: boolean; warnings?: string[]; status?: { message?: string } } };
    assert.equal(response.statusCode, 200);
    return {
      allowed: parsed.response.allowed,
      warnings: parsed.response.warnings ?? [],
      message: parsed.response.status?.message ?? '',
      ms: Date.now() - started,
    };
  }

  /** Warm reviews in a loop while `phase` runs: all must be admitted without a warning. */
  async function underWarmLoad<T>(phase: () => Promise<T>): Promise<{ result: T; warm: Verdict[] }> {
    const warm: Verdict[] = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        warm.push(await review(digests[i % WARM] as string));
        await sleep(10);
      }
    })();
    try {
      return { result: await phase(), warm };
    } finally {
      running = false;
      await loop;
    }
  }

  const fresh = (): string[] => {
    const taken = digests.slice(next, next + COLD_PER_PHASE);
    next += COLD_PER_PHASE;
    return taken;
  };

  it('cached digests stay admitted at full speed; uncached follow onError within the deadline; nothing failed is cached', async () => {
    // Warm up: every warm digest judged once with the registry well.
    for (const digest of digests.slice(0, WARM)) assert.deepEqual((await review(digest)).warnings, []);
    const other = modelPack([modelFile('model.safetensors', 'other weights')]);
    const faults: [string, FaultMode | 'stopped'][] = [
      ['registry stopped', 'stopped'],
      ['503', { kind: 'status', status: 503 }],
      ['429 with Retry-After', { kind: 'status', status: 429 }],
      ['slower than the deadline', { kind: 'slow', delayMs: (TOTAL_SECONDS + 1) * 1000 }],
      ['connections reset', { kind: 'reset' }],
    ];
    const lines: string[] = [];
    const failedDigests: string[] = [];
    for (const [name, fault] of faults) {
      const { result: cold, warm } = await underWarmLoad(async () => {
        if (fault === 'stopped') await registry.stop();
        else proxy.set(fault);
        const cold = await Promise.all(fresh().map((digest) => review(digest).then((verdict) => ({ digest, verdict }))));
        if (fault === 'stopped')
          registry = await startDistribution({ dir: join(scratchDir('registry-faults-restart')), port: registry.port, storageDir: registry.storageDir });
        proxy.set({ kind: 'pass' });
        return cold;
      });
      const warmMs = warm.map((verdict) => verdict.ms).sort((a, b) => a - b);
      const warmP99 = warmMs[Math.floor(warmMs.length * 0.99)] ?? 0;
      const coldMax = Math.max(...cold.map(({ verdict }) => verdict.ms));
      lines.push(`${name}: ${warm.length} warm reviews p99 ${warmP99} ms; ${cold.length} cold within ${coldMax} ms`);
      assert.ok(
        warm.every((verdict) => verdict.allowed && verdict.warnings.length === 0),
        `${name}: a cached digest was not admitted cleanly: ${JSON.stringify(warm.find((v) => !v.allowed || v.warnings.length > 0))}`,
      );
      assert.ok(warmP99 < WARM_P99_BOUND_MS, `${name}: warm p99 ${warmP99} ms`);
      for (const { verdict } of cold) {
        assert.equal(verdict.allowed, true, `${name}: onError warn admits: ${verdict.message}`);
        assert.ok(
          verdict.warnings.some((warning) => /could not be checked/.test(warning)),
          `${name}: the warning says why: ${JSON.stringify(verdict.warnings)}`,
        );
        assert.ok(verdict.ms < (TOTAL_SECONDS + 1) * 1000, `${name}: answered after ${verdict.ms} ms, deadline ${TOTAL_SECONDS} s`);
      }
      failedDigests.push(...cold.map(({ digest }) => digest));
    }
    // Other bytes for every manifest: wrong content is denied whatever onError says.
    const { result: tampered } = await underWarmLoad(async () => {
      proxy.set({ kind: 'tamper', manifest: other.bytes, mediaType: other.mediaType });
      const verdicts = await Promise.all(fresh().map((digest) => review(digest).then((verdict) => ({ digest, verdict }))));
      proxy.set({ kind: 'pass' });
      return verdicts;
    });
    for (const { verdict } of tampered) assert.match(verdict.message, /not the pinned sha256:/, 'a manifest whose bytes do not match its digest is denied');
    // The registry is well again: everything that could not be checked is judged afresh, at once, and admitted.
    const recovered = await Promise.all(failedDigests.map((digest) => review(digest)));
    const unrecovered = recovered.filter((verdict) => !verdict.allowed || verdict.warnings.length > 0);
    // Refused content is remembered by digest for 10 minutes (artifact/source.ts: a hostile artifact is
    // fetched and parsed once): still denied, and never taken for good content.
    const stillRefused = await Promise.all(tampered.map(({ digest }) => review(digest)));
    process.stdout.write(
      `# registry faults:\n#   ${lines.join('\n#   ')}\n#   tampered manifests: ${tampered.length} denied; after recovery ${recovered.length - unrecovered.length} of ${recovered.length} unchecked digests admitted at once, the ${stillRefused.length} refused ones still refused\n`,
    );
    assert.deepEqual(unrecovered, [], 'nothing was cached from a failed fetch');
    for (const verdict of stillRefused) assert.match(verdict.message, /not the pinned sha256:/, 'a refusal is remembered, never turned into an admission');
  });
});
