/**
 * The rules of `spec.attestations` a schema cannot say, and its conversion to the verifier's
 * form: unique names, each entry's authorities checked as `spec.signatures` checks its own,
 * and every condition compiled once, here, so that a syntax error, an undeclared name or an
 * expression too complex is a load error with its field path.
 */
import { compileExpression } from '../cel/compile.ts';
import { describeError } from '../core/errors.ts';
import type { SchemaError } from '../core/schema.ts';
import { signatureProblems } from '../signature/policy-checks.ts';
import { toAuthority } from '../signature/policy-convert.ts';
import { CONDITION_VARIABLES } from './policy-schema.ts';
import type { AttestationPolicy, AttestationsSection } from './policy-schema.ts';

/** The rules across fields of a section that passed the schema. */
export function attestationProblems(section: AttestationsSection, path = 'spec.attestations'): SchemaError[] {
  const errors: SchemaError[] = [];
  const names = new Set<string>();
  section.forEach((entry, index) => {
    const at = `${path}[${index}]`;
    if (names.has(entry.name)) errors.push({ path: `${at}.name`, message: `${JSON.stringify(entry.name)} is used by another attestation` });
    names.add(entry.name);
    errors.push(...signatureProblems({ authorities: entry.authorities, ...(entry.threshold === undefined ? {} : { threshold: entry.threshold }) }, at));
    (entry.conditions ?? []).forEach((condition, conditionIndex) => {
      try {
        compileExpression(condition.expression, CONDITION_VARIABLES);
      } catch (error) {
        errors.push({ path: `${at}.conditions[${conditionIndex}].expression`, message: describeError(error) });
      }
    });
  });
  return errors;
}

/** Converts a section that passed attestationProblems (its expressions compile). */
export function toAttestationPolicy(section: AttestationsSection): AttestationPolicy {
  return {
    requirements: section.map((entry) => ({
      name: entry.name,
      predicateType: entry.predicateType,
      threshold: entry.threshold ?? 1,
      authorities: entry.authorities.map(toAuthority),
      conditions: (entry.conditions ?? []).map((condition) => ({
        expression: compileExpression(condition.expression, CONDITION_VARIABLES),
        message: condition.message,
      })),
    })),
  };
}
