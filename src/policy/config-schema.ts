/**
 * The Config document: cluster-wide settings (registries, credentials, timeouts, limits,
 * workload kinds, trusted roots). `spec.trustedRoots`, `spec.publicGood` and
 * `spec.signatureDiscovery` are declared by signature/.
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import { describeError } from '../core/errors.ts';
import { PathPatternError, parsePathPattern } from '../core/paths.ts';
import { globString } from '../core/glob-schema.ts';
import { nonEmptyString, patternString, stringEnum, strictObject, withCheck } from '../core/schema.ts';
import { discoveryLimitsSchema } from '../signature/policy-schema.ts';
import { publicGoodSchema } from '../signature/public-good-settings.ts';
import { trustedRootsSchema } from '../signature/trusted-root-settings.ts';
import { documentSchema, metadataSchema } from './document-schema.ts';

export const DEFAULT_ACTIONS = ['deny', 'allow', 'warn'] as const;
export const SHORT_NAME_MODES = ['docker.io', 'deny'] as const;

/** Why a workload's pod spec path cannot be used, or undefined. */
function pathProblem(value: string): string | undefined {
  try {
    parsePathPattern(value);
    return undefined;
  } catch (error) {
    return error instanceof PathPatternError ? error.message.replace(/^path "[^"]*" /, '') : describeError(error);
  }
}

export const registrySettingsSchema = strictObject({
  host: nonEmptyString({ description: 'registry host, with its port if any' }),
  insecure: Type.Optional(Type.Boolean({ description: 'plain HTTP; only ever for hosts listed with it' })),
  ca: Type.Optional(
    patternString(/-----BEGIN CERTIFICATE-----/, 'must be a PEM bundle of CA certificates', { description: 'PEM bundle of CAs to trust for this host' }),
  ),
});

export const workloadSchema = strictObject({
  group: Type.Optional(Type.String({ maxLength: 253 })),
  kind: patternString(/^[A-Z][A-Za-z0-9]{0,62}$/, 'must be a Kubernetes kind such as LeaderWorkerSet'),
  namespaced: Type.Optional(Type.Boolean({ description: 'default true; false for cluster-scoped kinds' })),
  podSpecPaths: Type.Array(withCheck(Type.String({ maxLength: 255 }), pathProblem), {
    minItems: 1,
    maxItems: 32,
    description: 'where the pod specs are, e.g. spec.roles[].template.spec',
  }),
});
export type WorkloadSection = Static<typeof workloadSchema>;

export const limitsSchema = strictObject(
  {
    maxReferencesPerObject: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'model references judged per object (default 64)' })),
    registryRequests: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1024, description: 'registry requests in flight at once, all registries (default 64)' }),
    ),
    registryRequestsPerHost: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 256, description: 'registry requests in flight at once to one host (default 16)' }),
    ),
  },
  { description: 'bounds on the work one object or the whole webhook may cause' },
);
export type LimitsSection = Static<typeof limitsSchema>;

export const configSpecSchema = strictObject({
  defaultAction: Type.Optional(stringEnum(DEFAULT_ACTIONS, { description: 'what happens to a model reference that no ModelPolicy matches (default deny)' })),
  registries: Type.Optional(Type.Array(registrySettingsSchema)),
  trustedRoots: Type.Optional(trustedRootsSchema),
  publicGood: Type.Optional(publicGoodSchema),
  signatureDiscovery: Type.Optional(discoveryLimitsSchema),
  namespacedPolicies: Type.Optional(
    Type.Boolean({ description: 'also watch ConfigMaps labelled modelgate.dev/policy: "true" in every namespace, each applying to its own namespace' }),
  ),
  shortNames: Type.Optional(stringEnum(SHORT_NAME_MODES, { description: 'how a reference without a registry is judged (default docker.io)' })),
  workloads: Type.Optional(Type.Array(workloadSchema, { maxItems: 64, description: 'kinds beyond the built-in ones whose pod specs hold model references' })),
  limits: Type.Optional(limitsSchema),
  credentials: Type.Optional(
    strictObject({
      dockerConfig: Type.Optional(globString('a docker config.json file given to the webhook (a mounted Secret)')),
      pullSecrets: Type.Optional(Type.Boolean({ description: "also use the admitted pod's imagePullSecrets and its ServiceAccount's" })),
    }),
  ),
  timeouts: Type.Optional(
    strictObject({
      requestSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, description: 'one HTTP request (default 2)' })),
      totalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, description: 'all registry work for one admission review (default 4)' })),
    }),
  ),
});
export type ConfigSpec = Static<typeof configSpecSchema>;

export const configSchema = documentSchema(
  'Config',
  configSpecSchema,
  Type.Optional(metadataSchema),
  'The modelgate Config: cluster-wide settings (at most one)',
);
export type ConfigDocument = Static<typeof configSchema>;
