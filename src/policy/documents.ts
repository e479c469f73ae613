/**
 * Schemas of the ModelPolicy and Config documents and their conversion into
 * the typed in-memory form. Validation runs first, so conversion may assume shapes.
 */
import { API_VERSION, DEFAULT_ACTIONS, POLICY_MODES } from './types.ts';
import type { DefaultAction, ModelPolicy, ModelgateConfig, PolicyMode, RegistrySettings } from './types.ts';
import type { Schema, SchemaError } from './schema.ts';
import { isPlainObject, validate } from './schema.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const nonEmpty = (value: string): string | undefined => (value.trim() === '' ? 'must not be empty' : undefined);
const globString: Schema = { type: 'string', check: nonEmpty };
const globList: Schema = { type: 'array', items: globString };

const metadataSchema: Schema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: {
      type: 'string',
      check: (value) => (NAME.test(value) ? undefined : 'must be a lowercase DNS name (letters, digits, "-", ".")'),
    },
    namespace: { type: 'string' },
    labels: { type: 'map', values: { type: 'string' } },
    annotations: { type: 'map', values: { type: 'string' } },
  },
};

const policySpecSchema: Schema = {
  type: 'object',
  properties: {
    mode: { type: 'string', enum: POLICY_MODES },
    match: {
      type: 'object',
      properties: { namespaces: globList, excludeNamespaces: globList, references: globList },
    },
    requireDigest: { type: 'boolean' },
    registries: globList,
  },
};

const registrySettingsSchema: Schema = {
  type: 'object',
  required: ['host'],
  properties: {
    host: { type: 'string', check: nonEmpty },
    insecure: { type: 'boolean' },
    ca: {
      type: 'string',
      check: (value) => (value.includes('-----BEGIN CERTIFICATE-----') ? undefined : 'must be a PEM bundle of CA certificates'),
    },
  },
};

const configSpecSchema: Schema = {
  type: 'object',
  properties: {
    defaultAction: { type: 'string', enum: DEFAULT_ACTIONS },
    registries: { type: 'array', items: registrySettingsSchema },
  },
};

function documentSchema(kind: string, spec: Schema, metadataRequired: boolean): Schema {
  return {
    type: 'object',
    required: metadataRequired ? ['apiVersion', 'kind', 'metadata'] : ['apiVersion', 'kind'],
    properties: {
      apiVersion: { type: 'string', enum: [API_VERSION] },
      kind: { type: 'string', enum: [kind] },
      metadata: metadataSchema,
      spec,
    },
  };
}

const modelPolicySchema = documentSchema('ModelPolicy', policySpecSchema, true);
const configSchema = documentSchema('Config', configSpecSchema, false);

export type ParsedDocument =
  | { readonly kind: 'ModelPolicy'; readonly policy: ModelPolicy }
  | { readonly kind: 'Config'; readonly config: ModelgateConfig };

export type DocumentResult = { readonly ok: true; readonly document: ParsedDocument } | { readonly ok: false; readonly errors: SchemaError[] };

/** Validates one YAML document's data and converts it. */
export function parseDocument(data: unknown, source: string): DocumentResult {
  if (!isPlainObject(data)) return { ok: false, errors: [{ path: '', message: 'the document must be a mapping with apiVersion and kind' }] };
  const { kind } = data;
  if (kind === 'ModelPolicy') {
    const errors = validate(data, modelPolicySchema, '');
    return errors.length > 0 ? { ok: false, errors } : { ok: true, document: { kind, policy: toPolicy(data, source) } };
  }
  if (kind === 'Config') {
    const errors = validate(data, configSchema, '');
    return errors.length > 0 ? { ok: false, errors } : { ok: true, document: { kind, config: toConfig(data, source) } };
  }
  return {
    ok: false,
    errors: [{ path: 'kind', message: `must be ModelPolicy or Config, got ${JSON.stringify(kind ?? null)}` }],
  };
}

// The accessors below read already-validated data.
type Data = Record<string, unknown>;
const objectAt = (data: Data, key: string): Data => (isPlainObject(data[key]) ? data[key] : {});
const stringsAt = (data: Data, key: string, fallback: readonly string[]): readonly string[] =>
  Array.isArray(data[key]) ? (data[key] as string[]) : fallback;

function toPolicy(data: Data, source: string): ModelPolicy {
  const metadata = objectAt(data, 'metadata');
  const spec = objectAt(data, 'spec');
  const match = objectAt(spec, 'match');
  return {
    name: metadata['name'] as string,
    source,
    mode: (spec['mode'] as PolicyMode | undefined) ?? 'enforce',
    match: {
      namespaces: stringsAt(match, 'namespaces', ['*']),
      excludeNamespaces: stringsAt(match, 'excludeNamespaces', []),
      references: stringsAt(match, 'references', ['**']),
    },
    requireDigest: (spec['requireDigest'] as boolean | undefined) ?? true,
    registries: stringsAt(spec, 'registries', []),
  };
}

function toConfig(data: Data, source: string): ModelgateConfig {
  const spec = objectAt(data, 'spec');
  const registries = Array.isArray(spec['registries']) ? (spec['registries'] as Data[]) : [];
  return {
    source,
    defaultAction: (spec['defaultAction'] as DefaultAction | undefined) ?? 'deny',
    registries: registries.map(
      (entry): RegistrySettings => ({
        host: entry['host'] as string,
        insecure: (entry['insecure'] as boolean | undefined) ?? false,
        ca: entry['ca'] as string | undefined,
      }),
    ),
  };
}
