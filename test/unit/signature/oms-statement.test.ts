/** Reading OMS statements (signature/oms-statement.ts) and the policy section (signature/oms-policy.ts). */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseDocument } from '../../../src/policy/documents.ts';
import { parseOmsStatement } from '../../../src/signature/oms-statement.ts';

const IN_TOTO = 'application/vnd.in-toto+json';
const payload = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const V1 = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'model', digest: { sha256: 'AB'.repeat(32) } }],
  predicateType: 'https://model_signing/signature/v1.0',
  predicate: {
    serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: ['.git', 'model.sig'] },
    resources: [{ name: 'a.txt', algorithm: 'sha256', digest: 'CD'.repeat(32) }],
  },
};

describe('parseOmsStatement', () => {
  it('reads the v1.0 predicate as model_signing 1.1.1 writes it (hex lowercased)', () => {
    const statement = parseOmsStatement(IN_TOTO, payload(V1));
    assert.equal(statement.compat, false);
    assert.equal(statement.modelName, 'model');
    assert.equal(statement.rootDigest, 'ab'.repeat(32));
    assert.deepEqual(statement.ignorePaths, ['.git', 'model.sig']);
    assert.deepEqual(statement.resources, [{ name: 'a.txt', algorithm: 'sha256', digest: 'cd'.repeat(32) }]);
  });

  it('reads the v0.1 predicate: every subject a file, sha256', () => {
    const statement = parseOmsStatement(
      IN_TOTO,
      payload({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'a.txt', digest: { sha256: '00'.repeat(32) } }],
        predicateType: 'https://model_signing/Digests/v0.1',
        predicate: {},
      }),
    );
    assert.equal(statement.compat, true);
    assert.equal(statement.rootDigest, undefined);
    assert.deepEqual(statement.resources, [{ name: 'a.txt', algorithm: 'sha256', digest: '00'.repeat(32) }]);
  });

  const refusals: readonly [string, string, unknown, RegExp][] = [
    ['another payload type', 'text/plain', V1, /payload type is "text\/plain"/],
    ['a cosign signature', IN_TOTO, { ...V1, predicateType: 'https://sigstore.dev/cosign/sign/v1' }, /not a model signature/],
    ['two subjects', IN_TOTO, { ...V1, subject: [...V1.subject, ...V1.subject] }, /has 2 subjects/],
    ['no serialization', IN_TOTO, { ...V1, predicate: { resources: [] } }, /no serialization with method and hash_type/],
    ['a digest that is not hex', IN_TOTO, { ...V1, predicate: { ...V1.predicate, resources: [{ name: 'a', algorithm: 'sha256', digest: 'zz' }] } }, /not hex/],
    ['an in-toto v0.1 statement type', IN_TOTO, { ...V1, _type: 'https://in-toto.io/Statement/v0.1' }, /_type is/],
  ];
  for (const [name, type, value, says] of refusals) {
    it(`refuses ${name}`, () => assert.throws(() => parseOmsStatement(type, payload(value)), says));
  }

  it('refuses duplicate keys (read one way here and another by a verifier)', () => {
    const text = JSON.stringify(V1).replace('"predicateType"', '"predicateType":"x","predicateType"');
    assert.throws(() => parseOmsStatement(IN_TOTO, Buffer.from(text)), /duplicate|twice|more than once/i);
  });
});

describe('spec.modelSignature', () => {
  const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const doc = (modelSignature: unknown) => ({ apiVersion: 'modelgate.dev/v1alpha1', kind: 'ModelPolicy', metadata: { name: 'p' }, spec: { modelSignature } });

  it('fills in the defaults: threshold 1, location any, layerPath model.sig', () => {
    const result = parseDocument(doc({ authorities: [{ name: 'release', key: KEY, tlog: 'optional' }] }), 'test');
    assert.ok(result.ok && result.document.kind === 'ModelPolicy', JSON.stringify(result));
    const policy = result.document.policy.modelSignature;
    assert.deepEqual(
      { threshold: policy?.threshold, location: policy?.location, layerPath: policy?.layerPath },
      { threshold: 1, location: 'any', layerPath: 'model.sig' },
    );
  });

  const problems: readonly [string, unknown, string, RegExp][] = [
    [
      'a threshold over the authorities',
      { threshold: 2, authorities: [{ name: 'a', key: KEY }] },
      'spec.modelSignature.threshold',
      /only 1 authority is listed/,
    ],
    [
      'a layerPath outside the model',
      { layerPath: '../model.sig', authorities: [{ name: 'a', key: KEY }] },
      'spec.modelSignature.layerPath',
      /clean relative path/,
    ],
    ['an absolute layerPath', { layerPath: '/model.sig', authorities: [{ name: 'a', key: KEY }] }, 'spec.modelSignature.layerPath', /relative to the model/],
    [
      'a layerPath with location referrer',
      { location: 'referrer', layerPath: 'x.sig', authorities: [{ name: 'a', key: KEY }] },
      'spec.modelSignature.layerPath',
      /not read with location: referrer/,
    ],
    ['an unknown location', { location: 'somewhere', authorities: [{ name: 'a', key: KEY }] }, 'spec.modelSignature.location', /referrer|layer|any/],
    [
      'an authority with two kinds',
      { authorities: [{ name: 'a', key: KEY, static: 'pass' }] },
      'spec.modelSignature.authorities[0]',
      /only one of key, keyless or static/,
    ],
    ['an empty section', null, 'spec.modelSignature', /must be a mapping/],
  ];
  for (const [name, section, path, says] of problems) {
    it(`refuses ${name} at ${path}`, () => {
      const result = parseDocument(doc(section), 'test');
      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      const error = result.errors.find((candidate) => candidate.path === path);
      assert.ok(error !== undefined, JSON.stringify(result.errors));
      assert.match(error.message, says);
    });
  }
});
