/**
 * examples/ is what a new user copies (issue 10): every manifest and policy there is run
 * through `modelgate check` as the README shows it, so the examples cannot rot.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/core/package-root.ts';
import { policySetFromTexts } from '../../src/policy/load.ts';
import { runCli } from '../support/cli.ts';

const EXAMPLES = join(PACKAGE_ROOT, 'examples');
const manifests = readdirSync(EXAMPLES).filter((name) => name.endsWith('.yaml') && name !== 'config.yaml');
const policies = readdirSync(join(EXAMPLES, 'policies')).map((name) => join(EXAMPLES, 'policies', name));

describe('examples', () => {
  it('every policy and the Config load', () => {
    const set = policySetFromTexts([...policies, join(EXAMPLES, 'config.yaml')].map((file) => ({ source: file, text: readFileSync(file, 'utf8') })));
    assert.deepEqual(
      set.policies.map((policy) => policy.name),
      ['pinned', 'safetensors-modelpack', 'signed-by-ci', 'trusted-registries'],
    );
    assert.equal(set.config.shortNames, 'deny');
  });

  for (const manifest of manifests) {
    it(`${manifest} is allowed by the pinning and registry policies, as the README shows`, async () => {
      const file = join(EXAMPLES, manifest);
      const run = await runCli([
        'check',
        '-f',
        file,
        '--policy',
        join(EXAMPLES, 'policies', 'pinned.yaml'),
        '--policy',
        join(EXAMPLES, 'policies', 'trusted-registries.yaml'),
        '--config',
        join(EXAMPLES, 'config.yaml'),
      ]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /ALLOW/);
    });

    it(`${manifest} with its model pinned only by tag is denied`, async () => {
      const unpinned = readFileSync(join(EXAMPLES, manifest), 'utf8').replace(/(ghcr\.io\/acme\/models\/[a-z0-9.-]+)(?::v1)?@sha256:[0-9a-f]{64}/g, '$1:v1');
      const run = await runCli(['check', '-f', '-', '--policy', join(EXAMPLES, 'policies', 'pinned.yaml'), '--offline'], unpinned);
      assert.equal(run.code, 1, run.stdout + run.stderr);
      assert.match(run.stdout + run.stderr, /pinned\/requireDigest: pinned only by tag "v1"/);
    });
  }

  it('the registry-backed policies say, offline, that they could not check (spec.onError: deny)', async () => {
    const run = await runCli([
      'check',
      '-f',
      join(EXAMPLES, 'vllm-deployment.yaml'),
      '--policy',
      join(EXAMPLES, 'policies'),
      '--config',
      join(EXAMPLES, 'config.yaml'),
      '--offline',
    ]);
    assert.equal(run.code, 1);
    assert.match(run.stdout + run.stderr, /safetensors-modelpack\/artifact: the artifact could not be checked/);
    assert.match(run.stdout + run.stderr, /signed-by-ci\/signatures: the signatures could not be checked/);
  });
});
