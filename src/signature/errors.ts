/**
 * Typed errors of signature verification, in the style of sigstore-js: every error has a
 * `code` that callers and tests branch on and a message that reads as a fact about the
 * signature ("signs sha256:… , not the admitted sha256:…"), short enough for a denial.
 */

abstract class CodedError<C extends string> extends Error {
  readonly code: C;

  constructor(options: { readonly code: C; readonly message: string; readonly cause?: unknown }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

export type FormatErrorCode =
  /** Not JSON, not a sigstore bundle, or a bundle that fails @sigstore/bundle's validation. */
  | 'MALFORMED_BUNDLE'
  /** A legacy cosign signature layer whose annotations or payload cannot be read. */
  | 'MALFORMED_SIGNATURE'
  /** Well-formed, but a kind of content that cannot be bound to an image (message signature without payload, other DSSE payload types, attestations). */
  | 'UNSUPPORTED_CONTENT';

/** The signature material could not be read. */
export class SignatureFormatError extends CodedError<FormatErrorCode> {
  override readonly name = 'SignatureFormatError';
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
  override readonly name = 'BindingError';
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
  override readonly name = 'IdentityError';
}

export type TrustRootErrorCode =
  /** An authority names a trusted root that the Config does not supply. */
  | 'UNKNOWN_TRUSTED_ROOT'
  /** A trusted_root.json document that cannot be parsed or holds unusable keys or certificates. */
  | 'INVALID_TRUSTED_ROOT';

export class TrustRootError extends CodedError<TrustRootErrorCode> {
  override readonly name = 'TrustRootError';
}

export type KeyErrorCode = 'INVALID_KEY' | 'UNSUPPORTED_KEY';

/** An authority's public key is not a usable PEM public key. */
export class KeyError extends CodedError<KeyErrorCode> {
  override readonly name = 'KeyError';
}

/** The message of anything thrown, control characters removed, cut to a length fit for a denial. */
export function errorMessage(error: unknown, max = 300): string {
  const text = error instanceof Error ? error.message : String(error);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}
