/** What every modelgate document has: apiVersion, kind, metadata and a spec. */
import Type from 'typebox';
import type { TSchema } from 'typebox';
import { patternString, stringEnum, strictObject } from '../core/schema.ts';

export const API_VERSION = 'modelgate.dev/v1alpha1';

export const metadataSchema = strictObject({
  name: patternString(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a lowercase DNS name (letters, digits, "-", ".")'),
  namespace: Type.Optional(Type.String()),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
});

/** A document of one kind; a ModelPolicy needs metadata (its name), a Config does not (`Type.Optional(metadataSchema)`). */
export function documentSchema<const Kind extends string, Spec extends TSchema, Metadata extends TSchema>(
  kind: Kind,
  spec: Spec,
  metadata: Metadata,
  description: string,
) {
  return strictObject(
    {
      apiVersion: stringEnum([API_VERSION]),
      kind: stringEnum([kind]),
      metadata,
      spec: Type.Optional(spec),
    },
    { title: kind, description },
  );
}
