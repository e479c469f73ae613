/**
 * The conditions of a requirement over its verified statements, for one admitted object.
 * An authority passes when a statement it verified satisfies every condition; the requirement
 * passes when distinct passing authorities (and static passes) reach its threshold. Each
 * statement is evaluated once per requirement; when no condition reads `object`, the values
 * are kept with the (cached) statement, so a warm review evaluates nothing.
 */
import { celInput, evaluateCondition } from '../cel/evaluate.ts';
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
): readonly ConditionValue[] {
  const { predicate, statement } = statementInput(verified);
  const bindings = { predicate, statement, reference: celInput(reference), object: celInput(object) };
  return requirement.conditions.map(({ expression, message }) => {
    const outcome = evaluateCondition(expression, bindings);
    return outcome.ok
      ? { expression: expression.source, message, value: outcome.value, error: undefined }
      : { expression: expression.source, message, value: undefined, error: outcome.error };
  });
}

function conditionValues(
  requirement: AttestationRequirement,
  verified: VerifiedStatement,
  reference: AttestedReference,
  object: AdmittedObject,
): readonly ConditionValue[] {
  const readsObject = requirement.conditions.some(({ expression }) => expression.variables.has('object'));
  if (readsObject) return evaluate(requirement, verified, reference, object);
  let byRequirement = objectFree.get(verified);
  if (byRequirement === undefined) {
    byRequirement = new WeakMap();
    objectFree.set(verified, byRequirement);
  }
  let values = byRequirement.get(requirement);
  if (values === undefined) {
    values = evaluate(requirement, verified, reference, object);
    byRequirement.set(requirement, values);
  }
  return values;
}

/** Judges one requirement's verified statements (its result, index for index) for the admitted object. */
export function judgeConditions(
  requirement: AttestationRequirement,
  result: RequirementResult,
  reference: AttestedReference,
  object: AdmittedObject,
): RequirementVerdict {
  const passing = new Set<string>();
  const evaluations = result.verified.map((verified) => {
    const conditions = conditionValues(requirement, verified, reference, object);
    const satisfied = conditions.every((condition) => condition.value === true);
    if (satisfied) for (const authority of verified.authorities) passing.add(authority);
    return { source: verified.source, authorities: verified.authorities, conditions, satisfied };
  });
  const passedAuthorities = [...passing, ...result.staticPasses];
  return { requirement, passed: passedAuthorities.length >= requirement.threshold, passedAuthorities, evaluations };
}
