/**
 * The CEL layer of attestation conditions: compile errors (what a policy load reports, with
 * the field path), evaluation errors, and the cost and time limits of an evaluation.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { CelCompileError, MAX_EXPRESSION_LENGTH, compileExpression } from '../../../src/cel/compile.ts';
import { DEFAULT_STEP_BUDGET, celInput, evaluateCondition } from '../../../src/cel/evaluate.ts';
import { PolicyLoadError, policySetFromTexts } from '../../../src/policy/load.ts';

const VARIABLES = ['predicate', 'statement', 'reference', 'object'];
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

function compileError(source: string): CelCompileError {
  try {
    compileExpression(source, VARIABLES);
  } catch (error) {
    assert.ok(error instanceof CelCompileError, String(error));
    return error;
  }
  assert.fail(`${source} compiled`);
}

const evaluate = (source: string, predicate: unknown, budget?: { steps: number; milliseconds: number }) =>
  evaluateCondition(
    compileExpression(source, VARIABLES),
    { predicate: celInput(predicate), object: celInput({ namespace: 'team-a', name: 'llm', kind: 'Pod' }) },
    budget,
  );

describe('CEL compile', () => {
  it('refuses syntax errors with the position', () => {
    const error = compileError('predicate.score >');
    assert.equal(error.code, 'CEL_SYNTAX');
    assert.match(error.message, /^is not valid CEL: <input>:1:\d+/);
  });

  it('refuses names that are not variables, and functions CEL does not have', () => {
    assert.match(
      compileError('predicat.score > 0.5').message,
      /undeclared reference to "predicat" \(the variables are predicate, statement, reference, object\)/,
    );
    assert.match(compileError('predicate.items.exists(i, j > 1)').message, /undeclared reference to "j"/);
    assert.match(compileError('predicate.name.startWith("a")').message, /calls "startWith", which is not a CEL function/);
    assert.match(compileError('google.protobuf.Value{}').message, /no message types are declared/);
  });

  it('keeps comprehension variables in their scope only', () => {
    assert.doesNotThrow(() => compileExpression('predicate.items.exists(i, predicate.other.all(j, i != j))', VARIABLES));
    assert.match(compileError('predicate.items.exists(i, true) && i == 1').message, /undeclared reference to "i"/);
  });

  it('bounds the length, the size, the nesting and the comprehension depth', () => {
    assert.equal(compileError(`predicate.a == "${'x'.repeat(MAX_EXPRESSION_LENGTH)}"`).code, 'CEL_TOO_COMPLEX');
    assert.match(compileError(`predicate.a in [${Array.from({ length: 450 }, () => '1').join(',')}]`).message, /more than 400 operations/);
    assert.match(compileError(`predicate.a == ${'['.repeat(40)}1${']'.repeat(40)}`).message, /nests deeper than 32 levels/);
    assert.match(compileError('predicate.a.all(x, predicate.b.all(y, predicate.c.all(z, x == y && y == z)))').message, /nests more than 2 comprehensions/);
  });

  it('lists the variables an expression reads (a result that does not read object can be kept)', () => {
    assert.deepEqual([...compileExpression('predicate.a == 1 && reference.digest != ""', VARIABLES).variables].sort(), ['predicate', 'reference']);
    assert.deepEqual([...compileExpression('predicate.items.exists(object, object == 1)', VARIABLES).variables], ['predicate']);
    assert.deepEqual([...compileExpression('object.namespace == "a"', VARIABLES).variables], ['object']);
  });

  it('a policy load names the field path of an expression that does not compile', () => {
    const text = `apiVersion: modelgate.dev/v1alpha1
kind: ModelPolicy
metadata: {name: p}
spec:
  attestations:
    - name: built
      predicateType: https://slsa.dev/provenance/v1
      authorities: [{name: ci, key: ${JSON.stringify(KEY)}}]
      conditions:
        - expression: predicate.runDetails.builder.id == "x"
        - expression: predicate.runDetails.builder.id ==
    - name: built
      predicateType: https://slsa.dev/provenance/v1
      authorities: [{name: ci, key: ${JSON.stringify(KEY)}}]
      threshold: 2
      conditions: [{expression: 'nosuch.x == 1'}]
`;
    let error: unknown;
    try {
      policySetFromTexts([{ source: 'p.yaml', text }]);
    } catch (caught) {
      error = caught;
    }
    assert.ok(error instanceof PolicyLoadError, String(error));
    const problems = error.problems.map((problem) => `${problem.path}: ${problem.message}`);
    assert.ok(
      problems.some((line) => /^spec\.attestations\[0\]\.conditions\[1\]\.expression: is not valid CEL/.test(line)),
      problems.join('\n'),
    );
    assert.ok(problems.includes('spec.attestations[1].name: "built" is used by another attestation'), problems.join('\n'));
    assert.ok(
      problems.some((line) => /^spec\.attestations\[1\]\.threshold: is 2, but only 1 authority is listed/.test(line)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((line) => /^spec\.attestations\[1\]\.conditions\[0\]\.expression: undeclared reference to "nosuch"/.test(line)),
      problems.join('\n'),
    );
  });
});

describe('CEL evaluation', () => {
  it('evaluates over JSON: maps, lists, doubles, has() and the object', () => {
    const predicate = { metrics: [{ name: 'toxicity', value: 0.01 }], builder: { id: 'ci' } };
    assert.deepEqual(evaluate('predicate.metrics.exists(m, m.name == "toxicity" && m.value < 0.05)', predicate), { ok: true, value: true, steps: 1 });
    assert.deepEqual(evaluate('has(predicate.builder.version)', predicate), { ok: true, value: false, steps: 0 });
    assert.deepEqual(evaluate('object.namespace == "team-a" && object.kind == "Pod"', predicate), { ok: true, value: true, steps: 0 });
  });

  it('an error is a failure that says what went wrong: a missing field, a type mismatch, a non-bool result', () => {
    assert.deepEqual(evaluate('predicate.builder.version == "1"', { builder: {} }), { ok: false, error: 'field not found: version', steps: 0 });
    const mismatch = evaluate('predicate.builder.id > 1', { builder: { id: 'ci' } });
    assert.equal(mismatch.ok, false);
    assert.match(mismatch.ok ? '' : mismatch.error, /overload|no such|found/);
    assert.deepEqual(evaluate('predicate.metrics.map(m, m.value)', { metrics: [] }), {
      ok: false,
      error: 'it evaluated to a list or map, not a bool',
      steps: 0,
    });
    assert.deepEqual(evaluate('size(predicate.metrics)', { metrics: [1, 2] }), { ok: false, error: 'it evaluated to 2, not a bool', steps: 0 });
  });

  it('counts every element a comprehension iterates, over lists and maps', () => {
    assert.deepEqual(evaluate('predicate.xs.all(x, x >= 0.0)', { xs: [1, 2, 3] }), { ok: true, value: true, steps: 3 });
    assert.deepEqual(evaluate('predicate.m.exists(k, k == "zzz")', { m: { a: 1, b: 2 } }), { ok: true, value: false, steps: 2 });
    assert.deepEqual(evaluate('3.0 in predicate.xs', { xs: [1, 2, 3] }), { ok: true, value: true, steps: 3 });
  });

  it('stops at the cost limit: two nested comprehensions over 200 elements', () => {
    const xs = Array.from({ length: 200 }, (_, index) => index);
    const outcome = evaluate('predicate.xs.all(a, predicate.xs.all(b, a + b >= 0.0))', { xs }, { steps: DEFAULT_STEP_BUDGET, milliseconds: 60_000 });
    assert.deepEqual(outcome, {
      ok: false,
      error: `its cost limit of ${DEFAULT_STEP_BUDGET} steps (elements iterated) was exceeded`,
      steps: DEFAULT_STEP_BUDGET + 1,
    });
    // Under the limit, the same expression completes.
    assert.deepEqual(
      evaluate('predicate.xs.all(a, predicate.xs.all(b, a + b >= 0.0))', { xs: xs.slice(0, 50) }, { steps: DEFAULT_STEP_BUDGET, milliseconds: 60_000 }),
      {
        ok: true,
        value: true,
        steps: 2550,
      },
    );
  });

  it('stops at the time limit', () => {
    const xs = Array.from({ length: 3000 }, (_, index) => index);
    const outcome = evaluate('predicate.xs.all(a, predicate.xs.all(b, a + b >= 0.0))', { xs }, { steps: 1e9, milliseconds: 5 });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.ok ? '' : outcome.error, 'its time limit was exceeded');
  });

  it('a breach leaves no meter behind for the next evaluation', () => {
    const xs = Array.from({ length: 200 }, (_, index) => index);
    assert.equal(evaluate('predicate.xs.all(a, predicate.xs.all(b, true))', { xs }, { steps: 10, milliseconds: 1000 }).ok, false);
    assert.deepEqual(evaluate('predicate.xs.all(a, a >= 0.0)', { xs }), { ok: true, value: true, steps: 200 });
  });
});
