import assert from 'node:assert/strict';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { matchesGlob } from '../../src/core/glob.ts';
import { PolicyLoadError, loadPolicySet, policySetFromTexts } from '../../src/policy/load.ts';
import { matchingPolicies } from '../../src/policy/match.ts';
import { BUNDLED_POLICY } from '../../src/core/package-root.ts';

const policy = (name: string, spec: string): string => `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata:
  name: ${name}
spec:
${spec
  .split('\n')
  .map((line) => `  ${line}`)
  .join('\n')}
`;

function problemsOf(text: string): PolicyLoadError['problems'] {
  try {
    policySetFromTexts([{ source: 'p.yaml', text }]);
  } catch (error) {
    assert.ok(error instanceof PolicyLoadError);
    return error.problems;
  }
  assert.fail('expected the policy to be rejected');
}

describe('globs', () => {
  const cases: [string, string, boolean][] = [
    ['*', 'team-a', true],
    ['team-*', 'team-a', true],
    ['team-*', 'prod', false],
    ['ghcr.io/acme/*', 'ghcr.io/acme/llama', true],
    ['ghcr.io/acme/*', 'ghcr.io/acme/models/llama', false],
    ['ghcr.io/acme/**', 'ghcr.io/acme/models/llama', true],
    ['ghcr.io/acme/**', 'ghcr.io/acme', true],
    ['ghcr.io/acme/**', 'ghcr.io/acmex/llama', false],
    ['**', 'docker.io/library/busybox', true],
    ['*/acme/**', 'ghcr.io/acme/a/b', true],
    ['**/llama', 'ghcr.io/acme/llama', true],
    ['ghcr.io/**/llama', 'ghcr.io/llama', true],
    ['ghcr.io/**/llama', 'ghcr.io/a/b/llama', true],
    ['registry.local:5000/m?', 'registry.local:5000/m1', true],
    ['registry.local:5000/m?', 'registry.local:5000/m12', false],
    ['a.b', 'aXb', false],
    ['*.example.com', 'r.example.com', true],
    ['(x)', '(x)', true],
  ];
  for (const [glob, value, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${value}`, () => assert.equal(matchesGlob(glob, value), expected));
  }
});

describe('policy loading', () => {
  it('loads several documents with defaults filled in', () => {
    const set = policySetFromTexts([
      {
        source: 'p.yaml',
        text: `${policy('a', 'mode: warn\nmatch:\n  namespaces: ["team-*"]\n  references: ["ghcr.io/acme/**"]\nregistries: ["ghcr.io"]')}---\n${policy('b', '{}')}---\n`,
      },
    ]);
    assert.deepEqual(
      set.policies.map((p) => [p.name, p.mode, p.requireDigest, p.match.namespaces, p.match.references, p.registries, p.source]),
      [
        ['a', 'warn', true, ['team-*'], ['ghcr.io/acme/**'], ['ghcr.io'], 'p.yaml#1'],
        ['b', 'enforce', true, ['*'], ['**'], [], 'p.yaml#2'],
      ],
    );
    assert.equal(set.config.defaultAction, 'deny');
    assert.match(set.revision, /^[0-9a-f]{12}$/);
  });

  it('reads a Config document', () => {
    const set = policySetFromTexts([
      {
        source: 'c.yaml',
        text: 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec:\n  defaultAction: warn\n  registries:\n    - host: registry.local:5000\n      insecure: true\n',
      },
    ]);
    assert.equal(set.config.defaultAction, 'warn');
    assert.deepEqual(set.config.registries, [{ host: 'registry.local:5000', insecure: true, ca: undefined }]);
  });

  it('the revision changes with the content and not with the file names', () => {
    const one = policySetFromTexts([{ source: 'x.yaml', text: policy('a', 'mode: warn') }]);
    const same = policySetFromTexts([{ source: 'y.yaml', text: policy('a', 'mode: warn') }]);
    const other = policySetFromTexts([{ source: 'x.yaml', text: policy('a', 'mode: audit') }]);
    assert.equal(one.revision, same.revision);
    assert.notEqual(one.revision, other.revision);
  });

  it('rejects unknown fields and wrong types, naming document and field path', () => {
    const problems = problemsOf(
      `${policy('ok', '{}')}---\n${policy('bad', 'mode: block\nrequireDigest: "yes"\nmatch:\n  namespace: ["x"]\n  references: "ghcr.io/**"\nregistries: [1]\nextra: true')}`,
    );
    const found = problems.map((p) => `${p.document} ${p.path}: ${p.message}`);
    assert.deepEqual(found, [
      '2 spec.mode: must be one of enforce, warn, audit, got "block"',
      '2 spec.requireDigest: must be true or false, got the string "yes"',
      '2 spec.match.namespace: is not a known field (known: namespaces, excludeNamespaces, references)',
      '2 spec.match.references: must be a list, got the string "ghcr.io/**"',
      '2 spec.registries[0]: must be a string, got number 1',
      '2 spec.extra: is not a known field (known: mode, match, requireDigest, registries, onError, signatures, modelSignature, artifact, attestations)',
    ]);
    assert.ok(problems.every((p) => p.source === 'p.yaml'));
  });

  it('rejects a wrong apiVersion, kind, a missing name and YAML syntax errors', () => {
    assert.deepEqual(
      problemsOf('apiVersion: modelgate.dev/v1\nkind: ModelPolicy\nmetadata: {name: a}\n').map((p) => p.path),
      ['apiVersion'],
    );
    assert.match(problemsOf('apiVersion: modelgate.dev/v1alpha1\nkind: Policy\n')[0]?.message ?? '', /ModelPolicy or Config/);
    assert.deepEqual(
      problemsOf('apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {}\n').map((p) => `${p.path} ${p.message}`),
      ['metadata.name is required'],
    );
    assert.match(problemsOf('apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: Upper}\n')[0]?.message ?? '', /lowercase/);
    assert.match(problemsOf('a: [1, 2\n')[0]?.message ?? '', /^YAML/);
    assert.match(problemsOf('a: 1\na: 2\n')[0]?.message ?? '', /^YAML/);
    assert.match(problemsOf('- 1\n- 2\n')[0]?.message ?? '', /mapping/);
  });

  it('rejects duplicate policy names and a second Config', () => {
    const config = 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\n';
    const problems = problemsOf(`${policy('a', '{}')}---\n${policy('a', '{}')}---\n${config}---\n${config}`);
    assert.deepEqual(
      problems.map((p) => p.path),
      ['metadata.name', 'kind'],
    );
    assert.match(problems[0]?.message ?? '', /also defined in p\.yaml#1/);
  });

  it('reads spec.artifact and onError, and rejects bad artifact fields', () => {
    const set = policySetFromTexts([
      {
        source: 'a.yaml',
        text: policy(
          'models',
          'onError: warn\nartifact:\n  types: [modelpack, application/vnd.example.model+json]\n  mountable: true\n  formats: [safetensors]\n  denyFiles: ["*.pkl"]\n  maxSize: 200Gi\n  licenses: [Apache-2.0, MIT]',
        ),
      },
    ]);
    const [models] = set.policies;
    assert.equal(models?.onError, 'warn');
    assert.deepEqual(models?.artifact, {
      types: ['modelpack', 'application/vnd.example.model+json'],
      layerMediaTypes: [],
      mountable: true,
      formats: ['safetensors'],
      denyFiles: ['*.pkl'],
      maxSize: 200 * 2 ** 30,
      licenses: ['Apache-2.0', 'MIT'],
    });
    assert.equal(policySetFromTexts([{ source: 'b.yaml', text: policy('b', '{}') }]).policies[0]?.artifact, undefined);
    const problems = problemsOf(policy('bad', 'onError: ignore\nartifact:\n  types: [tensorflow-thing]\n  maxSize: 10 gigs\n  mountable: yes'));
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      [
        'spec.onError: must be one of deny, allow, warn, got "ignore"',
        'spec.artifact.types[0]: must be a preset (modelpack, kitops, oci-image) or a media type such as application/vnd.example+json',
        'spec.artifact.maxSize: must be a byte quantity such as 200Gi, 500M or 1048576',
        'spec.artifact.mountable: must be true or false, got the string "yes"',
      ],
    );
  });

  it('reads registry timeouts from the Config', () => {
    const set = policySetFromTexts([
      { source: 'c.yaml', text: 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec:\n  timeouts: {requestSeconds: 1, totalSeconds: 3}\n' },
    ]);
    assert.deepEqual(set.config.timeouts, { requestMs: 1000, totalMs: 3000 });
    assert.deepEqual(policySetFromTexts([]).config.timeouts, { requestMs: 2000, totalMs: 4000 });
    assert.match(problemsOf('apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec:\n  timeouts: {totalSeconds: 60}\n')[0]?.message ?? '', /at most 30/);
  });

  it('rejects an empty glob and a CA that is not PEM', () => {
    const problems = problemsOf(
      `${policy('a', 'match:\n  references: [""]')}---\napiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec:\n  registries:\n    - host: r\n      ca: nope\n    - insecure: true\n`,
    );
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      ['spec.match.references[0]: must not be empty', 'spec.registries[0].ca: must be a PEM bundle of CA certificates', 'spec.registries[1].host: is required'],
    );
  });

  it('loads files and directories, skipping non-YAML and hidden entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelgate-policy-'));
    await mkdir(join(dir, 'policies'));
    await writeFile(join(dir, 'policies', 'b.yaml'), policy('b', '{}'));
    await writeFile(join(dir, 'policies', 'a.yml'), policy('a', '{}'));
    await writeFile(join(dir, 'policies', 'notes.txt'), 'not yaml');
    await writeFile(join(dir, 'policies', '.hidden.yaml'), 'garbage: [');
    await writeFile(join(dir, 'config.yaml'), 'apiVersion: modelgate.dev/v1alpha1\nkind: Config\nspec: {defaultAction: allow}\n');
    const set = await loadPolicySet([join(dir, 'policies')], join(dir, 'config.yaml'));
    assert.deepEqual(
      set.policies.map((p) => p.name),
      ['a', 'b'],
    );
    assert.equal(set.config.defaultAction, 'allow');
    await assert.rejects(loadPolicySet([join(dir, 'missing.yaml')]), /missing\.yaml: cannot read: ENOENT/);
  });

  it('the bundled policy requires digests everywhere', async () => {
    const set = await loadPolicySet([BUNDLED_POLICY]);
    assert.equal(set.policies.length, 1);
    const [bundled] = set.policies;
    assert.equal(bundled?.requireDigest, true);
    assert.equal(bundled?.mode, 'enforce');
    assert.equal(matchingPolicies(set, 'any-namespace', 'quay.io/x/y').length, 1);
  });
});

describe('policy matching', () => {
  const set = policySetFromTexts([
    {
      source: 'p.yaml',
      text: [
        policy('acme', 'match:\n  references: ["ghcr.io/acme/**"]'),
        policy('teams', 'match:\n  namespaces: ["team-*"]\n  excludeNamespaces: ["team-sandbox"]'),
      ].join('---\n'),
    },
  ]);
  const names = (namespace: string, repository: string): string[] => matchingPolicies(set, namespace, repository).map((p) => p.name);
  it('matches by namespace and repository globs, honouring excludes', () => {
    assert.deepEqual(names('team-a', 'ghcr.io/acme/m'), ['acme', 'teams']);
    assert.deepEqual(names('team-sandbox', 'ghcr.io/acme/m'), ['acme']);
    assert.deepEqual(names('prod', 'quay.io/x/m'), []);
    assert.deepEqual(names('team-b', 'quay.io/x/m'), ['teams']);
  });
});
