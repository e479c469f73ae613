/**
 * Typed registry errors. Every error carries a `code` that callers branch on, names the
 * registry, repository and digest (or tag) concerned, and ends with a hint a user can act on.
 */

export type RegistryErrorCode =
  /** No connection: refused, reset, DNS failure. */
  | 'UNREACHABLE'
  /** A request or the whole call ran past its time. */
  | 'TIMEOUT'
  /** The caller's AbortSignal fired (for a reason other than a timeout). */
  | 'ABORTED'
  /** TLS handshake failed: unknown CA, wrong host name, expired certificate. */
  | 'TLS_ERROR'
  /** Plain HTTP to (or a redirect or token realm on) a host not configured `insecure: true`. */
  | 'INSECURE_NOT_ALLOWED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  /** The bytes received do not hash to the digest that was asked for. */
  | 'TAMPERED'
  /** Content larger than the client's limit; reading stopped at the limit. */
  | 'TOO_LARGE'
  /** Content that is not what the API promises: bad JSON, missing fields, invalid descriptors. */
  | 'MALFORMED'
  | 'RATE_LIMITED'
  | 'SERVER_ERROR'
  /** Any other status the client has no meaning for (400, 405, too many redirects…). */
  | 'UNEXPECTED_STATUS'
  /** The caller passed something invalid (a digest that is not sha256/sha512, an invalid tag). */
  | 'INVALID_ARGUMENT';

export const REGISTRY_ERROR_CODES: readonly RegistryErrorCode[] = [
  'UNREACHABLE',
  'TIMEOUT',
  'ABORTED',
  'TLS_ERROR',
  'INSECURE_NOT_ALLOWED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'TAMPERED',
  'TOO_LARGE',
  'MALFORMED',
  'RATE_LIMITED',
  'SERVER_ERROR',
  'UNEXPECTED_STATUS',
  'INVALID_ARGUMENT',
];

/** What was being fetched. */
export type RegistryOperation = 'manifest' | 'tag' | 'blob' | 'referrers';

/** The object an error is about. */
export interface ErrorTarget {
  readonly operation: RegistryOperation;
  readonly registry: string;
  readonly repository: string;
  /** The digest (manifest, blob, referrers subject) or the tag. */
  readonly reference: string;
}

export interface RegistryErrorOptions {
  /** Replaces the code's default hint. */
  readonly hint?: string;
  /** HTTP status of the answer that caused the error, when there was one. */
  readonly status?: number;
  /** The registry's own error code from its JSON error body (`MANIFEST_UNKNOWN`, `DENIED`…). */
  readonly registryCode?: string;
  /** Whether the same request may succeed when tried again (overrides the code's default). */
  readonly retryable?: boolean;
  readonly cause?: unknown;
}

const DEFAULT_HINTS: Readonly<Record<RegistryErrorCode, string>> = {
  UNREACHABLE: "check the registry host name and that the webhook's pods can reach it (DNS, network policies, egress proxies)",
  TIMEOUT: 'the registry did not answer in time; try again, and check the registry’s health and the network path from the webhook',
  ABORTED: 'the request was cancelled before the registry answered',
  TLS_ERROR: "if the registry uses a private CA, add its PEM bundle as `ca` in the registries entry for this host in the modelgate Config",
  INSECURE_NOT_ALLOWED:
    'plain HTTP is only used for hosts listed with `insecure: true` in the modelgate Config; serve the registry over HTTPS or list the host if plain HTTP is intended',
  UNAUTHORIZED: "add an imagePullSecret or configure the webhook's registry credentials",
  FORBIDDEN: "add an imagePullSecret or configure the webhook's registry credentials (the current credentials may not read this repository)",
  NOT_FOUND: 'check the digest and the repository name',
  TAMPERED: 'something between the webhook and the registry, or the registry itself, serves content that does not match its digest; the content was not used',
  TOO_LARGE: 'this is far larger than such content normally is; check that the reference points at the intended artifact',
  MALFORMED: 'the registry answered with content that does not follow the OCI distribution and image specifications',
  RATE_LIMITED: 'the registry is rate limiting pulls; configure registry credentials (authenticated pulls usually have a higher limit) or try again later',
  SERVER_ERROR: 'the registry failed to answer; try again later or check the registry’s health',
  UNEXPECTED_STATUS: 'the registry answered in a way the OCI distribution API does not expect; check that the host is an OCI registry',
  INVALID_ARGUMENT: 'use a digest of the form sha256:<64 hex digits> or sha512:<128 hex digits>',
};

const RETRYABLE_BY_DEFAULT: ReadonlySet<RegistryErrorCode> = new Set<RegistryErrorCode>(['TIMEOUT', 'RATE_LIMITED', 'SERVER_ERROR']);

/** `manifest ghcr.io/acme/model@sha256:…`, `tag ghcr.io/acme/model:sha256-….sig`, `referrers of …`. */
export function describeTarget(target: ErrorTarget): string {
  const name = `${target.registry}/${target.repository}`;
  switch (target.operation) {
    case 'manifest':
      return `manifest ${name}@${target.reference}`;
    case 'tag':
      return `manifest ${name}:${target.reference}`;
    case 'blob':
      return `blob ${name}@${target.reference}`;
    case 'referrers':
      return `referrers of ${name}@${target.reference}`;
  }
}

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly operation: RegistryOperation;
  readonly registry: string;
  readonly repository: string;
  /** The digest or tag concerned. */
  readonly reference: string;
  /** What went wrong, without the target and the hint. */
  readonly detail: string;
  readonly hint: string;
  readonly status: number | undefined;
  readonly registryCode: string | undefined;
  /** Whether trying again may succeed; caches should not keep retryable failures. */
  readonly retryable: boolean;

  constructor(code: RegistryErrorCode, target: ErrorTarget, detail: string, options: RegistryErrorOptions = {}) {
    const hint = options.hint ?? DEFAULT_HINTS[code];
    super(`${describeTarget(target)}: ${detail}; ${hint}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.operation = target.operation;
    this.registry = target.registry;
    this.repository = target.repository;
    this.reference = target.reference;
    this.detail = detail;
    this.hint = hint;
    this.status = options.status;
    this.registryCode = options.registryCode;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
  }
}

export function isRegistryError(error: unknown, code?: RegistryErrorCode): error is RegistryError {
  return error instanceof RegistryError && (code === undefined || error.code === code);
}

/** The first entry of a distribution-style JSON error body: `{"errors":[{"code":"…","message":"…"}]}`. */
export function parseErrorBody(body: Buffer): { readonly code: string; readonly message: string } | undefined {
  if (body.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const errors = (parsed as { errors?: unknown }).errors;
    if (!Array.isArray(errors) || errors.length === 0) return undefined;
    const first: unknown = errors[0];
    if (typeof first !== 'object' || first === null) return undefined;
    const code = (first as { code?: unknown }).code;
    const message = (first as { message?: unknown }).message;
    return {
      code: typeof code === 'string' ? code.slice(0, 64) : 'UNKNOWN',
      message: typeof message === 'string' ? sanitize(message).slice(0, 200) : '',
    };
  } catch {
    return undefined;
  }
}

/** Control characters out of text that ends up in messages and logs. */
function sanitize(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/**
 * The error for a non-success answer. 401/403/404/429/5xx get their codes; anything
 * else is UNEXPECTED_STATUS. `subject` names what answered when it is not the registry
 * itself (`the token service at auth.example.com`).
 */
export function statusError(
  target: ErrorTarget,
  status: number,
  body: Buffer,
  headers: Readonly<Record<string, string | undefined>>,
  subject = 'the registry',
): RegistryError {
  const parsed = parseErrorBody(body);
  const said = parsed === undefined ? '' : ` (${parsed.code}${parsed.message === '' ? '' : `: ${parsed.message}`})`;
  const base = { status, registryCode: parsed?.code };
  if (status === 401) return new RegistryError('UNAUTHORIZED', target, `${subject} answered 401 Unauthorized${said}`, base);
  if (status === 403) return new RegistryError('FORBIDDEN', target, `${subject} answered 403 Forbidden${said}`, base);
  if (status === 404) return new RegistryError('NOT_FOUND', target, `${subject} answered 404 Not Found${said}`, base);
  if (status === 429) {
    const retryAfter = headers['retry-after'];
    const when = retryAfter === undefined ? '' : ` and asked to retry after ${sanitize(retryAfter).slice(0, 40)}`;
    return new RegistryError('RATE_LIMITED', target, `${subject} answered 429 Too Many Requests${when}${said}`, base);
  }
  if (status >= 500 && status <= 599) return new RegistryError('SERVER_ERROR', target, `${subject} answered ${status}${said}`, base);
  return new RegistryError('UNEXPECTED_STATUS', target, `${subject} answered ${status}${said}`, base);
}
