/**
 * The strict JSON reader refuses exactly what Go's encoding/json (the
 * container runtime's decoder) could read differently from JSON.parse. The
 * same inputs are decoded by the real Go program in test/fuzz (the oracle).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ANY,
  INTEGER,
  STRING,
  STRING_MAP,
  StrictJsonError,
  arrayOf,
  describeRefusal,
  foldKey,
  objectOf,
  parseStrictJson,
  parseStrictJsonText,
} from '../../../src/core/strict-json.ts';

const LAYER = objectOf({ mediaType: STRING, size: INTEGER, annotations: STRING_MAP });
const DOC = objectOf({ mediaType: STRING, layers: arrayOf(LAYER), annotations: STRING_MAP });

const parse = (text: string, shape = DOC): unknown => parseStrictJson(Buffer.from(text, 'utf8'), shape);

function refuses(text: string | Buffer, pattern: RegExp, shape = DOC): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  assert.throws(
    () => parseStrictJson(bytes, shape),
    (error: unknown) => error instanceof StrictJsonError && pattern.test(error.message),
    `expected ${JSON.stringify(bytes.toString('latin1'))} to be refused with ${pattern}`,
  );
}

describe('strict JSON: what Go could read differently is refused', () => {
  it('a case variant of a known field, anywhere (the runtime would read it as that field)', () => {
    refuses('{"layers":[],"Layers":[{"mediaType":"x"}]}', /"Layers" differs from the field "layers" only in case/);
    refuses('{"LAYERS":[]}', /"LAYERS" differs from the field "layers"/);
    refuses('{"layers":[{"mediaType":"x","Annotations":{"a":"b"}}]}', /^layers\[0\]: the key "Annotations" differs from the field "annotations"/);
    // Go folds with Unicode simple folding: U+017F is an s, U+212A (Kelvin) a k.
    refuses('{"layer\u017f":[]}', /"layerſ" differs from the field "layers"/);
    refuses(JSON.stringify({ ['\u212Aey']: 1 }), /differs from the field "key"/, objectOf({ key: INTEGER }));
    // Escapes are decoded before keys are compared, as Go does.
    refuses('{"\\u004cayers":[]}', /"Layers" differs from the field "layers"/);
  });

  it('duplicate keys at any depth, maps included', () => {
    refuses('{"layers":[],"layers":[]}', /the key "layers" appears more than once/);
    refuses(
      '{"layers":[{"annotations":{"org.opencontainers.image.title":"a.safetensors","org.opencontainers.image.title":"a.pkl"}}]}',
      /^layers\[0\]\.annotations: the key "org.opencontainers.image.title" appears more than once/,
    );
    refuses('{"x":{"y":{"z":1,"\\u007a":2}}}', /^x\.y: the key "z" appears more than once/);
  });

  it('the wrong type for a known field, and integers Go would refuse', () => {
    refuses('{"mediaType":5}', /^mediaType: must be a string, got the number 5/);
    refuses('{"layers":{}}', /^layers: must be a list, got an object/);
    refuses('{"layers":[{"size":1e3}]}', /must be a whole number written without fraction or exponent, got 1e3/);
    refuses('{"layers":[{"size":1.0}]}', /whole number/);
    refuses('{"layers":[{"size":9007199254740993}]}', /too large/);
    refuses('{"annotations":{"a":1}}', /^annotations\.a: must be a string/);
  });

  it('invalid UTF-8, a byte-order mark, bad syntax and deep nesting', () => {
    refuses(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), /not valid UTF-8/);
    refuses('\ufeff{}', /byte-order mark/);
    refuses('{"a":1,}', /expected a key/);
    refuses('{"a":01}', /leading zeros/);
    refuses('{"a":"\u0001"}', /control character/);
    refuses('{} {}', /unexpected text after the JSON value/);
    refuses('[1,2', /ends early|expected , or \]/, ANY);
    refuses(`${'['.repeat(70)}${']'.repeat(70)}`, /deeper than 64/, ANY);
  });

  it('reads what Go reads: unknown fields kept, known nulls dropped, escapes decoded, lone surrogates replaced', () => {
    assert.deepEqual(parse('{"mediaType":null,"other":null,"Other":1}'), { other: null, Other: 1 });
    assert.deepEqual(parse('{"mediaType":"a\\u0062\\n\\ud83d\\ude00\\ud800x"}'), { mediaType: 'ab\n\u{1F600}\ufffdx' });
    assert.deepEqual(parse('  {"layers": [ {"size": -0, "annotations": {}} ] }\n'), { layers: [{ size: -0, annotations: {} }] });
    assert.deepEqual(parseStrictJsonText('[true,false,null,1.5e2,"x"]', ANY), [true, false, null, 150, 'x']);
  });

  it('never pollutes a prototype', () => {
    const value = parse('{"__proto__":{"polluted":true},"annotations":{"__proto__":"x"}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value), ['__proto__', 'annotations']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('folds keys as Go does, and says why a document was refused', () => {
    assert.equal(foldKey('MediaTYPE'), 'mediatype');
    assert.equal(foldKey('\u017f\u212a'), 'sk');
    assert.equal(foldKey('İı'), 'İı');
    assert.match(describeRefusal('manifest', new StrictJsonError('', 'x at offset 3', 'syntax')), /^the manifest is not valid JSON \(x at offset 3\)$/);
    assert.match(describeRefusal('manifest', new StrictJsonError('layers', 'dup', 'ambiguous')), /^the manifest was refused: layers: dup$/);
    assert.match(describeRefusal('payload', new StrictJsonError('', 'must be an object, got a list', 'type')), /^the payload is not a JSON object$/);
  });
});
