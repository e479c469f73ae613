/**
 * `spec.attestations` of a ModelPolicy: in-toto attestations the artifact must carry, who
 * must have signed them (the authority schema of `spec.signatures`) and CEL conditions over
 * the verified statement. Cross-field rules and the compilation of the conditions:
 * policy-checks.ts.
 *
 * ```yaml
 * attestations:
 *   - name: built-by-our-pipeline
 *     predicateType: https://slsa.dev/provenance/v1   # exactly
 *     authorities: [{name: ci, key: "-----BEGIN PUBLIC KEY-----…", tlog: optional}]
 *     threshold: 1                                    # distinct authorities (default 1)
 *     conditions:                                     # CEL; all must be true
 *       - expression: predicate.runDetails.builder.id == "https://ci.example/train@refs/heads/main"
 *         message: the model was not built by the release pipeline
 * ```
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import type { CompiledExpression } from '../cel/compile.ts';
import { MAX_EXPRESSION_LENGTH } from '../cel/compile.ts';
import { nonEmptyString, patternString, strictObject } from '../core/schema.ts';
import { MAX_AUTHORITIES, authoritySchema } from '../signature/policy-schema.ts';
import type { Authority } from '../signature/policy-schema.ts';

export const MAX_ATTESTATIONS = 16;
export const MAX_CONDITIONS = 16;
/** The variables a condition reads. */
export const CONDITION_VARIABLES = ['predicate', 'statement', 'reference', 'object'] as const;

export const conditionSchema = strictObject(
  {
    expression: nonEmptyString({
      maxLength: MAX_EXPRESSION_LENGTH,
      description:
        'a CEL expression over predicate, statement (subject, predicateType), reference (registry, repository, digest) and object (namespace, name, kind); it must be true',
    }),
    message: Type.Optional(nonEmptyString({ maxLength: 512, description: 'what a denial says when the expression is false' })),
  },
  { description: 'one condition over the verified statement' },
);

export const attestationSchema = strictObject(
  {
    name: patternString(
      /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
      'must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    ),
    predicateType: nonEmptyString({
      maxLength: 512,
      description: 'the in-toto predicateType the statement must have, exactly (e.g. https://slsa.dev/provenance/v1)',
    }),
    authorities: Type.Array(authoritySchema, { minItems: 1, description: 'who may sign the attestation, as in spec.signatures' }),
    threshold: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_AUTHORITIES, description: 'distinct authorities that must pass (default 1)' })),
    conditions: Type.Optional(
      Type.Array(conditionSchema, { maxItems: MAX_CONDITIONS, description: 'CEL conditions over the verified statement; all must be true' }),
    ),
  },
  { description: 'an attestation the artifact must carry' },
);

/** `spec.attestations`; policy-checks.ts adds the rules across fields. */
export const attestationsSchema = Type.Array(attestationSchema, {
  minItems: 1,
  maxItems: MAX_ATTESTATIONS,
  description: 'in-toto attestations the artifact must carry, signed by an authority, with CEL conditions over their predicates',
});

export type AttestationsSection = Static<typeof attestationsSchema>;
export type AttestationSection = Static<typeof attestationSchema>;

// The verifier's form.

export interface AttestationCondition {
  readonly expression: CompiledExpression;
  /** What a denial says when it is false (the expression itself when the policy gives none). */
  readonly message: string | undefined;
}

export interface AttestationRequirement {
  readonly name: string;
  readonly predicateType: string;
  readonly threshold: number;
  readonly authorities: readonly Authority[];
  readonly conditions: readonly AttestationCondition[];
}

/** Every attestation a policy requires. */
export interface AttestationPolicy {
  readonly requirements: readonly AttestationRequirement[];
}
