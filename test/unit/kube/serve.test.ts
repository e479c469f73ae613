/** `modelgate serve` in-process: policy files followed on disk, the bundled-policy fallback, and a clean stop. */
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { runServe } from '../../../src/cli/serve.ts';
import type { PolicyReload } from '../../../src/cli/serve.ts';
import { UsageError } from '../../../src/cli/usage.ts';
import { createLogger } from '../../../src/core/log.ts';
import { BUNDLED_POLICY } from '../../../src/core/package-root.ts';
import { loadPolicySet } from '../../../src/policy/load.ts';
import { makeCerts } from '../../support/webhook-server.ts';

const policy = (name: string, mode: string): string =>
  `apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: ${name}}\nspec: {mode: ${mode}}\n`;

interface Running {
  readonly port: () => number;
  readonly logs: Record<string, unknown>[];
  readonly reloads: PolicyReload[];
  readonly exit: Promise<number>;
  stop(): void;
}

function serve(args: readonly string[], certs: { dir: string }): Running {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const reloads: PolicyReload[] = [];
  const exit = runServe(['--host', '127.0.0.1', '--port', '0', '--tls-cert', join(certs.dir, 'tls.crt'), '--tls-key', join(certs.dir, 'tls.key'), ...args], {
    logger: createLogger('info', sink),
    stop: stopped,
    onReload: (reload) => reloads.push(reload),
  });
  return {
    port: () => {
      const line = logs.find((entry) => entry['msg'] === 'modelgate listening');
      return typeof line?.['port'] === 'number' ? line['port'] : 0;
    },
    logs,
    reloads,
    exit,
    stop,
  };
}

async function until<T>(what: string, get: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('modelgate serve', () => {
  let certs: { dir: string; ca: string };
  let agent: Agent;
  const saved = { ...process.env };

  before(async () => {
    certs = await makeCerts();
    agent = new Agent({ connect: { ca: certs.ca, servername: 'localhost' } });
    for (const key of Object.keys(process.env))
      if (key.startsWith('MODELGATE_') || key === 'KUBECONFIG' || key === 'KUBERNETES_SERVICE_HOST') delete process.env[key];
    process.env['HOME'] = await mkdtemp(join(tmpdir(), 'modelgate-home-'));
  });
  after(async () => {
    await agent.close();
    for (const key of Object.keys(process.env)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  const revision = async (port: number): Promise<string | undefined> => {
    const response = await request(`https://127.0.0.1:${port}/readyz`, { dispatcher: agent });
    return /revision ([0-9a-f]{12})/.exec(await response.body.text())?.[1];
  };

  it('--policy: follows the files, keeps the last good policy through an invalid edit, and stops with 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-serve-policy-'));
    await writeFile(join(dir, 'p.yaml'), policy('a', 'enforce'));
    const server = serve(['--policy', dir], certs);
    const port = await until('listening', () => server.port() || undefined);
    const first = await until('ready', () => revision(port));
    assert.equal(first, (await loadPolicySet([dir])).revision);

    const changed = Date.now();
    await writeFile(join(dir, 'p.yaml'), policy('a', 'warn'));
    const second = await until('the reload', async () => {
      const current = await revision(port);
      return current !== first ? current : undefined;
    });
    assert.ok(Date.now() - changed < 2000, `reloaded after ${Date.now() - changed} ms`);
    assert.deepEqual(server.reloads, [{ ok: true, revision: second, errors: [], source: 'files' }]);

    await writeFile(join(dir, 'p.yaml'), policy('a', 'block'));
    await until('the refusal', () => server.reloads[1]);
    assert.equal(server.reloads[1]?.ok, false);
    assert.equal(await revision(port), second);

    server.stop();
    assert.equal(await server.exit, 0);
    assert.equal(server.logs.at(-1)?.['msg'], 'stopped');
  });

  it('no --policy and no Kubernetes configuration outside a cluster: the bundled policy, with a warning', async () => {
    const server = serve([], certs);
    const port = await until('listening', () => server.port() || undefined);
    assert.equal(await until('ready', () => revision(port)), (await loadPolicySet([BUNDLED_POLICY])).revision);
    assert.ok(server.logs.some((line) => line['level'] === 40 && String(line['msg']).includes('serving the bundled policy file')));
    server.stop();
    assert.equal(await server.exit, 0);
  });

  it('in a pod without a service account token it refuses to start rather than serve another policy', async () => {
    process.env['KUBERNETES_SERVICE_HOST'] = '10.96.0.1';
    try {
      await assert.rejects(
        runServe(['--port', '0'], { logger: createLogger('silent') }),
        (error: unknown) => error instanceof UsageError && /automountServiceAccountToken: true/.test(error.message),
      );
    } finally {
      delete process.env['KUBERNETES_SERVICE_HOST'];
    }
  });

  it('rejects a bad --shutdown-delay and MODELGATE_NAMESPACED_POLICIES', async () => {
    await assert.rejects(runServe(['--shutdown-delay', 'later'], { logger: createLogger('silent') }), UsageError);
    process.env['MODELGATE_NAMESPACED_POLICIES'] = 'maybe';
    try {
      await assert.rejects(runServe([], { logger: createLogger('silent') }), /MODELGATE_NAMESPACED_POLICIES must be true or false/);
    } finally {
      delete process.env['MODELGATE_NAMESPACED_POLICIES'];
    }
  });
});
