/**
 * The ModelPack model config (`application/vnd.cncf.model.config.v1+json`), validated
 * against the ModelPack specification's own JSON Schema, vendored in
 * schemas/vendor/modelpack/ (model-spec main at d78bf32, after release v0.0.7; see the
 * README there): descriptor, config and modelfs are required and no other fields are allowed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { Format } from 'typebox/format';
import { isPlainObject } from '../core/guards.ts';
import type { SchemaError } from '../core/schema.ts';
import { SchemaValidator } from '../core/schema.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';

export const MODELPACK_SCHEMA_DIRECTORY = join(PACKAGE_ROOT, 'schemas', 'vendor', 'modelpack');

/** The fields modelgate reads; the schema guarantees their types. */
interface ModelPackConfigDocument {
  readonly descriptor: { readonly name?: string; readonly licenses?: readonly string[] };
  readonly config: { readonly format?: string };
}

export interface ModelPackConfig {
  readonly format: string | undefined;
  readonly licenses: readonly string[];
  readonly name: string | undefined;
}

export type ConfigResult = { readonly ok: true; readonly config: ModelPackConfig } | { readonly ok: false; readonly errors: readonly SchemaError[] };

// RFC 3339 date-time, as modelgate has always read the schema's `format: date-time` (a space
// for the T allowed, the day of the month not checked against the month).
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

let validator: SchemaValidator<ReturnType<typeof Type.Unsafe<ModelPackConfigDocument>>> | undefined;

/** The vendored schema with the transformerConfig proposal added (README there), compiled once. */
function modelPackValidator() {
  if (validator !== undefined) return validator;
  const read = (file: string): unknown => JSON.parse(readFileSync(join(MODELPACK_SCHEMA_DIRECTORY, file), 'utf8'));
  const schema = read('config-schema.json');
  const transformer = read('transformer-config.json');
  if (!isPlainObject(schema) || !isPlainObject(schema['$defs']) || !isPlainObject(schema['$defs']['ModelConfig'])) {
    throw new Error(`${MODELPACK_SCHEMA_DIRECTORY}/config-schema.json is not the ModelPack config schema`);
  }
  const modelConfig = schema['$defs']['ModelConfig'];
  const { capabilities, ...before } = isPlainObject(modelConfig['properties']) ? modelConfig['properties'] : {};
  modelConfig['properties'] = { ...before, transformerConfig: { $ref: '#/$defs/TransformerConfig' }, capabilities };
  schema['$defs']['TransformerConfig'] = transformer;
  // Messages list the known fields in the specification's order of the sections (descriptor, config, modelfs).
  const { descriptor, config, modelfs } = isPlainObject(schema['properties']) ? schema['properties'] : {};
  schema['properties'] = { descriptor, config, modelfs };
  Format.Set('date-time', (value) => RFC_3339.test(value));
  validator = new SchemaValidator(Type.Unsafe<ModelPackConfigDocument>(schema), {
    formats: { 'date-time': 'must be an RFC 3339 date-time' },
    patterns: { '^[a-z]{2}$': 'must be a two-letter ISO 639-1 code' },
  });
  return validator;
}

export function parseModelPackConfig(json: unknown): ConfigResult {
  const result = modelPackValidator().validate(json);
  if (!result.ok) return { ok: false, errors: result.errors };
  const { descriptor, config } = result.value;
  return { ok: true, config: { format: config.format, licenses: descriptor.licenses ?? [], name: descriptor.name } };
}
