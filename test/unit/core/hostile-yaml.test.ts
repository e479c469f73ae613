/**
 * Policy text and podSpecPatch YAML a tenant controls: repeated keys refused in one pass
 * (core/yaml-keys.ts), and a mapping of thousands of unknown fields reported by its first 20
 * and a count (core/schema-errors.ts). No timing is asserted; the shapes that were quadratic are.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { duplicateKeyProblem } from '../../../src/core/yaml-keys.ts';
import { PolicyLoadError, policySetFromTexts } from '../../../src/policy/load.ts';

const header = 'apiVersion: modelgate.dev/v1alpha1\nkind: ModelPolicy\nmetadata: {name: p}\n';

function loadError(text: string): string {
  try {
    policySetFromTexts([{ source: 'p.yaml', text }]);
  } catch (error) {
    assert.ok(error instanceof PolicyLoadError);
    return error.message;
  }
  assert.fail('the policy loaded');
}

describe('hostile YAML', () => {
  it('a repeated key at any depth is refused; the same text as a number and a string are two keys, as the yaml library reads them', () => {
    assert.match(duplicateKeyProblem(parseDocument('a: {b: 1, c: [ {d: 1, d: 2} ]}', { uniqueKeys: false })) ?? '', /"d" appears more than once/);
    assert.equal(duplicateKeyProblem(parseDocument('a: 1\nb: {a: 2}', { uniqueKeys: false })), undefined);
    assert.equal(duplicateKeyProblem(parseDocument('1: a\n"1": b', { uniqueKeys: false })), undefined);
    assert.match(loadError(`${header}spec: {requireDigest: true, requireDigest: false}\n`), /YAML: Map keys must be unique: "requireDigest"/);
  });

  it('names the first 20 unknown fields of a mapping and counts the rest', () => {
    const keys = Array.from({ length: 3000 }, (_, index) => `  k${index}: 1`).join('\n');
    const message = loadError(`${header}spec:\n${keys}\n`);
    assert.equal(message.match(/is not a known field \(known:/g)?.length, 20);
    assert.match(message, /spec\.k20: is not a known field, nor are 2979 more of this mapping/);
  });
});
