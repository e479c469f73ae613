/**
 * Keyless identities: which OIDC issuer and subject a Fulcio-style certificate names, and
 * whether they match an authority's `identities`. Pure functions.
 *
 * Matching rules:
 * - `issuer` / `subject`: exact string equality.
 * - `issuerRegExp` / `subjectRegExp`: a regular expression in RE2 syntax (Go's regexp, as
 *   cosign and policy-controller use), matched in linear time (re2js: no backtracking, so no
 *   pattern a tenant writes can stall the webhook), always anchored at the start (as if it
 *   began with `^`), and at the end only when it ends with `$`. So
 *   `^https://github\.com/acme/models/\.github/workflows/release\.yml@refs/tags/v` accepts every
 *   `v…` tag of that workflow, while `https://accounts\.google\.com` can never match
 *   `https://evil.example/?https://accounts.google.com`. Write `$` for a whole-value match.
 */
import { describeError } from '../core/errors.ts';
import type { X509Certificate } from '@sigstore/core';
import { RE2JS } from 're2js';
import { IdentityError } from './errors.ts';

/** One accepted signer: an issuer (exact or pattern) and a subject (exact or pattern). */
export interface IdentityMatcher {
  readonly issuer?: string;
  readonly issuerRegExp?: string;
  readonly subject?: string;
  readonly subjectRegExp?: string;
}

/** What a certificate says about its signer. */
export interface SignerIdentity {
  /** OIDC issuer from extension 1.3.6.1.4.1.57264.1.8 (DER UTF8String), else 1.3.6.1.4.1.57264.1.1 (raw). */
  readonly issuer: string | undefined;
  /** Subject alternative name: URI, else e-mail address. */
  readonly subject: string | undefined;
}

export const OID_FULCIO_ISSUER_V1 = '1.3.6.1.4.1.57264.1.1';
export const OID_FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.8';
export const OID_EXTENDED_KEY_USAGE = '2.5.29.37';
export const OID_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** Longest pattern accepted: matching time grows with pattern × text, and tenants write patterns too. */
export const MAX_PATTERN_LENGTH = 1024;

const compiled = new Map<string, RE2JS>();

/** The anchored form of a pattern (see the module comment); throws when it is not valid RE2 syntax. */
export function compilePattern(pattern: string): { test(value: string): boolean } {
  let regexp = compiled.get(pattern);
  if (regexp === undefined) {
    const body = pattern.startsWith('^') ? pattern.slice(1) : pattern;
    regexp = RE2JS.compile(`^(?:${body})`);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, regexp);
  }
  const matcher = regexp;
  return { test: (value) => matcher.matcher(value).find() };
}

/** Why a pattern cannot be used, for schema checks; undefined when it compiles. */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.trim() === '') return 'must not be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `must be at most ${MAX_PATTERN_LENGTH} characters long, got ${pattern.length}`;
  try {
    compilePattern(pattern);
    return undefined;
  } catch (error) {
    return `is not a valid RE2 regular expression (Go's regexp syntax: no lookaround or backreferences): ${describeError(error)}`;
  }
}

function matchesValue(exact: string | undefined, pattern: string | undefined, value: string): boolean {
  if (exact !== undefined) return value === exact;
  if (pattern !== undefined) return compilePattern(pattern).test(value);
  return false;
}

/** `issuer "…"` or `issuerRegExp /…/`, for messages. */
function describeExpected(kind: 'issuer' | 'subject', exact: string | undefined, pattern: string | undefined): string {
  return exact !== undefined ? `${kind} ${JSON.stringify(exact)}` : `${kind}RegExp ${JSON.stringify(pattern ?? '')}`;
}

/**
 * Throws IdentityError unless one of the matchers accepts the signer. The message names
 * the certificate's issuer and subject and what was expected, so the author can fix either.
 */
export function assertIdentity(identities: readonly IdentityMatcher[], signer: SignerIdentity): IdentityMatcher {
  const { issuer, subject } = signer;
  if (issuer === undefined || issuer === '') {
    throw new IdentityError({ code: 'MISSING_IDENTITY', message: 'the certificate names no OIDC issuer (extension 1.3.6.1.4.1.57264.1.8 or .1.1)' });
  }
  if (subject === undefined || subject === '') {
    throw new IdentityError({ code: 'MISSING_IDENTITY', message: 'the certificate names no subject (no URI or e-mail subject alternative name)' });
  }
  const issuerMatches = identities.filter((identity) => matchesValue(identity.issuer, identity.issuerRegExp, issuer));
  if (issuerMatches.length === 0) {
    const expected = identities.map((identity) => describeExpected('issuer', identity.issuer, identity.issuerRegExp)).join(' or ');
    throw new IdentityError({ code: 'ISSUER_MISMATCH', message: `the certificate was issued for OIDC issuer ${JSON.stringify(issuer)}, not ${expected}` });
  }
  const match = issuerMatches.find((identity) => matchesValue(identity.subject, identity.subjectRegExp, subject));
  if (match === undefined) {
    const expected = issuerMatches.map((identity) => describeExpected('subject', identity.subject, identity.subjectRegExp)).join(' or ');
    throw new IdentityError({
      code: 'SUBJECT_MISMATCH',
      message: `the certificate's subject is ${JSON.stringify(subject)}, not ${expected} (issuer ${issuer})`,
    });
  }
  return match;
}

/** The issuer and subject a certificate names (no trust decision). */
export function signerIdentity(certificate: X509Certificate): SignerIdentity {
  let issuer: string | undefined;
  try {
    const v2 = certificate.extension(OID_FULCIO_ISSUER_V2);
    if (v2 !== undefined) issuer = v2.valueObj.subs[0]?.value.toString('utf8');
    else issuer = certificate.extension(OID_FULCIO_ISSUER_V1)?.value.toString('utf8');
  } catch {
    issuer = undefined;
  }
  let subject: string | undefined;
  try {
    subject = certificate.subjectAltName;
  } catch {
    subject = undefined;
  }
  return { issuer, subject };
}

/** Throws IdentityError unless the certificate's extended key usage includes code signing. */
export function assertCodeSigning(certificate: X509Certificate): void {
  let usages: string[] = [];
  try {
    const ext = certificate.extension(OID_EXTENDED_KEY_USAGE);
    const sequence = ext?.valueObj.subs[0];
    usages = sequence === undefined ? [] : sequence.subs.map((oid) => oid.toOID());
  } catch {
    usages = [];
  }
  if (!usages.includes(OID_CODE_SIGNING)) {
    throw new IdentityError({ code: 'NOT_CODE_SIGNING', message: 'the certificate is not a code-signing certificate (no codeSigning extended key usage)' });
  }
}
