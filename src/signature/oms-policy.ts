/**
 * `spec.modelSignature` of a ModelPolicy: an OpenSSF Model Signing (OMS) signature over the
 * model's files, verified from the manifest and the signature alone (oms-*.ts). The
 * authorities are those of `spec.signatures` (key, keyless, static), with their own threshold:
 * an OMS requirement and a cosign one are separate, never added up.
 *
 * ```yaml
 * modelSignature:
 *   threshold: 1            # distinct authorities whose OMS signature must map onto the manifest (default 1)
 *   authorities: [...]      # as spec.signatures.authorities
 *   location: any           # referrer | layer | any (default any): where the signature is looked for
 *   layerPath: model.sig    # the file name of a signature layer inside the artifact (default model.sig)
 * ```
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import type { SchemaError } from '../core/schema.ts';
import { SchemaValidator, stringEnum, strictObject, withCheck } from '../core/schema.ts';
import { signatureProblems } from './policy-checks.ts';
import { toAuthority } from './policy-convert.ts';
import { MAX_AUTHORITIES, authoritySchema } from './policy-schema.ts';
import type { Authority } from './policy-schema.ts';

export const OMS_LOCATIONS = ['referrer', 'layer', 'any'] as const;
/** Where an OMS signature is looked for: an OCI 1.1 referrer of the manifest, a layer of the artifact, or both. */
export type OmsLocation = (typeof OMS_LOCATIONS)[number];
export const DEFAULT_LAYER_PATH = 'model.sig';

/** A relative POSIX file name without `.`/`..` parts or empty parts: the name the runtime writes. */
export function layerPathProblem(value: string): string | undefined {
  if (value === '' || value.length > 255 * 4) return 'must be a relative file path of at most 1020 characters, such as model.sig';
  if (value.startsWith('/')) return 'must be relative to the model, such as model.sig, not absolute';
  if (value.split('/').some((part) => part === '' || part === '.' || part === '..'))
    return 'must be a clean relative path (no empty, "." or ".." parts), such as model.sig or signatures/model.sig';
  return undefined;
}

export const modelSignatureSchema = strictObject(
  {
    threshold: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_AUTHORITIES, description: 'distinct authorities whose OMS signature must match the manifest (default 1)' }),
    ),
    authorities: Type.Array(authoritySchema, { minItems: 1 }),
    location: Type.Optional(
      stringEnum(OMS_LOCATIONS, { description: 'where the signature is looked for: referrer (OCI 1.1 referrer), layer (layerPath), any (default)' }),
    ),
    layerPath: Type.Optional(
      withCheck(Type.String({ description: 'the file name of the signature layer inside the artifact (default model.sig)' }), layerPathProblem),
    ),
  },
  { description: 'an OpenSSF Model Signing signature whose file list must be the manifest layers, verified without reading the weights' },
);
export type ModelSignatureSection = Static<typeof modelSignatureSchema>;

/** The verifier's form. */
export interface ModelSignaturePolicy {
  readonly threshold: number;
  readonly authorities: readonly Authority[];
  readonly location: OmsLocation;
  readonly layerPath: string;
}

const sections = new SchemaValidator(modelSignatureSchema);

/** The rules across fields: those of spec.signatures' authorities and threshold; layerPath only where a layer is read. */
export function modelSignatureProblems(section: ModelSignatureSection, path = 'spec.modelSignature'): SchemaError[] {
  const errors = signatureProblems({ authorities: section.authorities, ...(section.threshold === undefined ? {} : { threshold: section.threshold }) }, path);
  if (section.layerPath !== undefined && section.location === 'referrer')
    errors.push({ path: `${path}.layerPath`, message: 'is not read with location: referrer; remove it or set location to layer or any' });
  return errors;
}

/** Converts a section that passed the schema and modelSignatureProblems. */
export function toModelSignaturePolicy(section: ModelSignatureSection | unknown): ModelSignaturePolicy {
  if (!sections.check(section)) throw new TypeError('toModelSignaturePolicy: the value is not a checked spec.modelSignature section');
  return {
    threshold: section.threshold ?? 1,
    authorities: section.authorities.map(toAuthority),
    location: section.location ?? 'any',
    layerPath: section.layerPath ?? DEFAULT_LAYER_PATH,
  };
}
