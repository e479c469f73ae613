/**
 * `spec.signatures` of a ModelPolicy and `spec.trustedRoots` of the Config: types, schemas
 * (src/policy/schema.ts format), cross-field checks and conversion to the in-memory form.
 *
 * ```yaml
 * signatures:
 *   threshold: 1                  # distinct authorities that must pass (default 1)
 *   authorities:
 *     - name: release-key
 *       key: |                    # PEM public key: ECDSA P-256/P-384/P-521, Ed25519, RSA >= 2048
 *         -----BEGIN PUBLIC KEY-----
 *         ...
 *       tlog: optional            # accept signatures without a transparency-log entry (default: required)
 *       trustedRoot: public-good  # whose Rekor keys check the tlog entries (default public-good)
 *     - name: ci
 *       keyless:
 *         identities:
 *           - issuer: https://token.actions.githubusercontent.com
 *             subjectRegExp: ^https://github\.com/acme/models/\.github/workflows/release\.yml@refs/tags/v
 *         trustedRoot: public-good  # or a name from the Config's spec.trustedRoots
 *     - name: break-glass
 *       static: pass              # or fail: an explicit, logged exception
 * ```
 *
 * Config:
 * ```yaml
 * spec:
 *   trustedRoots:
 *     - name: corp-sigstore
 *       json: |                   # a trusted_root.json document (sigstore protobuf-specs TrustedRoot)
 *         {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", ...}
 *   signatureDiscovery:           # optional bounds of the registry reads
 *     maxCandidates: 16
 *     maxBlobKiB: 256
 * ```
 */
import { createHash } from 'node:crypto';
import type { Schema, SchemaError } from '../policy/schema.ts';
import { isPlainObject } from '../core/guards.ts';
import { validate } from '../policy/schema.ts';
import { patternProblem } from './identity.ts';
import type { IdentityMatcher } from './identity.ts';
import { keyProblem, parseAuthorityKey } from './keys.ts';
import { PUBLIC_GOOD, trustedRootProblem } from './trust.ts';
import type { TrustedRootSetting, TrustedRoots } from './trust.ts';

export type { IdentityMatcher } from './identity.ts';
export type { TrustedRootSetting } from './trust.ts';

/** Whether a key-based signature needs a transparency-log entry. */
export type TlogRequirement = 'required' | 'optional';
export const TLOG_REQUIREMENTS: readonly TlogRequirement[] = ['required', 'optional'];

export interface KeyAuthority {
  readonly kind: 'key';
  readonly name: string;
  /** PEM public key. */
  readonly key: string;
  readonly tlog: TlogRequirement;
  /** The trusted root whose transparency logs (and timestamp authorities) check tlog entries. */
  readonly trustedRoot: string;
}

export interface KeylessAuthority {
  readonly kind: 'keyless';
  readonly name: string;
  /** Accepted signers; one must match. */
  readonly identities: readonly IdentityMatcher[];
  /** Name of the trusted root (Fulcio CAs, CT logs, Rekor) the certificate must chain to. */
  readonly trustedRoot: string;
}

export interface StaticAuthority {
  readonly kind: 'static';
  readonly name: string;
  readonly result: 'pass' | 'fail';
}

export type Authority = KeyAuthority | KeylessAuthority | StaticAuthority;

export interface SignaturePolicy {
  /** Distinct authorities that must pass (1 ≤ threshold ≤ authorities). */
  readonly threshold: number;
  readonly authorities: readonly Authority[];
}

/** Bounds of signature discovery (Config `spec.signatureDiscovery`). */
export interface DiscoveryLimits {
  /** Most signatures read per artifact: referrer bundles and legacy signature layers together. */
  readonly maxCandidates: number;
  /** Size limit of each bundle or payload blob and of each signature manifest. */
  readonly maxBlobBytes: number;
}

export const DEFAULT_DISCOVERY_LIMITS: DiscoveryLimits = { maxCandidates: 16, maxBlobBytes: 256 * 1024 };

const AUTHORITY_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const ROOT_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
const MAX_AUTHORITIES = 32;

const checkAuthorityName = (value: string): string | undefined =>
  AUTHORITY_NAME.test(value) ? undefined : 'must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
const checkRootName = (value: string): string | undefined =>
  ROOT_NAME.test(value) ? undefined : 'must be a lowercase DNS label such as public-good or corp-sigstore';
const checkPattern = (value: string): string | undefined => patternProblem(value);
const nonEmpty = (value: string): string | undefined => (value.trim() === '' ? 'must not be empty' : undefined);

const identitySchema: Schema = {
  type: 'object',
  properties: {
    issuer: { type: 'string', check: nonEmpty },
    issuerRegExp: { type: 'string', check: checkPattern },
    subject: { type: 'string', check: nonEmpty },
    subjectRegExp: { type: 'string', check: checkPattern },
  },
};

const authoritySchema: Schema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', check: checkAuthorityName },
    key: { type: 'string', check: keyProblem },
    tlog: { type: 'string', enum: TLOG_REQUIREMENTS },
    trustedRoot: { type: 'string', check: checkRootName },
    keyless: {
      type: 'object',
      required: ['identities'],
      properties: {
        identities: { type: 'array', minItems: 1, items: identitySchema },
        trustedRoot: { type: 'string', check: checkRootName },
      },
    },
    static: { type: 'string', enum: ['pass', 'fail'] },
  },
};

/** Structural schema of `spec.signatures`; run checkSignatures for the cross-field rules too. */
export const signaturesSchema: Schema = {
  type: 'object',
  required: ['authorities'],
  properties: {
    threshold: { type: 'integer', minimum: 1, maximum: MAX_AUTHORITIES },
    authorities: { type: 'array', minItems: 1, items: authoritySchema },
  },
};

/**
 * Every problem of a `spec.signatures` value: the schema's, then the rules a schema cannot
 * say (exactly one of key/keyless/static, unique names, threshold ≤ authorities, issuer and
 * subject in every identity, fields that belong to another kind of authority).
 */
export function checkSignatures(value: unknown, path = 'spec.signatures'): SchemaError[] {
  const errors = validate(value, signaturesSchema, path);
  if (errors.length > 0 || !isPlainObject(value)) return errors;
  const authorities = value['authorities'] as Record<string, unknown>[];
  if (authorities.length > MAX_AUTHORITIES) errors.push({ path: `${path}.authorities`, message: `must have at most ${MAX_AUTHORITIES} authorities` });
  const threshold = (value['threshold'] as number | undefined) ?? 1;
  if (threshold > authorities.length) {
    errors.push({
      path: `${path}.threshold`,
      message: `is ${threshold}, but only ${authorities.length} authorit${authorities.length === 1 ? 'y is' : 'ies are'} listed`,
    });
  }
  const seen = new Set<string>();
  const signers = new Map<string, string>();
  authorities.forEach((authority, index) => {
    const at = `${path}.authorities[${index}]`;
    const name = authority['name'] as string;
    if (seen.has(name)) errors.push({ path: `${at}.name`, message: `${JSON.stringify(name)} is used by another authority` });
    seen.add(name);
    const kinds = ['key', 'keyless', 'static'].filter((kind) => authority[kind] !== undefined && authority[kind] !== null);
    if (kinds.length !== 1) {
      errors.push({
        path: at,
        message: kinds.length === 0 ? 'must have one of key, keyless or static' : `must have only one of key, keyless or static, not ${kinds.join(' and ')}`,
      });
      return;
    }
    // One signer listed twice would let one signature count twice toward the threshold.
    const signer = signerOf(toAuthority(authority));
    if (signer !== undefined) {
      const first = signers.get(signer);
      if (first !== undefined)
        errors.push({ path: at, message: `accepts the same signer as authority ${JSON.stringify(first)}: the threshold counts distinct signers` });
      else signers.set(signer, name);
    }
    if (kinds[0] !== 'key') {
      for (const field of ['tlog', 'trustedRoot']) {
        if (authority[field] !== undefined)
          errors.push({
            path: `${at}.${field}`,
            message: `only applies to key authorities${field === 'trustedRoot' ? ' (keyless authorities set keyless.trustedRoot)' : ''}`,
          });
      }
    }
    if (kinds[0] === 'keyless') {
      const identities = (authority['keyless'] as Record<string, unknown>)['identities'] as Record<string, unknown>[];
      identities.forEach((identity, i) => {
        const idPath = `${at}.keyless.identities[${i}]`;
        for (const [exact, pattern] of [
          ['issuer', 'issuerRegExp'],
          ['subject', 'subjectRegExp'],
        ] as const) {
          const has = [exact, pattern].filter((field) => identity[field] !== undefined);
          if (has.length === 0) errors.push({ path: idPath, message: `must have ${exact} or ${pattern}` });
          if (has.length === 2) errors.push({ path: idPath, message: `must have ${exact} or ${pattern}, not both` });
        }
      });
    }
  });
  return errors;
}

/** Who an authority accepts, whatever its name and tlog setting; undefined for static authorities. */
function signerOf(authority: Authority): string | undefined {
  switch (authority.kind) {
    case 'key':
      return `key:${parseAuthorityKey(authority.key).fingerprint}`;
    case 'keyless': {
      const identities = authority.identities
        .map((identity) => JSON.stringify([identity.issuer, identity.issuerRegExp, identity.subject, identity.subjectRegExp]))
        .sort();
      return `keyless:${authority.trustedRoot}:${identities.join(',')}`;
    }
    case 'static':
      return undefined;
  }
}

// The accessors below read already-checked data.
type Data = Record<string, unknown>;

function toIdentity(data: Data): IdentityMatcher {
  const out: { -readonly [K in keyof IdentityMatcher]: IdentityMatcher[K] } = {};
  for (const field of ['issuer', 'issuerRegExp', 'subject', 'subjectRegExp'] as const) {
    if (typeof data[field] === 'string') out[field] = data[field];
  }
  return out;
}

function toAuthority(data: Data): Authority {
  const name = data['name'] as string;
  if (typeof data['key'] === 'string') {
    return {
      kind: 'key',
      name,
      key: data['key'],
      tlog: (data['tlog'] as TlogRequirement | undefined) ?? 'required',
      trustedRoot: (data['trustedRoot'] as string | undefined) ?? PUBLIC_GOOD,
    };
  }
  if (isPlainObject(data['keyless'])) {
    const keyless = data['keyless'];
    return {
      kind: 'keyless',
      name,
      identities: (keyless['identities'] as Data[]).map(toIdentity),
      trustedRoot: (keyless['trustedRoot'] as string | undefined) ?? PUBLIC_GOOD,
    };
  }
  return { kind: 'static', name, result: data['static'] === 'pass' ? 'pass' : 'fail' };
}

/** Converts a `spec.signatures` value that passed checkSignatures. */
export function toSignaturePolicy(data: unknown): SignaturePolicy {
  const value = isPlainObject(data) ? data : {};
  const authorities = Array.isArray(value['authorities']) ? (value['authorities'] as Data[]).map(toAuthority) : [];
  return { threshold: (value['threshold'] as number | undefined) ?? 1, authorities };
}

/** Schema of the Config's `spec.trustedRoots`: `[{name, json}]`, each document parsed and checked. */
export const trustedRootsSchema: Schema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'json'],
    properties: {
      name: { type: 'string', check: checkRootName },
      json: { type: 'string', check: trustedRootProblem },
    },
  },
};

/** Every problem of a `spec.trustedRoots` value, duplicate names included. */
export function checkTrustedRoots(value: unknown, path = 'spec.trustedRoots'): SchemaError[] {
  const errors = validate(value, trustedRootsSchema, path);
  if (!Array.isArray(value)) return errors;
  const seen = new Set<string>();
  value.forEach((entry: unknown, index) => {
    const name = isPlainObject(entry) ? entry['name'] : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) errors.push({ path: `${path}[${index}].name`, message: `${JSON.stringify(name)} is given twice` });
    seen.add(name);
  });
  return errors;
}

/** Converts a `spec.trustedRoots` value that passed checkTrustedRoots. */
export function toTrustedRootSettings(data: unknown): TrustedRootSetting[] {
  if (!Array.isArray(data)) return [];
  return (data as Data[]).map((entry) => ({ name: entry['name'] as string, json: entry['json'] as string }));
}

/** Schema of the Config's `spec.signatureDiscovery`. */
export const discoveryLimitsSchema: Schema = {
  type: 'object',
  properties: {
    maxCandidates: { type: 'integer', minimum: 1, maximum: 128 },
    maxBlobKiB: { type: 'integer', minimum: 4, maximum: 4096 },
  },
};

/** Converts a validated `spec.signatureDiscovery` value (absent: the defaults). */
export function toDiscoveryLimits(data: unknown): DiscoveryLimits {
  const value = isPlainObject(data) ? data : {};
  return {
    maxCandidates: typeof value['maxCandidates'] === 'number' ? value['maxCandidates'] : DEFAULT_DISCOVERY_LIMITS.maxCandidates,
    maxBlobBytes: typeof value['maxBlobKiB'] === 'number' ? value['maxBlobKiB'] * 1024 : DEFAULT_DISCOVERY_LIMITS.maxBlobBytes,
  };
}

/** Trusted roots the policy names that the Config does not supply (check at load time). */
export function unknownTrustedRoots(policy: SignaturePolicy, roots: TrustedRoots): string[] {
  const names = policy.authorities.flatMap((authority) => (authority.kind === 'static' ? [] : [authority.trustedRoot]));
  return [...new Set(names.filter((name) => !roots.has(name)))];
}

/** The canonical form of an authority for hashing: keys by SPKI fingerprint, defaults written out. */
function canonicalAuthority(authority: Authority, roots: TrustedRoots | undefined): unknown {
  switch (authority.kind) {
    case 'key': {
      let key: string;
      try {
        key = parseAuthorityKey(authority.key).fingerprint;
      } catch {
        key = createHash('sha256').update(authority.key).digest('hex');
      }
      return ['key', authority.name, key, authority.tlog, authority.trustedRoot, roots?.fingerprint(authority.trustedRoot) ?? ''];
    }
    case 'keyless':
      return [
        'keyless',
        authority.name,
        authority.identities.map((identity) => [
          identity.issuer ?? null,
          identity.issuerRegExp ?? null,
          identity.subject ?? null,
          identity.subjectRegExp ?? null,
        ]),
        authority.trustedRoot,
        roots?.fingerprint(authority.trustedRoot) ?? '',
      ];
    case 'static':
      return ['static', authority.name, authority.result];
  }
}

/**
 * A deterministic key of what a verification result depends on besides the digest and the
 * registry's content: threshold, authorities (keys by SPKI fingerprint, so PEM line breaks do
 * not matter) and, when given, the fingerprints of the trusted roots they name. Cache
 * (registry/repository, digest, key) → SignatureResult.
 */
export function signatureCacheKey(policy: SignaturePolicy, roots?: TrustedRoots, limits?: DiscoveryLimits): string {
  const canonical = JSON.stringify([
    'modelgate-signatures/v1',
    policy.threshold,
    policy.authorities.map((authority) => canonicalAuthority(authority, roots)),
    limits === undefined ? null : [limits.maxCandidates, limits.maxBlobBytes],
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}
