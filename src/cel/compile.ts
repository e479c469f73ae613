/**
 * CEL expressions of a policy, compiled once when the policy loads (@bufbuild/cel, the CEL
 * implementation for ECMAScript that ships the CEL conformance data).
 *
 * @bufbuild/cel 0.6 parses and plans but does not export its type checker, so compile checks
 * what a checker over JSON-typed (`dyn`) variables could: the syntax, that every identifier is
 * a declared variable or a comprehension's own, that every function exists in the standard
 * library, and bounds on the expression's size, nesting and comprehension depth, which together
 * with the evaluation meter (evaluate.ts) bound what one evaluation may cost. Whether the result
 * is a bool is known only at evaluation, and a non-bool result is an evaluation error there.
 */
import { celEnv, CelScalar, parse, plan } from '@bufbuild/cel';
import type { CelEnv, CelResult } from '@bufbuild/cel';
import type { Expr } from '@bufbuild/cel-spec/cel/expr/syntax_pb.js';
import { ModelgateError } from '../core/errors.ts';
import type { CodeTable } from '../core/errors.ts';

/** Longest expression accepted, in characters. */
export const MAX_EXPRESSION_LENGTH = 1024;
/** Most nodes of an expression's syntax tree (after macro expansion). */
export const MAX_NODES = 400;
/** Deepest nesting of the syntax tree. */
export const MAX_DEPTH = 32;
/** Deepest nesting of comprehensions (`all`, `exists`, `map`, `filter`, …): the cost of a nesting grows as the input to its power. */
export const MAX_COMPREHENSION_DEPTH = 2;

const CEL_CODES = {
  CEL_SYNTAX: { contentProblem: false },
  CEL_UNDECLARED: { contentProblem: false },
  CEL_TOO_COMPLEX: { contentProblem: false },
} as const satisfies CodeTable<string>;

/** An expression that cannot be compiled: the message says what to change. */
export class CelCompileError extends ModelgateError<keyof typeof CEL_CODES> {
  static readonly codes = CEL_CODES;
  constructor(code: keyof typeof CEL_CODES, message: string) {
    super(CEL_CODES, code, message);
    this.name = 'CelCompileError';
  }
}

/** A compiled expression: the source for messages, the planned evaluation and what it reads. */
export interface CompiledExpression {
  readonly source: string;
  /** The variables it reads: a result that does not read `object` is the same for every admitted object. */
  readonly variables: ReadonlySet<string>;
  /** Runs the plan; the bindings come from evaluate.ts (metered inputs). */
  readonly run: (bindings: Readonly<Record<string, unknown>>) => CelResult;
}

/** Operators the planner implements itself (short-circuit logic, indexing, macros' helpers), not library functions. */
const PLANNER_OPERATORS: ReadonlySet<string> = new Set(['_[_]', '_[?_]', '_?._', '_?_:_', '_&&_', '_||_', '@not_strictly_false', '__not_strictly_false__']);

const envs = new Map<string, CelEnv>();

function envFor(variables: readonly string[]): CelEnv {
  const key = variables.join(',');
  let env = envs.get(key);
  if (env === undefined) {
    env = celEnv({ variables: Object.fromEntries(variables.map((name) => [name, CelScalar.DYN])) });
    envs.set(key, env);
  }
  return env;
}

interface Walk {
  nodes: number;
  readonly used: Set<string>;
}

/** Checks one node and its children; `scope` holds the comprehension variables in reach. */
function walk(expr: Expr | undefined, env: CelEnv, declared: ReadonlySet<string>, scope: readonly string[], depth: number, loops: number, state: Walk): void {
  if (expr === undefined) return;
  state.nodes++;
  if (state.nodes > MAX_NODES) throw new CelCompileError('CEL_TOO_COMPLEX', `has more than ${MAX_NODES} operations; split it into several conditions`);
  if (depth > MAX_DEPTH) throw new CelCompileError('CEL_TOO_COMPLEX', `nests deeper than ${MAX_DEPTH} levels`);
  const kind = expr.exprKind;
  const next = (child: Expr | undefined, inner = scope, innerLoops = loops) => walk(child, env, declared, inner, depth + 1, innerLoops, state);
  switch (kind.case) {
    case 'identExpr': {
      const { name } = kind.value;
      if (scope.includes(name)) return;
      if (!declared.has(name)) {
        throw new CelCompileError('CEL_UNDECLARED', `undeclared reference to ${JSON.stringify(name)} (the variables are ${[...declared].join(', ')})`);
      }
      state.used.add(name);
      return;
    }
    case 'selectExpr':
      next(kind.value.operand);
      return;
    case 'callExpr': {
      const { function: name, target, args } = kind.value;
      if (!PLANNER_OPERATORS.has(name) && env.funcs.find(name) === undefined)
        throw new CelCompileError('CEL_UNDECLARED', `calls ${JSON.stringify(name)}, which is not a CEL function`);
      next(target);
      for (const arg of args) next(arg);
      return;
    }
    case 'listExpr':
      for (const element of kind.value.elements) next(element);
      return;
    case 'structExpr':
      if (kind.value.messageName !== '') throw new CelCompileError('CEL_UNDECLARED', `constructs ${kind.value.messageName}, but no message types are declared`);
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') next(entry.keyKind.value);
        next(entry.value);
      }
      return;
    case 'comprehensionExpr': {
      const { iterRange, iterVar, iterVar2, accuVar, accuInit, loopCondition, loopStep, result } = kind.value;
      if (loops + 1 > MAX_COMPREHENSION_DEPTH) {
        throw new CelCompileError('CEL_TOO_COMPLEX', `nests more than ${MAX_COMPREHENSION_DEPTH} comprehensions (all, exists, exists_one, map, filter)`);
      }
      next(iterRange);
      next(accuInit);
      const inner = [...scope, iterVar, accuVar, ...(iterVar2 === '' ? [] : [iterVar2])];
      next(loopCondition, inner, loops + 1);
      next(loopStep, inner, loops + 1);
      next(result, [...scope, accuVar], loops);
      return;
    }
    default:
      return;
  }
}

/** Compiles an expression over the declared variables; throws CelCompileError saying what is wrong. */
export function compileExpression(source: string, variables: readonly string[]): CompiledExpression {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new CelCompileError('CEL_TOO_COMPLEX', `is ${source.length} characters long; at most ${MAX_EXPRESSION_LENGTH} are allowed`);
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (error) {
    throw new CelCompileError('CEL_SYNTAX', `is not valid CEL: ${error instanceof Error ? error.message : String(error)}`);
  }
  const env = envFor(variables);
  const state: Walk = { nodes: 0, used: new Set() };
  walk(parsed.expr, env, new Set(variables), [], 0, 0, state);
  const evaluate = plan(env, parsed) as (bindings: Record<string, unknown>) => CelResult;
  return { source, variables: state.used, run: (bindings) => evaluate(bindings) };
}
