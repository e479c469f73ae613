/** List options (cli/options.ts): one reading of comma-separated environment lists for every flag that takes one. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commaList, listOption, policyPathsOption } from '../../src/cli/options.ts';

describe('list options', () => {
  it('trims entries and drops empty ones, so " b" or a trailing comma never names a webhook configuration or file', () => {
    assert.deepEqual(commaList(' a, b ,,c,'), ['a', 'b', 'c']);
    assert.deepEqual(listOption(undefined, 'MODELGATE_WEBHOOK_CONFIGS', { MODELGATE_WEBHOOK_CONFIGS: 'modelgate, modelgate-ai-workloads,' }), [
      'modelgate',
      'modelgate-ai-workloads',
    ]);
  });

  it('prefers the flag, and is empty when neither the flag nor the variable names any', () => {
    assert.deepEqual(listOption(['x'], 'MODELGATE_WEBHOOK_CONFIGS', { MODELGATE_WEBHOOK_CONFIGS: 'y' }), ['x']);
    assert.deepEqual(listOption([], 'MODELGATE_WEBHOOK_CONFIGS', { MODELGATE_WEBHOOK_CONFIGS: ' , ' }), []);
    assert.deepEqual(policyPathsOption(undefined, { MODELGATE_POLICY: 'a.yaml, b.yaml' }), ['a.yaml', 'b.yaml']);
  });
});
