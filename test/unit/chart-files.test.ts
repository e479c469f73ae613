/**
 * The Helm chart's copies of files it cannot read from outside its directory: the bundled
 * policy must be manifests/policy.yaml byte for byte, so Helm and kustomize install the same
 * policy (helm.test.ts compares the rendered webhooks with manifests/ through the API server).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

describe('chart files', () => {
  it('charts/modelgate/files/policy.yaml is manifests/policy.yaml', () => {
    assert.equal(
      readFileSync(join(root, 'charts', 'modelgate', 'files', 'policy.yaml'), 'utf8'),
      readFileSync(join(root, 'manifests', 'policy.yaml'), 'utf8'),
      'copy manifests/policy.yaml into the chart after editing it',
    );
  });
});
