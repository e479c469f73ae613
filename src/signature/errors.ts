/**
 * Typed errors of signature verification, in the style of sigstore-js: every error has a
 * `code` that callers and tests branch on and a message that reads as a fact about the
 * signature ("signs sha256:… , not the admitted sha256:…"), short enough for a denial.
 */

import { type CodeTable, describeError, ModelgateError } from '../core/errors.ts';

interface SignatureErrorOptions<C extends string> {
  readonly code: C;
  readonly message: string;
  readonly cause?: unknown;
}

/** The codes of signature verification mean nothing to the CLI or the server (no exit code, no HTTP status): they become findings. */
abstract class CodedError<C extends string> extends ModelgateError<C> {
  constructor(codes: CodeTable<C>, options: SignatureErrorOptions<C>) {
    super(codes, options.code, options.message, options.cause);
  }
}

export type FormatErrorCode =
  /** Not JSON, not a sigstore bundle, or a bundle that fails @sigstore/bundle's validation. */
  | 'MALFORMED_BUNDLE'
  /** A legacy cosign signature layer whose annotations or payload cannot be read. */
  | 'MALFORMED_SIGNATURE'
  /** Well-formed, but a kind of content that cannot be bound to an image (message signature without payload, other DSSE payload types, attestations). */
  | 'UNSUPPORTED_CONTENT'
  /** A signature manifest, bundle or payload larger than the Config's limit: it is not read. */
  | 'OVERSIZED_SIGNATURE';

/** The signature material could not be read. */
export class SignatureFormatError extends CodedError<FormatErrorCode> {
  static readonly codes: CodeTable<FormatErrorCode> = { MALFORMED_BUNDLE: {}, MALFORMED_SIGNATURE: {}, UNSUPPORTED_CONTENT: {}, OVERSIZED_SIGNATURE: {} };
  override readonly name = 'SignatureFormatError';
  constructor(options: SignatureErrorOptions<FormatErrorCode>) {
    super(SignatureFormatError.codes, options);
  }
}

export type BindingErrorCode =
  /** The payload signs another manifest digest than the one admitted. */
  | 'DIGEST_MISMATCH'
  /** The simple-signing payload names another repository (`critical.identity.docker-reference`). */
  | 'REPOSITORY_MISMATCH'
  /** The payload is not a cosign simple-signing payload or an in-toto statement of cosign's sign predicate. */
  | 'INVALID_PAYLOAD';

/** The signed payload does not bind the signature to the admitted artifact. */
export class BindingError extends CodedError<BindingErrorCode> {
  static readonly codes: CodeTable<BindingErrorCode> = { DIGEST_MISMATCH: {}, REPOSITORY_MISMATCH: {}, INVALID_PAYLOAD: {} };
  override readonly name = 'BindingError';
  constructor(options: SignatureErrorOptions<BindingErrorCode>) {
    super(BindingError.codes, options);
  }
}

export type IdentityErrorCode =
  /** The certificate carries no OIDC issuer or no subject (SAN URI or e-mail). */
  | 'MISSING_IDENTITY'
  | 'ISSUER_MISMATCH'
  | 'SUBJECT_MISMATCH'
  /** The leaf certificate is not for code signing (no codeSigning extended key usage). */
  | 'NOT_CODE_SIGNING';

/** A keyless certificate verified, but names a signer the authority does not accept. */
export class IdentityError extends CodedError<IdentityErrorCode> {
  static readonly codes: CodeTable<IdentityErrorCode> = { MISSING_IDENTITY: {}, ISSUER_MISMATCH: {}, SUBJECT_MISMATCH: {}, NOT_CODE_SIGNING: {} };
  override readonly name = 'IdentityError';
  constructor(options: SignatureErrorOptions<IdentityErrorCode>) {
    super(IdentityError.codes, options);
  }
}

export type TrustRootErrorCode =
  /** An authority names a trusted root that the Config does not supply. */
  | 'UNKNOWN_TRUSTED_ROOT'
  /** A trusted_root.json document that cannot be parsed or holds unusable keys or certificates. */
  | 'INVALID_TRUSTED_ROOT'
  /** A TUF refresh of a trusted root failed (network, signatures, rollback, expiry): the last good root stays. */
  | 'TUF_REFRESH_FAILED';

export class TrustRootError extends CodedError<TrustRootErrorCode> {
  static readonly codes: CodeTable<TrustRootErrorCode> = { UNKNOWN_TRUSTED_ROOT: {}, INVALID_TRUSTED_ROOT: {}, TUF_REFRESH_FAILED: {} };
  override readonly name = 'TrustRootError';
  constructor(options: SignatureErrorOptions<TrustRootErrorCode>) {
    super(TrustRootError.codes, options);
  }
}

export type KeyErrorCode = 'INVALID_KEY' | 'UNSUPPORTED_KEY';

/** An authority's public key is not a usable PEM public key. */
export class KeyError extends CodedError<KeyErrorCode> {
  static readonly codes: CodeTable<KeyErrorCode> = { INVALID_KEY: {}, UNSUPPORTED_KEY: {} };
  override readonly name = 'KeyError';
  constructor(options: SignatureErrorOptions<KeyErrorCode>) {
    super(KeyError.codes, options);
  }
}

/** The message of anything thrown, control characters removed, cut to a length fit for a denial. */
export function errorMessage(error: unknown, max = 300): string {
  const text = describeError(error);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
