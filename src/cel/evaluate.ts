/**
 * Evaluating a compiled condition over JSON input, within a cost limit and a time bound.
 *
 * @bufbuild/cel has no cost limit of its own. Its evaluation is a tree walk whose only
 * repetition is a comprehension over a list or map, and every comprehension first iterates its
 * range (`Array.from`): the JSON input is handed over as lists and maps whose iterators count
 * each element against a budget (a step), and the clock is read at every step. When either
 * runs out, the iterator throws and the evaluation fails. One step may still cost time in
 * proportion to the input (`==` on two lists compares them element by element, `contains` scans
 * a string): the clock at every step bounds the overrun to one such step, and the input is
 * bounded by the size limit of the attestation that carries it; the number of operations per
 * step is bounded by the expression's size (compile.ts: nodes, nesting, two comprehensions deep).
 */
import { isCelError } from '@bufbuild/cel';
import type { CompiledExpression } from './compile.ts';

/**
 * Elements a single evaluation may iterate over (all comprehensions together): @bufbuild/cel
 * spends about 1-2 µs on a step, so this is some 10-20 ms of work; `exists` over a list of
 * 10,000 items fits, two nested over 101 items do not.
 */
export const DEFAULT_STEP_BUDGET = 10_000;
/** Wall time a single evaluation may take: the backstop for a costly step (a cold process spends up to 6 µs on one). */
export const DEFAULT_TIME_BUDGET_MS = 100;

export interface EvaluationBudget {
  readonly steps: number;
  readonly milliseconds: number;
}

export const DEFAULT_BUDGET: EvaluationBudget = { steps: DEFAULT_STEP_BUDGET, milliseconds: DEFAULT_TIME_BUDGET_MS };

/** The outcome of one condition: its value, or why it has none. */
export type ConditionValue =
  | { readonly ok: true; readonly value: boolean; readonly steps: number }
  | { readonly ok: false; readonly error: string; readonly steps: number };

class BudgetExceeded extends Error {}

/** The running evaluation's meter (evaluation is synchronous: one at a time). */
let meter: { steps: number; readonly maxSteps: number; readonly until: number; exceeded: string | undefined } | undefined;

function tick(): void {
  if (meter === undefined) return;
  meter.steps++;
  if (meter.steps > meter.maxSteps) {
    meter.exceeded = `its cost limit of ${meter.maxSteps} steps (elements iterated) was exceeded`;
    throw new BudgetExceeded(meter.exceeded);
  }
  // Every step: a step can be as costly as the input is large, and the clock costs far less than a step.
  if (performance.now() > meter.until) {
    meter.exceeded = 'its time limit was exceeded';
    throw new BudgetExceeded(meter.exceeded);
  }
}

/** A JSON array whose iteration counts steps. */
class MeteredList extends Array<unknown> {
  static override get [Symbol.species]() {
    return Array;
  }
  override *values(): ArrayIterator<unknown> {
    for (let index = 0; index < this.length; index++) {
      tick();
      yield this[index];
    }
  }
}

/** A JSON object whose iteration (keys, as comprehensions range over) counts steps. */
class MeteredMap extends Map<string, unknown> {
  override *keys(): MapIterator<string> {
    for (const key of super.keys()) {
      tick();
      yield key;
    }
  }
  override *entries(): MapIterator<[string, unknown]> {
    for (const entry of super.entries()) {
      tick();
      yield entry;
    }
  }
  override *values(): MapIterator<unknown> {
    for (const value of super.values()) {
      tick();
      yield value;
    }
  }
  override forEach(callback: (value: unknown, key: string, map: Map<string, unknown>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}

/** JSON (as parsed) into CEL input whose lists and maps are metered; numbers are doubles, as in google.protobuf.Value. */
export function celInput(json: unknown): unknown {
  if (Array.isArray(json)) {
    const list = new MeteredList();
    for (const item of json) list.push(celInput(item));
    return list;
  }
  if (typeof json === 'object' && json !== null) {
    const map = new MeteredMap();
    for (const [key, value] of Object.entries(json)) map.set(key, celInput(value));
    return map;
  }
  return json;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'bigint') return `${value}`;
  if (value === null) return 'null';
  return 'a list or map';
}

/**
 * Evaluates a condition over bindings made by celInput; never throws. A result that is not a
 * bool, an evaluation error (a missing field, a type mismatch) and a breach of the budget are
 * errors saying so.
 */
export function evaluateCondition(
  expression: CompiledExpression,
  bindings: Readonly<Record<string, unknown>>,
  budget: EvaluationBudget = DEFAULT_BUDGET,
): ConditionValue {
  const own = { steps: 0, maxSteps: budget.steps, until: performance.now() + budget.milliseconds, exceeded: undefined as string | undefined };
  const outer = meter;
  meter = own;
  let result: unknown;
  try {
    result = expression.run(bindings);
  } catch (error) {
    if (own.exceeded !== undefined) return { ok: false, error: own.exceeded, steps: own.steps };
    return { ok: false, error: error instanceof Error ? error.message : String(error), steps: own.steps };
  } finally {
    meter = outer;
  }
  const failed = (error: string): ConditionValue => ({ ok: false, error, steps: own.steps });
  // The library may turn the meter's exception into an error value: the meter says what happened.
  if (own.exceeded !== undefined) return failed(own.exceeded);
  if (performance.now() > own.until) return failed('its time limit was exceeded');
  if (isCelError(result)) return failed(result.message);
  if (typeof result !== 'boolean') return failed(`it evaluated to ${describe(result)}, not a bool`);
  return { ok: true, value: result, steps: own.steps };
}
