import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../src/package-root.ts';
import { PINNED, UNPINNED, kubeObject } from './helpers/objects.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real executable, as a user or CI would. */
function modelgate(args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'modelgate.js'), ...args], { env: { ...process.env, MODELGATE_POLICY: '', MODELGATE_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('modelgate check', () => {
  let dir: string;
  const docs = (...objects: unknown[]): string => objects.map((object) => stringify(object)).join('---\n');
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-check-'));
    await writeFile(join(dir, 'good.yaml'), docs(kubeObject('Deployment', [{ name: 'm', reference: PINNED }]), { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }));
    await writeFile(join(dir, 'bad.yaml'), docs(kubeObject('Pod', [{ name: 'm', reference: PINNED }]), kubeObject('CronJob', [{ name: 'adapter', reference: UNPINNED }])));
    await writeFile(join(dir, 'warn-policy.yaml'), 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: relaxed}\nspec: {mode: warn}\n');
    await writeFile(join(dir, 'broken-policy.yaml'), 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: broken}\nspec: {mode: strict}\n');
    await writeFile(join(dir, 'config.yaml'), 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: {defaultAction: allow}\n');
  });

  it('exits 0 and prints a table when everything is allowed', async () => {
    const run = await modelgate(['check', '-f', join(dir, 'good.yaml')]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^OBJECT\s+VOLUME\s+REFERENCE\s+VERDICT\s+REASONS$/);
    assert.match(lines[1] ?? '', /^Deployment team-a\/llm\s+m\s+ghcr\.io\/acme\/models\/llama@sha256:a{64}\s+ALLOW\s+-$/);
    assert.equal(lines.length, 2);
  });

  it('exits 1 and explains the denial when anything is denied', async () => {
    const run = await modelgate(['check', '-f', join(dir, 'bad.yaml')]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /CronJob team-a\/llm\s+adapter\s+ghcr\.io\/acme\/models\/llama:v1\s+DENY\s+pinned-models\/requireDigest: pinned only by tag "v1", not by digest/);
    assert.match(run.stdout, /Pod team-a\/llm\s+m\s+\S+\s+ALLOW/);
    assert.match(run.stderr, /modelgate denied CronJob team-a\/llm: a model reference failed policy/);
    assert.match(run.stderr, /spec\.jobTemplate\.spec\.template\.spec\.volumes\[1\]\.image\.reference/);
  });

  it('reads stdin with -f -, including kind: List as `kubectl get -o yaml` prints it', async () => {
    const list = { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [kubeObject('Pod', [{ name: 'm', reference: UNPINNED }]), kubeObject('StatefulSet', [{ name: 'm', reference: PINNED }])] };
    const run = await modelgate(['check', '-f', '-', '-o', 'json'], stringify(list));
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout) as { allowed: boolean; objects: number; rows: { object: string; verdict: string; path: string }[]; denials: string[] };
    assert.equal(report.allowed, false);
    assert.equal(report.objects, 2);
    assert.deepEqual(
      report.rows.map((row) => [row.object, row.verdict, row.path]),
      [
        ['Pod team-a/llm', 'deny', 'spec.volumes[1].image.reference'],
        ['StatefulSet team-a/llm', 'allow', 'spec.template.spec.volumes[1].image.reference'],
      ],
    );
    assert.equal(report.denials.length, 1);
  });

  it('takes JSON manifests too', async () => {
    const run = await modelgate(['check', '-f', '-'], JSON.stringify(kubeObject('Pod', [{ name: 'm', reference: UNPINNED }])));
    assert.equal(run.code, 1);
  });

  it('uses --policy and --config instead of the bundled policy', async () => {
    const warned = await modelgate(['check', '-f', join(dir, 'bad.yaml'), '--policy', join(dir, 'warn-policy.yaml')]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stdout, /WARN\s+relaxed\/requireDigest/);
    const scoped = join(dir, 'scoped.yaml');
    await writeFile(scoped, 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: other}\nspec: {match: {references: ["quay.io/**"]}}\n');
    assert.equal((await modelgate(['check', '-f', join(dir, 'bad.yaml'), '--policy', scoped])).code, 1);
    assert.equal((await modelgate(['check', '-f', join(dir, 'bad.yaml'), '--policy', scoped, '--config', join(dir, 'config.yaml')])).code, 0);
  });

  it('says so when there are no image volumes', async () => {
    const run = await modelgate(['check', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }));
    assert.equal(run.code, 0);
    assert.match(run.stdout, /no image-volume model references in 1 object/);
  });

  describe('exits 2 on usage and policy errors', () => {
    const cases: [string, string[], string, RegExp][] = [
      ['no files', ['check'], '', /check needs manifests/],
      ['a missing file', ['check', '-f', '/nonexistent.yaml'], '', /cannot read \/nonexistent\.yaml: ENOENT/],
      ['an unknown output', ['check', '-f', '-', '-o', 'xml'], 'a: 1', /-o must be table or json/],
      ['an unknown flag', ['check', '--frobnicate'], '', /Unknown option '--frobnicate'/],
      ['an unknown command', ['frobnicate'], '', /unknown command "frobnicate"/],
      ['an invalid policy', ['check', '-f', '-', '--policy', 'POLICY'], 'a: 1', /broken-policy\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "strict"/],
      ['invalid YAML manifests', ['check', '-f', '-'], 'a: [1, 2', /\(stdin\) \(document 1\)/],
    ];
    for (const [name, args, stdin, message] of cases) {
      it(name, async () => {
        const run = await modelgate(args.map((arg) => (arg === 'POLICY' ? join(dir, 'broken-policy.yaml') : arg)), stdin);
        assert.equal(run.code, 2, run.stderr);
        assert.match(run.stderr, message);
      });
    }
  });

  it('help exits 0 and lists the commands', async () => {
    const run = await modelgate(['help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /modelgate serve/);
    assert.match(run.stdout, /modelgate check/);
  });
});

describe('modelgate serve', () => {
  it('refuses to start with an invalid policy, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-serve-'));
    await writeFile(join(dir, 'p.yaml'), 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: p}\nspec: {requireDigest: maybe}\n');
    const run = await modelgate(['serve', '--port', '0', '--policy', join(dir, 'p.yaml')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /spec\.requireDigest: must be true or false/);
  });
  it('refuses to start without a key pair, exit 2 with a hint', async () => {
    const run = await modelgate(['serve', '--port', '0', '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot read the TLS key pair .*npm run certs/);
  });
  it('rejects a bad port', async () => {
    const run = await modelgate(['serve', '--port', 'http']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--port must be a port number/);
  });
});
