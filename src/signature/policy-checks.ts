/**
 * The rules of `spec.signatures` that a schema cannot say: exactly one of key, keyless or
 * static; unique names and signers; threshold ≤ authorities; issuer and subject in every
 * identity; fields that belong to another kind of authority or signedIdentity type; keyless
 * evidence choices that contradict each other.
 */
import type { SchemaError } from '../core/schema.ts';
import { SchemaValidator } from '../core/schema.ts';
import { parseAuthorityKey } from './keys.ts';
import { toAuthority, toSigningTime } from './policy-convert.ts';
import { MAX_AUTHORITIES, signaturesSchema } from './policy-schema.ts';
import type { Authority, AuthoritySection, SignaturesSection, SignedIdentitySection } from './policy-schema.ts';
import type { SignedIdentityType } from './signed-identity.ts';

const signatures = new SchemaValidator(signaturesSchema);

/** Every problem of a `spec.signatures` value: the schema's, then the rules across fields. */
export function checkSignatures(value: unknown, path = 'spec.signatures'): SchemaError[] {
  const result = signatures.validate(value, path);
  return result.ok ? signatureProblems(result.value, path) : result.errors;
}

/** The rules across fields of a section that passed the schema. */
export function signatureProblems(section: SignaturesSection, path = 'spec.signatures'): SchemaError[] {
  const errors: SchemaError[] = [];
  const { authorities } = section;
  if (authorities.length > MAX_AUTHORITIES) errors.push({ path: `${path}.authorities`, message: `must have at most ${MAX_AUTHORITIES} authorities` });
  const threshold = section.threshold ?? 1;
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
    const { name } = authority;
    if (seen.has(name)) errors.push({ path: `${at}.name`, message: `${JSON.stringify(name)} is used by another authority` });
    seen.add(name);
    const kinds = (['key', 'keyless', 'static'] as const).filter((kind) => authority[kind] !== undefined);
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
      for (const field of ['tlog', 'trustedRoot'] as const) {
        if (authority[field] !== undefined)
          errors.push({
            path: `${at}.${field}`,
            message: `only applies to key authorities${kinds[0] === 'keyless' ? ` (keyless authorities set keyless.${field})` : ''}`,
          });
      }
    }
    if (authority.keyless !== undefined) errors.push(...keylessEvidenceProblems(authority.keyless, `${at}.keyless`));
    authority.keyless?.identities.forEach((identity, i) => {
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
  });
  if (section.signedIdentity !== undefined) errors.push(...signedIdentityProblems(section.signedIdentity, `${path}.signedIdentity`));
  return errors;
}

/** The fields each signedIdentity type takes, as containers-policy.json(5) has them. */
const IDENTITY_FIELDS: Readonly<Record<SignedIdentityType, readonly ('repository' | 'prefix' | 'signedPrefix')[]>> = {
  matchRepository: [],
  exactRepository: ['repository'],
  remapIdentity: ['prefix', 'signedPrefix'],
  matchDigest: [],
};

/** Each field the type needs is there, and no field of another type. */
function signedIdentityProblems(identity: SignedIdentitySection, path: string): SchemaError[] {
  const errors: SchemaError[] = [];
  const wanted = IDENTITY_FIELDS[identity.type];
  for (const field of wanted) {
    if (identity[field] === undefined) errors.push({ path, message: `type ${identity.type} needs ${field}` });
  }
  for (const field of ['repository', 'prefix', 'signedPrefix'] as const) {
    if (identity[field] !== undefined && !wanted.includes(field)) {
      const owner = field === 'repository' ? 'exactRepository' : 'remapIdentity';
      errors.push({ path: `${path}.${field}`, message: `only applies to type ${owner}, not ${identity.type}` });
    }
  }
  return errors;
}

/** `signingTime` given twice, or a choice that can never be met. */
function keylessEvidenceProblems(keyless: NonNullable<AuthoritySection['keyless']>, at: string): SchemaError[] {
  const errors: SchemaError[] = [];
  const { signingTime } = keyless;
  if (Array.isArray(signingTime) && new Set(signingTime).size !== signingTime.length)
    errors.push({ path: `${at}.signingTime`, message: 'lists a source twice' });
  const sources = toSigningTime(signingTime);
  // Only a Rekor entry could prove the time, yet signatures without one are accepted: say which was meant.
  if (keyless.tlog === 'optional' && sources.length === 1 && sources[0] === 'tlog')
    errors.push({
      path: `${at}.signingTime`,
      message:
        'is only tlog while tlog is optional: a signature without a Rekor entry could never pass; add timestampAuthority or certificateValidity, or make tlog required',
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
