/**
 * The ModelPack model config (`application/vnd.cncf.model.config.v1+json`),
 * validated against the ModelPack v0.0.7 config schema: descriptor, config
 * and modelfs are required and no other fields are allowed.
 */
import type { Schema, SchemaError } from '../policy/schema.ts';
import { isPlainObject } from '../core/guards.ts';
import { validate } from '../policy/schema.ts';

const text: Schema = { type: 'string' };
const texts: Schema = { type: 'array', items: text };
// RFC 3339 date-time, as the schema's `format: date-time`.
const dateTime: Schema = {
  type: 'string',
  check: (value) => (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/.test(value) ? undefined : 'must be an RFC 3339 date-time'),
};
const modality: Schema = { type: 'string', enum: ['text', 'image', 'audio', 'video', 'embedding', 'other'] };
const positive: Schema = { type: 'integer', minimum: 1 };

export const MODELPACK_CONFIG_SCHEMA: Schema = {
  type: 'object',
  required: ['descriptor', 'config', 'modelfs'],
  properties: {
    descriptor: {
      type: 'object',
      properties: {
        createdAt: dateTime,
        authors: texts,
        family: text,
        name: { type: 'string', check: (value) => (value === '' ? 'must not be empty' : undefined) },
        docURL: text,
        sourceURL: text,
        datasetsURL: texts,
        version: text,
        revision: text,
        vendor: text,
        licenses: texts,
        title: text,
        description: text,
      },
    },
    config: {
      type: 'object',
      properties: {
        architecture: text,
        format: text,
        paramSize: text,
        precision: text,
        quantization: text,
        transformerConfig: {
          type: 'object',
          properties: {
            attentionType: { type: 'string', enum: ['mha', 'gqa', 'mla'] },
            mlpType: { type: 'string', enum: ['dense', 'moe'] },
            numLayers: positive,
            numAttentionHeads: positive,
            numKVHeads: positive,
            hiddenSize: positive,
            intermediateSize: positive,
          },
        },
        capabilities: {
          type: 'object',
          properties: {
            inputTypes: { type: 'array', items: modality },
            outputTypes: { type: 'array', items: modality },
            knowledgeCutoff: dateTime,
            reasoning: { type: 'boolean' },
            toolUsage: { type: 'boolean' },
            reward: { type: 'boolean' },
            languages: {
              type: 'array',
              items: { type: 'string', check: (value) => (/^[a-z]{2}$/.test(value) ? undefined : 'must be a two-letter ISO 639-1 code') },
            },
          },
        },
      },
    },
    modelfs: {
      type: 'object',
      required: ['type', 'diffIds'],
      properties: {
        type: { type: 'string', enum: ['layers'] },
        diffIds: { type: 'array', items: text, minItems: 1 },
      },
    },
  },
};

export interface ModelPackConfig {
  readonly format: string | undefined;
  readonly licenses: readonly string[];
  readonly name: string | undefined;
}

export type ConfigResult = { readonly ok: true; readonly config: ModelPackConfig } | { readonly ok: false; readonly errors: readonly SchemaError[] };

export function parseModelPackConfig(json: unknown): ConfigResult {
  const errors = validate(json, MODELPACK_CONFIG_SCHEMA, '');
  if (errors.length > 0 || !isPlainObject(json)) return { ok: false, errors };
  const descriptor = isPlainObject(json['descriptor']) ? json['descriptor'] : {};
  const config = isPlainObject(json['config']) ? json['config'] : {};
  return {
    ok: true,
    config: {
      format: typeof config['format'] === 'string' ? config['format'] : undefined,
      licenses: Array.isArray(descriptor['licenses']) ? (descriptor['licenses'] as string[]) : [],
      name: typeof descriptor['name'] === 'string' ? descriptor['name'] : undefined,
    },
  };
}
