/**
 * One YAML document's data into the typed in-memory form: validated against its
 * declaration (model-policy-schema.ts, config-schema.ts), then the rules across fields a
 * schema cannot say, then converted with defaults filled in.
 */
import { toArtifactRules } from '../artifact/policy-schema.ts';
import { attestationProblems, toAttestationPolicy } from '../attestation/policy-checks.ts';
import { isPlainObject } from '../core/guards.ts';
import type { SchemaError } from '../core/schema.ts';
import { SchemaValidator } from '../core/schema.ts';
import { modelSignatureProblems, toModelSignaturePolicy } from '../signature/oms-policy.ts';
import { signatureProblems } from '../signature/policy-checks.ts';
import { toDiscoveryLimits, toSignaturePolicy } from '../signature/policy-convert.ts';
import { toPublicGoodSettings } from '../signature/public-good-settings.ts';
import { duplicateRootNames, toTrustedRootSettings } from '../signature/trusted-root-settings.ts';
import type { ConfigDocument } from './config-schema.ts';
import { configSchema } from './config-schema.ts';
import type { ModelPolicyDocument } from './model-policy-schema.ts';
import { modelPolicySchema } from './model-policy-schema.ts';
import { CLUSTER_SCOPE, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from './types.ts';
import type { ModelPolicy, ModelgateConfig } from './types.ts';

const modelPolicies = new SchemaValidator(modelPolicySchema);
const configs = new SchemaValidator(configSchema);

export type ParsedDocument = { readonly kind: 'ModelPolicy'; readonly policy: ModelPolicy } | { readonly kind: 'Config'; readonly config: ModelgateConfig };

export type DocumentResult = { readonly ok: true; readonly document: ParsedDocument } | { readonly ok: false; readonly errors: SchemaError[] };

/** Validates one YAML document's data and converts it. */
export function parseDocument(data: unknown, source: string): DocumentResult {
  if (!isPlainObject(data)) return { ok: false, errors: [{ path: '', message: 'the document must be a mapping with apiVersion and kind' }] };
  const { kind } = data;
  if (kind === 'ModelPolicy') {
    const result = modelPolicies.validate(data);
    if (!result.ok) return result;
    const signatures = result.value.spec?.signatures;
    const modelSignature = result.value.spec?.modelSignature;
    const attestations = result.value.spec?.attestations;
    const errors = [
      ...(signatures === undefined ? emptySection(data, 'signatures', 'a mapping') : signatureProblems(signatures)),
      ...(modelSignature === undefined ? emptySection(data, 'modelSignature', 'a mapping') : modelSignatureProblems(modelSignature)),
      ...(attestations === undefined ? emptySection(data, 'attestations', 'a list') : attestationProblems(attestations)),
    ];
    return errors.length > 0 ? { ok: false, errors } : { ok: true, document: { kind, policy: toPolicy(result.value, source) } };
  }
  if (kind === 'Config') {
    const result = configs.validate(data);
    if (!result.ok) return result;
    const errors = [...emptySection(data, 'trustedRoots', 'a list'), ...duplicateRootNames(result.value.spec?.trustedRoots)];
    return errors.length > 0 ? { ok: false, errors } : { ok: true, document: { kind, config: toConfig(result.value, source) } };
  }
  return {
    ok: false,
    errors: [{ path: 'kind', message: `must be ModelPolicy or Config, got ${JSON.stringify(kind ?? null)}` }],
  };
}

/**
 * An empty `signatures:`, `attestations:` or `trustedRoots:` is refused, not read as absent like other empty
 * fields: a policy meant to require signatures must not silently require none.
 */
function emptySection(data: Record<string, unknown>, section: string, expected: string): SchemaError[] {
  const spec = data['spec'];
  return isPlainObject(spec) && spec[section] === null ? [{ path: `spec.${section}`, message: `must be ${expected}, got null` }] : [];
}

function toPolicy({ metadata, spec = {} }: ModelPolicyDocument, source: string): ModelPolicy {
  const { match = {} } = spec;
  return {
    name: metadata.name,
    source,
    mode: spec.mode ?? 'enforce',
    match: {
      namespaces: match.namespaces ?? ['*'],
      excludeNamespaces: match.excludeNamespaces ?? [],
      references: match.references ?? ['**'],
    },
    requireDigest: spec.requireDigest ?? true,
    registries: spec.registries ?? [],
    artifact: spec.artifact === undefined ? undefined : toArtifactRules(spec.artifact),
    signatures: spec.signatures === undefined ? undefined : toSignaturePolicy(spec.signatures),
    ...(spec.modelSignature === undefined ? {} : { modelSignature: toModelSignaturePolicy(spec.modelSignature) }),
    attestations: spec.attestations === undefined ? undefined : toAttestationPolicy(spec.attestations),
    onError: spec.onError ?? 'deny',
    scope: CLUSTER_SCOPE,
  };
}

function toConfig({ spec = {} }: ConfigDocument, source: string): ModelgateConfig {
  const { timeouts = {}, credentials = {}, limits = {} } = spec;
  const milliseconds = (seconds: number | undefined): number | undefined => (seconds === undefined ? undefined : seconds * 1000);
  return {
    source,
    workloads: (spec.workloads ?? []).map(({ group, kind, podSpecPaths, namespaced }) => ({
      group: group ?? '',
      kind,
      podSpecPaths,
      ...(namespaced === undefined ? {} : { namespaced }),
    })),
    shortNames: spec.shortNames ?? 'docker.io',
    limits: {
      maxReferencesPerObject: limits.maxReferencesPerObject ?? DEFAULT_LIMITS.maxReferencesPerObject,
      registryRequests: limits.registryRequests ?? DEFAULT_LIMITS.registryRequests,
      registryRequestsPerHost: limits.registryRequestsPerHost ?? DEFAULT_LIMITS.registryRequestsPerHost,
    },
    trustedRoots: toTrustedRootSettings(spec.trustedRoots ?? []),
    publicGood: toPublicGoodSettings(spec.publicGood),
    signatureDiscovery: toDiscoveryLimits(spec.signatureDiscovery),
    namespacedPolicies: spec.namespacedPolicies ?? false,
    credentials: { dockerConfig: credentials.dockerConfig, pullSecrets: credentials.pullSecrets ?? false },
    timeouts: {
      requestMs: milliseconds(timeouts.requestSeconds) ?? DEFAULT_TIMEOUTS.requestMs,
      totalMs: milliseconds(timeouts.totalSeconds) ?? DEFAULT_TIMEOUTS.totalMs,
    },
    defaultAction: spec.defaultAction ?? 'deny',
    registries: (spec.registries ?? []).map(({ host, insecure, ca }) => ({ host, insecure: insecure ?? false, ca })),
  };
}
