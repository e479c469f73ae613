/**
 * Schemas of the ModelPolicy and Config documents and their conversion into
 * the typed in-memory form. Validation runs first, so conversion may assume shapes.
 */
import { describeError } from '../core/errors.ts';
import { isKnownTypeName } from '../artifact/media-types.ts';
import {
  checkSignatures,
  checkTrustedRoots,
  discoveryLimitsSchema,
  signaturesSchema,
  toDiscoveryLimits,
  toSignaturePolicy,
  toTrustedRootSettings,
  trustedRootsSchema,
} from '../signature/policy.ts';
import { parseQuantity } from '../artifact/quantity.ts';
import { PathPatternError, parsePathPattern } from '../core/paths.ts';
import { API_VERSION, CLUSTER_SCOPE, DEFAULT_ACTIONS, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, ON_ERROR_ACTIONS, POLICY_MODES, SHORT_NAME_MODES } from './types.ts';
import type { RegistrySettings } from '../oci/settings.ts';
import type { ArtifactRules, DefaultAction, ModelPolicy, ModelgateConfig, OnError, PolicyMode, ShortNameMode } from './types.ts';
import type { Schema, SchemaError } from './schema.ts';
import { isPlainObject } from '../core/guards.ts';
import { validate } from './schema.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Why a workload's pod spec path cannot be used, or undefined. */
function pathProblem(value: string): string | undefined {
  try {
    parsePathPattern(value);
    return undefined;
  } catch (error) {
    return error instanceof PathPatternError ? error.message.replace(/^path "[^"]*" /, '') : describeError(error);
  }
}

const nonEmpty = (value: string): string | undefined => (value.trim() === '' ? 'must not be empty' : undefined);
/** Bounds on patterns: matching costs pattern length × text length (core/glob.ts), and tenants write namespaced policies. */
export const MAX_GLOB_LENGTH = 255;
export const MAX_GLOBS = 64;
const globString: Schema = { type: 'string', maxLength: MAX_GLOB_LENGTH, check: nonEmpty };
const globList: Schema = { type: 'array', items: globString, maxItems: MAX_GLOBS };

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
    onError: { type: 'string', enum: ON_ERROR_ACTIONS },
    signatures: signaturesSchema,
    artifact: {
      type: 'object',
      properties: {
        types: {
          type: 'array',
          items: {
            type: 'string',
            check: (value) =>
              isKnownTypeName(value) ? undefined : 'must be a preset (modelpack, kitops, oci-image) or a media type such as application/vnd.example+json',
          },
        },
        layerMediaTypes: globList,
        mountable: { type: 'boolean' },
        formats: { type: 'array', items: globString, maxItems: MAX_GLOBS },
        denyFiles: globList,
        maxSize: {
          type: 'string',
          check: (value) => (parseQuantity(value) === undefined ? 'must be a byte quantity such as 200Gi, 500M or 1048576' : undefined),
        },
        licenses: { type: 'array', items: globString, maxItems: MAX_GLOBS },
      },
    },
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
    trustedRoots: trustedRootsSchema,
    signatureDiscovery: discoveryLimitsSchema,
    namespacedPolicies: { type: 'boolean' },
    shortNames: { type: 'string', enum: SHORT_NAME_MODES },
    workloads: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['kind', 'podSpecPaths'],
        properties: {
          group: { type: 'string', maxLength: 253 },
          kind: {
            type: 'string',
            check: (value) => (/^[A-Z][A-Za-z0-9]{0,62}$/.test(value) ? undefined : 'must be a Kubernetes kind such as LeaderWorkerSet'),
          },
          namespaced: { type: 'boolean' },
          podSpecPaths: { type: 'array', minItems: 1, maxItems: 32, items: { type: 'string', maxLength: 255, check: pathProblem } },
        },
      },
    },
    limits: {
      type: 'object',
      properties: {
        maxReferencesPerObject: { type: 'integer', minimum: 1, maximum: 100_000 },
        registryRequests: { type: 'integer', minimum: 1, maximum: 1024 },
        registryRequestsPerHost: { type: 'integer', minimum: 1, maximum: 256 },
      },
    },
    credentials: {
      type: 'object',
      properties: {
        dockerConfig: globString,
        pullSecrets: { type: 'boolean' },
      },
    },
    timeouts: {
      type: 'object',
      properties: {
        requestSeconds: { type: 'integer', minimum: 1, maximum: 30 },
        totalSeconds: { type: 'integer', minimum: 1, maximum: 30 },
      },
    },
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

export type ParsedDocument = { readonly kind: 'ModelPolicy'; readonly policy: ModelPolicy } | { readonly kind: 'Config'; readonly config: ModelgateConfig };

export type DocumentResult = { readonly ok: true; readonly document: ParsedDocument } | { readonly ok: false; readonly errors: SchemaError[] };

/** Validates one YAML document's data and converts it. */
export function parseDocument(data: unknown, source: string): DocumentResult {
  if (!isPlainObject(data)) return { ok: false, errors: [{ path: '', message: 'the document must be a mapping with apiVersion and kind' }] };
  const { kind } = data;
  if (kind === 'ModelPolicy') {
    const errors = validate(data, modelPolicySchema, '');
    // Rules across fields that a schema cannot say (one kind per authority, threshold ≤ authorities, …).
    const spec = data['spec'];
    if (errors.length === 0 && isPlainObject(spec) && spec['signatures'] !== undefined) errors.push(...checkSignatures(spec['signatures']));
    return errors.length > 0 ? { ok: false, errors } : { ok: true, document: { kind, policy: toPolicy(data, source) } };
  }
  if (kind === 'Config') {
    const errors = validate(data, configSchema, '');
    const spec = data['spec'];
    if (errors.length === 0 && isPlainObject(spec) && spec['trustedRoots'] !== undefined) errors.push(...checkTrustedRoots(spec['trustedRoots']));
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
const stringsAt = (data: Data, key: string, fallback: readonly string[]): readonly string[] => (Array.isArray(data[key]) ? (data[key] as string[]) : fallback);

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
    artifact: isPlainObject(spec['artifact']) ? toArtifactRules(spec['artifact']) : undefined,
    signatures: isPlainObject(spec['signatures']) ? toSignaturePolicy(spec['signatures']) : undefined,
    onError: (spec['onError'] as OnError | undefined) ?? 'deny',
    scope: CLUSTER_SCOPE,
  };
}

function toArtifactRules(data: Data): ArtifactRules {
  return {
    types: stringsAt(data, 'types', []),
    layerMediaTypes: stringsAt(data, 'layerMediaTypes', []),
    mountable: (data['mountable'] as boolean | undefined) ?? false,
    formats: stringsAt(data, 'formats', []),
    denyFiles: stringsAt(data, 'denyFiles', []),
    maxSize: typeof data['maxSize'] === 'string' ? parseQuantity(data['maxSize']) : undefined,
    licenses: stringsAt(data, 'licenses', []),
  };
}

function toConfig(data: Data, source: string): ModelgateConfig {
  const spec = objectAt(data, 'spec');
  const registries = Array.isArray(spec['registries']) ? (spec['registries'] as Data[]) : [];
  const timeouts = objectAt(spec, 'timeouts');
  const credentials = objectAt(spec, 'credentials');
  const seconds = (key: string): number | undefined => (typeof timeouts[key] === 'number' ? timeouts[key] * 1000 : undefined);
  const limits = objectAt(spec, 'limits');
  const limit = (key: keyof typeof DEFAULT_LIMITS): number => (typeof limits[key] === 'number' ? limits[key] : DEFAULT_LIMITS[key]);
  const workloads = Array.isArray(spec['workloads']) ? (spec['workloads'] as Data[]) : [];
  return {
    source,
    workloads: workloads.map((entry) => ({
      group: (entry['group'] as string | undefined) ?? '',
      kind: entry['kind'] as string,
      podSpecPaths: entry['podSpecPaths'] as string[],
      ...(typeof entry['namespaced'] === 'boolean' ? { namespaced: entry['namespaced'] } : {}),
    })),
    shortNames: (spec['shortNames'] as ShortNameMode | undefined) ?? 'docker.io',
    limits: {
      maxReferencesPerObject: limit('maxReferencesPerObject'),
      registryRequests: limit('registryRequests'),
      registryRequestsPerHost: limit('registryRequestsPerHost'),
    },
    trustedRoots: spec['trustedRoots'] === undefined ? [] : toTrustedRootSettings(spec['trustedRoots']),
    signatureDiscovery: toDiscoveryLimits(spec['signatureDiscovery']),
    namespacedPolicies: (spec['namespacedPolicies'] as boolean | undefined) ?? false,
    credentials: {
      dockerConfig: credentials['dockerConfig'] as string | undefined,
      pullSecrets: (credentials['pullSecrets'] as boolean | undefined) ?? false,
    },
    timeouts: { requestMs: seconds('requestSeconds') ?? DEFAULT_TIMEOUTS.requestMs, totalMs: seconds('totalSeconds') ?? DEFAULT_TIMEOUTS.totalMs },
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
