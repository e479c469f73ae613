/**
 * The CEL conformance data that @bufbuild/cel ships (@bufbuild/cel-spec, cel-spec's own
 * textproto tests), run once through modelgate's compile (its static checks and bounds) and
 * metered evaluation, for the suites attestation conditions rely on: logic, comparisons,
 * field and map access, `has`, lists, strings and the macros. Only tests with a bool result or
 * an evaluation error are run (a condition must be a bool), without proto types or bindings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tests } from '@bufbuild/cel-spec/testdata/conformance.js';
import { CelCompileError, compileExpression } from '../../../src/cel/compile.ts';
import { evaluateCondition } from '../../../src/cel/evaluate.ts';

interface Case {
  readonly original: {
    readonly name: string;
    readonly expr: string;
    readonly value?: { readonly boolValue?: boolean };
    readonly evalError?: unknown;
    readonly bindings?: unknown;
    readonly typeEnv?: unknown;
    readonly container?: string;
    readonly checkOnly?: boolean;
  };
}
interface Suite {
  readonly name: string;
  readonly suites?: readonly Suite[];
  readonly tests?: readonly Case[];
}

/** Suite → the sections of it we rely on. */
const SUBSET: Readonly<Record<string, readonly string[]>> = {
  logic: ['conditional', 'AND', 'OR', 'NOT'],
  comparisons: ['eq_literal', 'ne_literal', 'lt_literal', 'gt_literal', 'lte_literal', 'gte_literal', 'in_list_literal', 'in_map_literal'],
  fields: ['map_fields', 'map_has', 'quoted_map_fields', 'in'],
  lists: ['concatenation', 'index', 'in', 'size'],
  string: ['size', 'starts_with', 'ends_with', 'matches', 'concatenation', 'contains'],
  macros: ['exists', 'all', 'exists_one', 'map', 'filter', 'nested'],
};

function casesOf(): { readonly path: string; readonly test: Case['original'] }[] {
  const out: { path: string; test: Case['original'] }[] = [];
  for (const suite of (tests as unknown as Suite).suites ?? []) {
    const sections = SUBSET[suite.name];
    if (sections === undefined) continue;
    for (const section of suite.suites ?? []) {
      if (!sections.includes(section.name)) continue;
      for (const { original } of section.tests ?? []) {
        const boolean = original.value !== undefined && typeof original.value.boolValue === 'boolean';
        if (!boolean && original.evalError === undefined) continue;
        if (original.bindings !== undefined || original.typeEnv !== undefined || original.container !== undefined || original.checkOnly === true) continue;
        out.push({ path: `${suite.name}/${section.name}/${original.name}`, test: original });
      }
    }
  }
  return out;
}

describe('CEL conformance data (the subset attestation conditions rely on)', () => {
  it('agrees with every case it runs, and refuses only what modelgate leaves out', () => {
    const cases = casesOf();
    let ran = 0;
    const refused: string[] = [];
    const wrong: string[] = [];
    for (const { path, test } of cases) {
      let compiled: ReturnType<typeof compileExpression>;
      try {
        compiled = compileExpression(test.expr, []);
      } catch (error) {
        assert.ok(error instanceof CelCompileError, `${path}: ${String(error)}`);
        // A conformance case that expects an error may be refused at compile time (it names an undeclared function or variable).
        if (test.evalError === undefined) refused.push(`${path}: ${error.message}`);
        continue;
      }
      ran++;
      const outcome = evaluateCondition(compiled, {});
      if (test.evalError !== undefined) {
        if (outcome.ok) wrong.push(`${path}: ${test.expr} evaluated to ${outcome.value}, expected an error`);
      } else if (!outcome.ok) wrong.push(`${path}: ${test.expr}: ${outcome.error}`);
      else if (outcome.value !== test.value?.boolValue) wrong.push(`${path}: ${test.expr} is ${outcome.value}, expected ${test.value?.boolValue}`);
    }
    assert.deepEqual(wrong, []);
    // Refused, and why: modelgate declares no message types (conditions read JSON), and @bufbuild/cel 0.6 does not parse
    // cel-spec's newer backquoted field names (`a.`b-c``); neither is anything a condition over JSON needs.
    assert.deepEqual(
      refused.map((line) => line.replace(/: (constructs|is not valid CEL).*/, ': $1')),
      [
        'comparisons/eq_literal/eq_dyn_json_null: constructs',
        'fields/quoted_map_fields/field_access_slash: is not valid CEL',
        'fields/quoted_map_fields/field_access_dash: is not valid CEL',
        'fields/quoted_map_fields/has_field_slash: is not valid CEL',
        'fields/quoted_map_fields/has_field_dash: is not valid CEL',
        'fields/quoted_map_fields/has_field_dot: is not valid CEL',
      ],
    );
    assert.ok(ran >= 450, `ran ${ran} of ${cases.length} cases`);
  });
});
