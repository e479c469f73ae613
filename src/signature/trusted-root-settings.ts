/**
 * The Config's `spec.trustedRoots`: custom Sigstore trusted roots (private Sigstore,
 * air-gapped clusters) that authorities may name, declared, checked and converted, and the
 * load-time question of which named roots are missing.
 *
 * ```yaml
 * spec:
 *   trustedRoots:
 *     - name: corp-sigstore
 *       json: |                   # a trusted_root.json document (sigstore protobuf-specs TrustedRoot)
 *         {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", ...}
 * ```
 */
import Type from 'typebox';
import type { Static } from 'typebox';
import type { SchemaError } from '../core/schema.ts';
import { SchemaValidator, strictObject, withCheck } from '../core/schema.ts';
import type { SignaturePolicy } from './policy-schema.ts';
import { rootNameSchema } from './policy-schema.ts';
import { trustedRootProblem } from './trust.ts';
import type { TrustedRootSetting, TrustedRoots } from './trust.ts';

export const trustedRootsSchema = Type.Array(
  strictObject({
    name: rootNameSchema,
    json: withCheck(Type.String({ description: 'a trusted_root.json document (sigstore protobuf-specs TrustedRoot)' }), trustedRootProblem),
  }),
  { description: 'custom Sigstore trusted roots that authorities may name' },
);
export type TrustedRootsSection = Static<typeof trustedRootsSchema>;

const trustedRoots = new SchemaValidator(trustedRootsSchema);

/** Every problem of a `spec.trustedRoots` value, duplicate names included. */
export function checkTrustedRoots(value: unknown, path = 'spec.trustedRoots'): SchemaError[] {
  const result = trustedRoots.validate(value, path);
  return [...(result.ok ? [] : result.errors), ...duplicateRootNames(value, path)];
}

/** A name given twice: the schema cannot say it. */
export function duplicateRootNames(value: unknown, path = 'spec.trustedRoots'): SchemaError[] {
  if (!Array.isArray(value)) return [];
  const errors: SchemaError[] = [];
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const name: unknown = typeof entry === 'object' && entry !== null && 'name' in entry ? entry.name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) errors.push({ path: `${path}[${index}].name`, message: `${JSON.stringify(name)} is given twice` });
    seen.add(name);
  });
  return errors;
}

/** Converts a checked `spec.trustedRoots` section. */
export function toTrustedRootSettings(section: TrustedRootsSection): TrustedRootSetting[] {
  return section.map(({ name, json }) => ({ name, json }));
}

/** Trusted roots the policy names that the Config does not supply (check at load time). */
export function unknownTrustedRoots(policy: Pick<SignaturePolicy, 'authorities'>, roots: TrustedRoots): string[] {
  const names = policy.authorities.flatMap((authority) => (authority.kind === 'static' ? [] : [authority.trustedRoot]));
  return [...new Set(names.filter((name) => !roots.has(name)))];
}
