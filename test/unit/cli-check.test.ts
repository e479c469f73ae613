/**
 * `modelgate check` and what every command shares. main() runs in process
 * (runCli captures stdout, stderr and the exit code); a few cases run the real
 * executable to prove it: exit codes 0, 1 and 2, both streams, stdin, and that
 * a failed `serve` exits. A fresh Node shows which modules a command loads.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { main } from '../../src/cli/main.ts';
import type { ModelgateError } from '../../src/core/errors.ts';
import type { CommandIO } from '../../src/cli/report.ts';
import { InvalidReferenceError } from '../../src/reference/parse.ts';
import { commandEngine } from '../../src/cli/engine.ts';
import { editDistance, suggestFlag } from '../../src/cli/flags.ts';
import { CHECK } from '../../src/cli/commands.ts';
import { ClusterError } from '../../src/kube/api-errors.ts';
import { UsageError } from '../../src/cli/usage.ts';
import { ManifestError } from '../../src/admission/objects.ts';
import { needsRegistry } from '../../src/engine/registry-needs.ts';
import { PolicyLoadError, loadPolicySet, policySetFromTexts } from '../../src/policy/load.ts';
import { TlsFilesError } from '../../src/server/tls.ts';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { runCli } from '../support/cli.ts';
import { makeCerts } from '../support/webhook-server.ts';
import { PINNED, UNPINNED, kubeObject } from '../support/objects.ts';
import { modelPolicy, configDocument } from '../support/policies.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real executable, as a user or CI would: only for what main() in process cannot prove. */
function modelgate(args: string[], stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'modelgate.js'), ...args], {
      env: { ...process.env, MODELGATE_POLICY: '', MODELGATE_CONFIG: '' },
    });
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
    await writeFile(
      join(dir, 'good.yaml'),
      docs(kubeObject('Deployment', [{ name: 'm', reference: PINNED }]), { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }),
    );
    await writeFile(
      join(dir, 'bad.yaml'),
      docs(kubeObject('Pod', [{ name: 'm', reference: PINNED }]), kubeObject('CronJob', [{ name: 'adapter', reference: UNPINNED }])),
    );
    await writeFile(join(dir, 'warn-policy.yaml'), modelPolicy('relaxed', '{mode: warn}'));
    await writeFile(join(dir, 'broken-policy.yaml'), modelPolicy('broken', '{mode: strict}'));
    await writeFile(join(dir, 'config.yaml'), configDocument('{defaultAction: allow}'));
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
    assert.match(
      run.stdout,
      /CronJob team-a\/llm\s+adapter\s+ghcr\.io\/acme\/models\/llama:v1\s+DENY\s+pinned-models\/requireDigest: pinned only by tag "v1", not by digest/,
    );
    assert.match(run.stdout, /Pod team-a\/llm\s+m\s+\S+\s+ALLOW/);
    assert.match(run.stderr, /modelgate denied CronJob team-a\/llm: a model reference failed policy/);
    assert.match(run.stderr, /spec\.jobTemplate\.spec\.template\.spec\.volumes\[1\]\.image\.reference/);
  });

  it('reads stdin with -f -, including kind: List as `kubectl get -o yaml` prints it', async () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      metadata: { resourceVersion: '' },
      items: [kubeObject('Pod', [{ name: 'm', reference: UNPINNED }]), kubeObject('StatefulSet', [{ name: 'm', reference: PINNED }])],
    };
    const run = await modelgate(['check', '-f', '-', '-o', 'json'], stringify(list));
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout) as {
      allowed: boolean;
      objects: number;
      rows: { object: string; verdict: string; path: string }[];
      denials: string[];
    };
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
    const run = await runCli(['check', '-f', '-'], JSON.stringify(kubeObject('Pod', [{ name: 'm', reference: UNPINNED }])));
    assert.equal(run.code, 1);
  });

  it('uses --policy and --config instead of the bundled policy', async () => {
    const warned = await runCli(['check', '-f', join(dir, 'bad.yaml'), '--policy', join(dir, 'warn-policy.yaml')]);
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stdout, /WARN\s+relaxed\/requireDigest/);
    const scoped = join(dir, 'scoped.yaml');
    await writeFile(scoped, modelPolicy('other', '{match: {references: ["quay.io/**"]}}'));
    assert.equal((await runCli(['check', '-f', join(dir, 'bad.yaml'), '--policy', scoped])).code, 1);
    assert.equal((await runCli(['check', '-f', join(dir, 'bad.yaml'), '--policy', scoped, '--config', join(dir, 'config.yaml')])).code, 0);
  });

  it('says so when there are no image volumes', async () => {
    const run = await runCli(['check', '-f', '-'], stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }));
    assert.equal(run.code, 0);
    assert.match(run.stdout, /no image-volume model references in 1 object/);
  });

  describe('exits 2 on usage and policy errors', () => {
    const cases: [string, string[], string, RegExp][] = [
      ['no files', ['check'], '', /check needs manifests/],
      ['a missing file', ['check', '-f', '/nonexistent.yaml'], '', /cannot read \/nonexistent\.yaml: ENOENT/],
      ['an unknown output', ['check', '-f', '-', '-o', 'xml'], 'a: 1', /-o must be table or json/],
      ['an unknown flag', ['check', '--frobnicate'], '', /^modelgate: unknown flag --frobnicate for check\nRun `modelgate check --help` for usage\.\n$/],
      [
        'empty input',
        ['check', '-f', '-'],
        '',
        /^modelgate: no Kubernetes objects in stdin \(an empty file, or a failed kubectl get\?\); pass --allow-empty to accept that\n/,
      ],
      ['an unknown command', ['frobnicate'], '', /unknown command "frobnicate"/],
      [
        'an invalid policy',
        ['check', '-f', '-', '--policy', 'POLICY'],
        'a: 1',
        /broken-policy\.yaml \(document 1\) spec\.mode: must be one of enforce, warn, audit, got "strict"/,
      ],
      ['invalid YAML manifests', ['check', '-f', '-'], 'a: [1, 2', /\(stdin\) \(document 1\)/],
    ];
    for (const [name, args, stdin, message] of cases) {
      it(name, async () => {
        const run = await runCli(
          args.map((arg) => (arg === 'POLICY' ? join(dir, 'broken-policy.yaml') : arg)),
          stdin,
        );
        assert.equal(run.code, 2, run.stderr);
        assert.match(run.stderr, message);
      });
    }
  });

  it('help exits 0 and lists the commands', async () => {
    const run = await runCli(['help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /modelgate serve/);
    assert.match(run.stdout, /modelgate check/);
  });
});

describe('modelgate serve', () => {
  it('refuses to start with an invalid policy, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-serve-'));
    await writeFile(join(dir, 'p.yaml'), modelPolicy('p', '{requireDigest: maybe}'));
    const run = await runCli(['serve', '--port', '0', '--policy', join(dir, 'p.yaml')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /spec\.requireDigest: must be true or false/);
  });
  it('refuses to start without a key pair, exit 2 with a hint', async () => {
    // Silent: without --policy or a cluster, serve logs (to stdout) that it serves the bundled policy.
    const run = await runCli(['serve', '--port', '0', '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key'], '', {
      MODELGATE_LOG_LEVEL: 'silent',
    });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot read the TLS key pair .*npm run certs/);
  });
  it('rejects a bad port', async () => {
    const run = await runCli(['serve', '--port', 'http']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--port must be a port number/);
  });
});

describe('modelgate check, in process', () => {
  let dir: string;
  const docs = (...objects: unknown[]): string => objects.map((object) => stringify(object)).join('---\n');
  const withoutNamespace = (kind: string, reference: string, name = 'llm'): Record<string, unknown> => {
    const object = kubeObject(kind, [{ name: 'm', reference }], { name });
    delete (object['metadata'] as Record<string, unknown>)['namespace'];
    return object;
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelgate-check-in-process-'));
  });

  it("--help and -h print the command's usage, exit 0, for every command, without loading it", async () => {
    for (const command of ['check', 'audit', 'explain', 'serve']) {
      for (const flag of ['--help', '-h']) {
        const run = await runCli([command, flag]);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, new RegExp(`^modelgate ${command}: `));
        assert.match(run.stdout, /^Usage:\n {2}modelgate /m);
        assert.match(run.stdout, /^ {2}-h, --help {3,}print this command's usage$/m);
      }
    }
    const check = await runCli(['check', '-f', 'x.yaml', '--help']);
    assert.match(check.stdout, /^ {2}-n, --namespace NS {3,}namespace of objects that name none/m);
    assert.match(check.stdout, /^ {6}--policy PATH {3,}ModelPolicy file or directory; repeatable \(env MODELGATE_POLICY, comma-separated\)$/m);
    assert.match((await runCli(['audit', '--help'])).stdout, /^ {6}--include-system-namespaces {3,}also kube-system and the webhook's own namespace/m);
    assert.equal((await runCli(['help', 'explain'])).stdout, (await runCli(['explain', '--help'])).stdout);
    // After `--`, --help is a file name, not a flag.
    const literal = await runCli(['check', '--', '--help']);
    assert.equal(literal.code, 2);
    assert.match(literal.stderr, /cannot read --help: ENOENT/);
  });

  it('help lists every command; --version, -v and version print the package version', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['serve', 'check', 'audit', 'explain']) assert.match(help.stdout, new RegExp(`^ {2}modelgate ${command} `, 'm'));
    assert.match(help.stdout, /modelgate COMMAND --help/);
    const { version } = JSON.parse(await readFile(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v', 'version']) assert.deepEqual(await runCli([flag]), { code: 0, stdout: `modelgate ${version}\n`, stderr: '' });
    assert.equal((await runCli([])).code, 2, 'no command at all is a usage error');
  });

  it('an unknown flag is one line with a "did you mean", exit 2', async () => {
    const cases: [string[], string][] = [
      [['check', '--polcy', 'p.yaml'], 'unknown flag --polcy for check; did you mean --policy?'],
      [['check', '--namepsace=prod'], 'unknown flag --namepsace for check; did you mean --namespace?'],
      [['check', '-policy', 'p.yaml'], 'unknown flag -policy for check; did you mean --policy?'],
      [['check', '-F', 'x.yaml'], 'unknown flag -F for check; did you mean -f?'],
      [['check', '--off'], 'unknown flag --off for check; did you mean --offline?'],
      [['audit', '--all-namespace'], 'unknown flag --all-namespace for audit; did you mean --all-namespaces?'],
      [['explain', 'x', '--kube-config', 'k'], 'unknown flag --kube-config for explain; did you mean --kubeconfig?'],
      [['serve', '--prot', '1'], 'unknown flag --prot for serve; did you mean --port?'],
      [['chek'], 'unknown command "chek"; did you mean check?'],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.stderr, `modelgate: ${message}\n`);
    }
    const far = await runCli(['check', '--frobnicate']);
    assert.equal(far.stderr, 'modelgate: unknown flag --frobnicate for check\nRun `modelgate check --help` for usage.\n');
    const value = await runCli(['check', '-f']);
    assert.equal(value.stderr, 'modelgate: -f/--filename needs a value (FILE|DIR|-)\nRun `modelgate check --help` for usage.\n');
    assert.equal((await runCli(['check', '--offline=yes', '-f', 'x'])).stderr.split('\n')[0], 'modelgate: --offline takes no value');
    assert.equal(
      (await runCli(['--policy', 'p', 'check'])).stderr.split('\n')[0],
      'modelgate: unknown flag --policy: flags go after the command, as in modelgate check --policy ...',
    );
  });

  it('suggests by edit distance, only when the flag is close and unambiguous', () => {
    assert.equal(editDistance('namepsace', 'namespace'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(suggestFlag('--outptu', CHECK.flags), '--output');
    assert.equal(suggestFlag('--o', CHECK.flags), undefined, 'too short to guess');
    assert.equal(suggestFlag('--xyz', CHECK.flags), undefined);
    assert.equal(suggestFlag('-x', CHECK.flags), undefined);
  });

  it('main() reports each user error kind by its message alone, with its exit code 2; anything else goes through (stack, exit 1)', async () => {
    const errors: ModelgateError[] = [
      new UsageError('u'),
      new PolicyLoadError([]),
      new ManifestError('m'),
      new TlsFilesError('t'),
      new ClusterError('CLUSTER_UNREACHABLE', 'c'),
    ];
    const printed: string[] = [];
    // The error is thrown where the command reads its input, as any of them could be.
    const failingWith = (error: unknown): CommandIO => ({ stdout: () => {}, stderr: (text) => printed.push(text), stdin: () => Promise.reject(error) });
    for (const error of errors) {
      printed.length = 0;
      assert.equal(error.exitCode, 2, error.name);
      assert.equal(await main(['check', '-f', '-'], failingWith(error)), 2, error.name);
      assert.ok(printed.join('').startsWith(`modelgate: ${error.message}\n`), printed.join(''));
    }
    const notForUsers = [new InvalidReferenceError('x', 'bad'), new Error('a bug'), 'a string'];
    for (const error of notForUsers) await assert.rejects(main(['check', '-f', '-'], failingWith(error)), (thrown: unknown) => thrown === error);
  });

  it('-n places objects without a namespace (Helm and kustomize output); those with one keep it', async () => {
    const file = join(dir, 'helm.yaml');
    await writeFile(
      file,
      docs(withoutNamespace('Deployment', UNPINNED), kubeObject('Pod', [{ name: 'm', reference: UNPINNED }], { name: 'own', namespace: 'team-a' })),
    );
    const policy = join(dir, 'prod-warns.yaml');
    await writeFile(
      policy,
      'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: prod}\nspec: {mode: warn, match: {namespaces: [prod]}}\n---\napiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: others}\nspec: {match: {excludeNamespaces: [prod]}}\n',
    );
    const objectsOf = (stdout: string): string[][] =>
      (JSON.parse(stdout) as { rows: { object: string; verdict: string }[] }).rows.map((row) => [row.object, row.verdict]);
    const plain = await runCli(['check', '-f', file, '--policy', policy, '-o', 'json']);
    assert.equal(plain.code, 1);
    assert.deepEqual(objectsOf(plain.stdout), [
      ['Deployment default/llm', 'deny'],
      ['Pod team-a/own', 'deny'],
    ]);
    const prod = await runCli(['check', '-f', file, '--policy', policy, '-n', 'prod', '-o', 'json']);
    assert.deepEqual(objectsOf(prod.stdout), [
      ['Deployment prod/llm', 'warn'],
      ['Pod team-a/own', 'deny'],
    ]);
    const long = await runCli(['check', '-f', file, '--policy', policy, '--namespace=prod', '-o', 'json']);
    assert.deepEqual(objectsOf(long.stdout), objectsOf(prod.stdout));
    assert.match((await runCli(['check', '-f', file, '-n', ''])).stderr, /-n needs a namespace name/);
  });

  it('-f DIR reads *.yaml, *.yml and *.json below it in name order, as kubectl -R does (-R accepted)', async () => {
    const root = join(dir, 'chart');
    await mkdir(join(root, 'b', 'c'), { recursive: true });
    await mkdir(join(root, '.git'), { recursive: true });
    await writeFile(join(root, 'a.yaml'), stringify(withoutNamespace('Pod', PINNED, 'a')));
    await writeFile(join(root, 'b', 'c', 'd.yml'), stringify(withoutNamespace('Pod', PINNED, 'd')));
    await writeFile(join(root, 'b', 'b.json'), JSON.stringify(withoutNamespace('Pod', UNPINNED, 'b')));
    await writeFile(join(root, 'c.YAML'), stringify(withoutNamespace('Pod', PINNED, 'e')));
    await writeFile(join(root, 'notes.txt'), 'not: a manifest\n');
    await writeFile(join(root, '.git', 'x.yaml'), stringify(withoutNamespace('Pod', UNPINNED, 'hidden')));
    await symlink(join(root, 'a.yaml'), join(root, 'z-link.yaml'));
    const rows = (stdout: string): string[] => (JSON.parse(stdout) as { rows: { object: string }[] }).rows.map((row) => row.object);
    const run = await runCli(['check', '-f', root, '-o', 'json']);
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(rows(run.stdout), ['Pod default/a', 'Pod default/b', 'Pod default/d', 'Pod default/e', 'Pod default/a']);
    const recursive = await runCli(['check', '-R', '-f', root, '-o', 'json']);
    assert.deepEqual(rows(recursive.stdout), rows(run.stdout));
    const table = await runCli(['check', '-f', root]);
    assert.match(table.stderr, /modelgate denied Pod default\/b/);
    const empty = join(dir, 'empty-dir');
    await mkdir(empty);
    await writeFile(join(empty, 'README.md'), '# nothing\n');
    const none = await runCli(['check', '-f', empty]);
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /^modelgate: no Kubernetes objects in .*empty-dir, which holds no \.yaml, \.yml or \.json file \(an empty file, or a failed kubectl get\?\); pass --allow-empty to accept that$/m,
    );
    assert.equal((await runCli(['check', '-f', empty, '--allow-empty'])).code, 0);
  });

  it('empty input is exit 2 unless --allow-empty; comments and `---` alone are empty too', async () => {
    for (const text of ['', '# kubectl get failed\n', '---\n---\n', 'apiVersion: v1\nkind: List\nitems: []\n']) {
      const run = await runCli(['check', '-f', '-'], text);
      assert.equal(run.code, 2, JSON.stringify(text));
      assert.match(run.stderr, /no Kubernetes objects in stdin/);
      const allowed = await runCli(['check', '-f', '-', '--allow-empty'], text);
      assert.equal(allowed.code, 0);
      assert.equal(allowed.stdout, 'no image-volume model references in 0 object(s)\n');
    }
    const file = join(dir, 'empty.yaml');
    await writeFile(file, '');
    assert.match((await runCli(['check', '-f', file])).stderr, /no Kubernetes objects in .*empty\.yaml \(/);
    const json = await runCli(['check', '-f', '-', '--allow-empty', '-o', 'json'], '');
    assert.equal((JSON.parse(json.stdout) as { objects: number }).objects, 0);
  });

  it('names the policy it used: the bundled file by default, else the files given', async () => {
    const manifest = stringify(kubeObject('Pod', [{ name: 'm', reference: PINNED }]));
    const bundled = await runCli(['check', '-f', '-'], manifest);
    assert.equal(bundled.code, 0);
    const revision = (await loadPolicySet([join(PACKAGE_ROOT, 'manifests', 'policy.yaml')])).revision;
    assert.equal(bundled.stderr, `policy: manifests/policy.yaml (bundled), revision ${revision}\n`);
    const json = JSON.parse((await runCli(['check', '-f', '-', '-o', 'json'], manifest)).stdout) as { policy: Record<string, unknown> };
    assert.deepEqual(json.policy, {
      source: 'bundled',
      description: `manifests/policy.yaml (bundled), revision ${revision}`,
      sources: [join(PACKAGE_ROOT, 'manifests', 'policy.yaml')],
      revision,
      policies: 1,
      defaultAction: 'deny',
      warnings: [],
    });
    const policy = join(dir, 'one.yaml');
    const config = join(dir, 'allow.yaml');
    await writeFile(policy, modelPolicy('one'));
    await writeFile(config, configDocument('{defaultAction: allow}'));
    const files = await runCli(['check', '-f', '-', '--policy', policy, '--config', config], manifest);
    assert.match(files.stderr, new RegExp(`^policy: ${policy} with Config ${config}, revision [0-9a-f]{12}\\n$`));
    const fromEnv = await runCli(['check', '-f', '-'], manifest, { MODELGATE_POLICY: policy });
    assert.match(fromEnv.stderr, new RegExp(`^policy: ${policy}, revision`));
    // check never reads a cluster, even with one configured.
    const clustered = await runCli(['check', '-f', '-'], manifest, { KUBECONFIG: join(dir, 'some-kubeconfig') });
    assert.match(clustered.stderr, /^policy: manifests\/policy\.yaml \(bundled\)/);
  });

  it('says so when the policy holds no ModelPolicy: everything falls to the defaultAction', async () => {
    const config = join(dir, 'only-config.yaml');
    await writeFile(config, configDocument('{defaultAction: allow}'));
    const manifest = stringify(kubeObject('Pod', [{ name: 'm', reference: UNPINNED }]));
    const run = await runCli(['check', '-f', '-', '--policy', config], manifest);
    assert.equal(run.code, 0);
    assert.match(
      run.stderr,
      /^modelgate: warning: the policy holds no ModelPolicy: every model reference gets the Config's defaultAction \(allow\), so every image volume is allowed$/m,
    );
    const json = JSON.parse((await runCli(['check', '-f', '-', '--policy', config, '-o', 'json'], manifest)).stdout) as {
      policy: { policies: number; warnings: string[] };
    };
    assert.equal(json.policy.policies, 0);
    assert.equal(json.policy.warnings.length, 1);
    const denying = join(dir, 'only-deny.yaml');
    await writeFile(denying, configDocument('{defaultAction: deny}'));
    const denied = await runCli(['check', '-f', '-', '--policy', denying], manifest);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /defaultAction \(deny\), so every image volume is denied/);
  });

  it('makes no registry client when no policy reads a registry, as createEngine', async () => {
    const text = (spec: string): string => modelPolicy('p', spec);
    const cases: Array<[string, boolean]> = [
      ['{}', false],
      ['{registries: [ghcr.io]}', false],
      ['{artifact: {maxSize: 1Gi}}', true],
    ];
    for (const [spec, readsRegistry] of cases) {
      const policySet = policySetFromTexts([{ source: 'p.yaml', text: text(spec) }]);
      assert.equal(needsRegistry(policySet), readsRegistry, spec);
      const engine = await commandEngine(policySet, {});
      assert.equal(engine.client !== undefined, readsRegistry, spec);
      await engine.client?.close();
      assert.equal((await commandEngine(policySet, { offline: true })).client, undefined);
    }
  });
});

describe('what each command loads', () => {
  /** Runs main() in a fresh Node with a resolve hook that records every package imported. */
  async function packagesLoaded(args: string[]): Promise<string[]> {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-loaded-'));
    const script = join(dir, 'loaded.mjs');
    await writeFile(
      script,
      `import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) {
  if (!/^(\\.|\\/|node:|file:)/.test(specifier)) seen.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
  return next(specifier, context);
} });
const { main } = await import(${JSON.stringify(join(PACKAGE_ROOT, 'src', 'cli', 'main.ts'))});
await main(process.argv.slice(2), { stdout: () => {}, stderr: () => {}, stdin: async () => '' });
process.stdout.write(JSON.stringify([...seen].sort()));
`,
    );
    const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, MODELGATE_POLICY: '', MODELGATE_CONFIG: '' } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    return JSON.parse(stdout) as string[];
  }
  const HEAVY = ['@kubernetes/client-node', 'express', 'pino', 'prom-client', 'undici', 'sigstore', '@sigstore/tuf'];

  it('help and version load no package at all', async () => {
    for (const args of [['--help'], ['--version'], ['check', '--help'], ['audit', '--help'], ['serve', '-h']])
      assert.deepEqual(await packagesLoaded(args), [], args.join(' '));
  });

  it('check with a policy that reads no registry loads neither the Kubernetes client, express, pino nor the registry client', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-loaded-check-'));
    const file = join(dir, 'pod.yaml');
    await writeFile(file, stringify(kubeObject('Pod', [{ name: 'm', reference: PINNED }])));
    const loaded = await packagesLoaded(['check', '-f', file]);
    assert.ok(loaded.includes('yaml'), `the check ran: ${loaded.join(' ')}`);
    for (const heavy of HEAVY) assert.ok(!loaded.includes(heavy), `${heavy} loaded: ${loaded.join(' ')}`);
  });
});

describe('modelgate serve: startup errors are one line, exit 2', () => {
  it('a port in use (EADDRINUSE), from the real executable, which then exits', async () => {
    const certs = await makeCerts();
    const busy = createNetServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-serve-busy-'));
    await writeFile(join(dir, 'p.yaml'), modelPolicy('p'));
    try {
      const run = await modelgate([
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--tls-cert',
        join(certs.dir, 'tls.crt'),
        '--tls-key',
        join(certs.dir, 'tls.key'),
        '--policy',
        join(dir, 'p.yaml'),
      ]);
      assert.equal(run.code, 2);
      assert.equal(
        run.stderr,
        `modelgate: cannot listen on 127.0.0.1 port ${port}: the port is in use (EADDRINUSE); stop what uses it or pass --port N (MODELGATE_PORT)\n`,
      );
    } finally {
      busy.close();
    }
  });

  it('an unknown MODELGATE_LOG_LEVEL', async () => {
    const run = await runCli(['serve', '--port', '0'], '', { MODELGATE_LOG_LEVEL: 'verbose' });
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'modelgate: MODELGATE_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"\n');
  });
});
