/**
 * `spec.artifact` of a ModelPolicy: what the artifact behind a pinned digest must be. The
 * artifact checks own this section; policy/ composes it into the ModelPolicy document.
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import { globList } from '../core/glob-schema.ts';
import { strictObject, withCheck } from '../core/schema.ts';
import { isKnownTypeName } from './media-types.ts';
import { parseQuantity } from './quantity.ts';

const typeName = withCheck(Type.String(), (value) =>
  isKnownTypeName(value) ? undefined : 'must be a preset (modelpack, kitops, oci-image) or a media type such as application/vnd.example+json',
);

const quantity = withCheck(Type.String({ description: 'largest allowed sum of layer sizes: a byte quantity such as 200Gi, 500M or 1048576' }), (value) =>
  parseQuantity(value) === undefined ? 'must be a byte quantity such as 200Gi, 500M or 1048576' : undefined,
);

export const artifactSectionSchema = strictObject(
  {
    types: Type.Optional(Type.Array(typeName, { description: 'presets (modelpack, kitops, oci-image) and literal media types; one must name the artifact' })),
    layerMediaTypes: Type.Optional(globList('globs over layer media types')),
    mountable: Type.Optional(Type.Boolean({ description: 'every layer must carry a file path annotation, so CRI-O mounts it' })),
    formats: Type.Optional(globList('ModelPack config.format values')),
    denyFiles: Type.Optional(globList('globs over layer file paths (and their base names)')),
    maxSize: Type.Optional(quantity),
    licenses: Type.Optional(globList('allowed SPDX licence identifiers')),
  },
  { description: 'what the artifact behind a pinned digest must be; empty lists are not checked' },
);
export type ArtifactSection = Static<typeof artifactSectionSchema>;

/** `spec.artifact` with defaults filled in and maxSize in bytes. */
export type ArtifactRules = { readonly [K in Exclude<keyof ArtifactSection, 'maxSize'>]-?: Readonly<NonNullable<ArtifactSection[K]>> } & {
  /** Largest allowed sum of layer sizes, in bytes. */
  readonly maxSize: number | undefined;
};

export function toArtifactRules(section: ArtifactSection): ArtifactRules {
  return {
    types: section.types ?? [],
    layerMediaTypes: section.layerMediaTypes ?? [],
    mountable: section.mountable ?? false,
    formats: section.formats ?? [],
    denyFiles: section.denyFiles ?? [],
    maxSize: section.maxSize === undefined ? undefined : parseQuantity(section.maxSize),
    licenses: section.licenses ?? [],
  };
}
