/**
 * The conditions of a requirement over its verified statements, for one admitted object.
 * An authority passes when a statement it verified satisfies every condition; the requirement
 * passes when distinct passing authorities (and static passes) reach its threshold. Each
 * statement is evaluated once per requirement; when no condition reads `object`, the values
 * are kept with the (cached) statement, so a warm review evaluates nothing.
 */
import { DEFAULT_BUDGET, celInput, evaluateCondition } from '../cel/evaluate.ts';
import type { EvaluationBudget } from '../cel/evaluate.ts';
import type { AttestationRequirement } from './policy-schema.ts';
import type { RequirementResult, VerifiedStatement } from './verify.ts';

/** The admitted object, as conditions see it (`object`). */
export interface AdmittedObject {
  readonly namespace: string;
  readonly name: string;
  readonly kind: string;
}

/** What a condition's `reference` is. */
export interface AttestedReference {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
}

export interface ConditionValue {
  readonly expression: string;
  readonly message: string | undefined;
  /** Its value; undefined when it could not be evaluated (`error` says why). */
  readonly value: boolean | undefined;
  readonly error: string | undefined;
}

export interface StatementEvaluation {
  readonly source: string;
  readonly authorities: readonly string[];
  readonly conditions: readonly ConditionValue[];
  readonly satisfied: boolean;
}

export interface RequirementVerdict {
  readonly requirement: AttestationRequirement;
  readonly passed: boolean;
  /** Distinct authorities whose statement satisfied every condition, then the static passes. */
  readonly passedAuthorities: readonly string[];
  readonly evaluations: readonly StatementEvaluation[];
}

/**
 * What the conditions of one requirement may cost in one review, over all its statements (values
 * kept from an earlier review cost nothing): each evaluation has its own limits (cel/evaluate.ts),
 * and this bounds their sum, so many statements or conditions cannot multiply them.
 */
export const REQUIREMENT_BUDGET: EvaluationBudget = { steps: 40_000, milliseconds: 250 };

/** The budgets conditions are judged within: of each evaluation, and of all of one requirement's in a review. */
export interface ConditionBudgets {
  readonly evaluation: EvaluationBudget;
  readonly requirement: EvaluationBudget;
}

export const DEFAULT_CONDITION_BUDGETS: ConditionBudgets = { evaluation: DEFAULT_BUDGET, requirement: REQUIREMENT_BUDGET };

/**
 * What all conditions may cost in one review, over every requirement, policy and reference of
 * the admitted object: each requirement's budget is bounded by what the review has left, so a
 * tenant's many requirements over many references cannot multiply REQUIREMENT_BUDGET.
 */
export const REVIEW_BUDGET: EvaluationBudget = { steps: 160_000, milliseconds: 500 };

/** What the conditions of one review have spent so far (one per review: engine/evaluate.ts). */
export interface ConditionSpend {
  readonly budget: EvaluationBudget;
  steps: number;
  milliseconds: number;
}

export const newConditionSpend = (budget: EvaluationBudget = REVIEW_BUDGET): ConditionSpend => ({ budget, steps: 0, milliseconds: 0 });

/** What this review's evaluations of one requirement have spent so far. */
interface Spent {
  readonly budgets: ConditionBudgets;
  steps: number;
  readonly until: number;
  /** An evaluation ran on less than its own budget: its values depend on what came before and are not kept. */
  limited: boolean;
  /** Set when what the review had left, not the requirement's own budget, bounds this requirement. */
  readonly review: EvaluationBudget | undefined;
}

const inputs = new WeakMap<VerifiedStatement, { readonly predicate: unknown; readonly statement: unknown }>();
const objectFree = new WeakMap<VerifiedStatement, WeakMap<AttestationRequirement, readonly ConditionValue[]>>();

function statementInput(verified: VerifiedStatement): { readonly predicate: unknown; readonly statement: unknown } {
  let input = inputs.get(verified);
  if (input === undefined) {
    const { statement } = verified;
    input = {
      predicate: celInput(statement.predicate ?? null),
      statement: celInput({ _type: statement.type, predicateType: statement.predicateType, subject: statement.subjects }),
    };
    inputs.set(verified, input);
  }
  return input;
}

function evaluate(
  requirement: AttestationRequirement,
  verified: VerifiedStatement,
  reference: AttestedReference,
  object: AdmittedObject,
  spent: Spent,
): readonly ConditionValue[] {
  const { predicate, statement } = statementInput(verified);
  const bindings = { predicate, statement, reference: celInput(reference), object: celInput(object) };
  return requirement.conditions.map(({ expression, message }) => {
    const own = spent.budgets.evaluation;
    const shared = spent.budgets.requirement;
    const budget = { steps: Math.min(own.steps, shared.steps - spent.steps), milliseconds: Math.min(own.milliseconds, spent.until - performance.now()) };
    const limited = budget.steps < own.steps || budget.milliseconds < own.milliseconds;
    spent.limited ||= limited;
    const spentUp = spent.review
      ? `the conditions of this review used up their budget of ${spent.review.steps} steps and ${spent.review.milliseconds} ms`
      : `this attestation's conditions used up their budget of ${shared.steps} steps and ${shared.milliseconds} ms per review`;
    if (budget.steps <= 0 || budget.milliseconds <= 0) return { expression: expression.source, message, value: undefined, error: `not evaluated: ${spentUp}` };
    const outcome = evaluateCondition(expression, bindings, budget);
    spent.steps += outcome.steps;
    if (outcome.ok) return { expression: expression.source, message, value: outcome.value, error: undefined };
    // A limit hit on what the earlier evaluations left is the requirement's budget, not this expression's own.
    const error = limited && /^its (cost|time) limit/.test(outcome.error) ? spentUp : outcome.error;
    return { expression: expression.source, message, value: undefined, error };
  });
}

function conditionValues(
  requirement: AttestationRequirement,
  verified: VerifiedStatement,
  reference: AttestedReference,
  object: AdmittedObject,
  spent: Spent,
): readonly ConditionValue[] {
  const readsObject = requirement.conditions.some(({ expression }) => expression.variables.has('object'));
  if (readsObject) return evaluate(requirement, verified, reference, object, spent);
  let byRequirement = objectFree.get(verified);
  if (byRequirement === undefined) {
    byRequirement = new WeakMap();
    objectFree.set(verified, byRequirement);
  }
  const kept = byRequirement.get(requirement);
  if (kept !== undefined) return kept;
  const limitedBefore = spent.limited;
  spent.limited = false;
  const values = evaluate(requirement, verified, reference, object, spent);
  if (!spent.limited) byRequirement.set(requirement, values);
  spent.limited ||= limitedBefore;
  return values;
}

/** Judges one requirement's verified statements (its result, index for index) for the admitted object. */
export function judgeConditions(
  requirement: AttestationRequirement,
  result: RequirementResult,
  reference: AttestedReference,
  object: AdmittedObject,
  budgets: ConditionBudgets = DEFAULT_CONDITION_BUDGETS,
  review: ConditionSpend = newConditionSpend(),
): RequirementVerdict {
  const passing = new Set<string>();
  const own = budgets.requirement;
  const left = { steps: review.budget.steps - review.steps, milliseconds: review.budget.milliseconds - review.milliseconds };
  const reviewBound = left.steps < own.steps || left.milliseconds < own.milliseconds;
  const requirementBudget = reviewBound ? { steps: Math.min(own.steps, left.steps), milliseconds: Math.min(own.milliseconds, left.milliseconds) } : own;
  const started = performance.now();
  const spent: Spent = {
    budgets: reviewBound ? { ...budgets, requirement: requirementBudget } : budgets,
    steps: 0,
    until: started + requirementBudget.milliseconds,
    limited: false,
    review: reviewBound ? review.budget : undefined,
  };
  const evaluations = result.verified.map((verified) => {
    const conditions = conditionValues(requirement, verified, reference, object, spent);
    const satisfied = conditions.every((condition) => condition.value === true);
    if (satisfied) for (const authority of verified.authorities) passing.add(authority);
    return { source: verified.source, authorities: verified.authorities, conditions, satisfied };
  });
  review.steps += spent.steps;
  review.milliseconds += performance.now() - started;
  const passedAuthorities = [...passing, ...result.staticPasses];
  return { requirement, passed: passedAuthorities.length >= requirement.threshold, passedAuthorities, evaluations };
}
