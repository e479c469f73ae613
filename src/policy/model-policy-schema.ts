/**
 * The ModelPolicy document, composed of the sections the check kinds own: `spec.artifact`
 * (artifact/policy-schema.ts), `spec.signatures` (signature/policy-schema.ts), `spec.modelSignature`
 * (signature/oms-policy.ts) and `spec.attestations` (attestation/policy-schema.ts).
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import { artifactSectionSchema } from '../artifact/policy-schema.ts';
import { attestationsSchema } from '../attestation/policy-schema.ts';
import { globList } from '../core/glob-schema.ts';
import { OnErrorSchema, PolicyModeSchema } from '../core/modes.ts';
import { strictObject } from '../core/schema.ts';
import { modelSignatureSchema } from '../signature/oms-policy.ts';
import { signaturesSchema } from '../signature/policy-schema.ts';
import { documentSchema, metadataSchema } from './document-schema.ts';

export const matchSchema = strictObject(
  {
    namespaces: Type.Optional(globList('globs over the namespace name (default ["*"])')),
    excludeNamespaces: Type.Optional(globList('globs over namespace names the policy skips')),
    references: Type.Optional(globList('globs over registry/repository (default ["**"])')),
  },
  { description: 'which namespaces and model references the policy applies to' },
);
export type MatchSection = Static<typeof matchSchema>;

export const policySpecSchema = strictObject({
  mode: Type.Optional(PolicyModeSchema),
  match: Type.Optional(matchSchema),
  requireDigest: Type.Optional(Type.Boolean({ description: 'references must pin a digest (default true)' })),
  registries: Type.Optional(globList('allowed registry host globs; empty allows any')),
  onError: Type.Optional(OnErrorSchema),
  signatures: Type.Optional(signaturesSchema),
  modelSignature: Type.Optional(modelSignatureSchema),
  artifact: Type.Optional(artifactSectionSchema),
  attestations: Type.Optional(attestationsSchema),
});
export type PolicySpec = Static<typeof policySpecSchema>;

export const modelPolicySchema = documentSchema(
  'ModelPolicy',
  policySpecSchema,
  metadataSchema,
  'A modelgate ModelPolicy: what the models mounted as OCI image volumes must be',
);
export type ModelPolicyDocument = Static<typeof modelPolicySchema>;
