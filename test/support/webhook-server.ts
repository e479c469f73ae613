/** Starts modelgate's HTTPS server on an ephemeral loopback port with freshly made certificates. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { createLogger } from '../../src/core/log.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { startServer } from '../../src/server/serve.ts';
import type { RunningServer } from '../../src/server/serve.ts';
import type { ConnectionLimits } from '../../src/server/connections.ts';
import type { PolicySet } from '../../src/policy/types.ts';

const run = promisify(execFile);

/** Makes a CA and serving pair with the project's own script. */
export async function makeCerts(dir?: string): Promise<{ dir: string; ca: string }> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'modelgate-certs-')));
  await run('bash', [join(PACKAGE_ROOT, 'scripts', 'certs.sh')], { env: { ...process.env, MODELGATE_CERTS_DIR: target } });
  return { dir: target, ca: await readFile(join(target, 'ca.crt'), 'utf8') };
}

export interface TestServer {
  readonly url: string;
  readonly running: RunningServer;
  readonly agent: Agent;
  readonly certs: { dir: string; ca: string };
  /** Parsed pino log lines written so far. */
  readonly logs: Record<string, unknown>[];
  post(body: string | Buffer, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startTestServer(
  policySet: PolicySet | undefined,
  options: { tlsPollMs?: number; connections?: ConnectionLimits; bodyBudgetBytes?: number; maxBodyBytes?: number } = {},
): Promise<TestServer> {
  const certs = await makeCerts();
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const running = await startServer({
    port: 0,
    host: '127.0.0.1',
    tlsCert: join(certs.dir, 'tls.crt'),
    tlsKey: join(certs.dir, 'tls.key'),
    engines: { current: () => (policySet === undefined ? undefined : { policySet, artifacts: undefined }) },
    logger: createLogger('info', sink),
    ...(options.tlsPollMs === undefined ? {} : { tlsPollMs: options.tlsPollMs }),
    ...(options.connections === undefined ? {} : { connections: options.connections }),
    ...(options.bodyBudgetBytes === undefined ? {} : { bodyBudgetBytes: options.bodyBudgetBytes }),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });
  const agent = new Agent({ connect: { ca: certs.ca, servername: 'localhost' } });
  const url = `https://127.0.0.1:${running.port}`;
  return {
    url,
    running,
    agent,
    certs,
    logs,
    async post(body, headers = { 'content-type': 'application/json' }) {
      const response = await request(`${url}/validate`, { method: 'POST', body, headers, dispatcher: agent });
      const text = await response.body.text();
      return { status: response.statusCode, json: JSON.parse(text) as Record<string, unknown> };
    },
    async close() {
      await agent.close();
      await running.close();
    },
  };
}
