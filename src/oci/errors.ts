/**
 * Typed registry errors. Every error carries a `code` that callers branch on, names the
 * registry, repository and digest (or tag) concerned, and ends with a hint a user can act on.
 */
import { type CodeTable, type CodeTraits, ModelgateError } from '../core/errors.ts';

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
  | 'INVALID_ARGUMENT'
  /** The reference, a redirect or a token realm names an internal address the Config does not list (egress.ts). */
  | 'EGRESS_DENIED';

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
  'EGRESS_DENIED',
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
  /**
   * What an operator needs and a tenant must not see: the connection error, an
   * excerpt of the registry's error body (redacted). Logged and shown by the CLI,
   * never put into an admission answer.
   */
  readonly diagnostic?: string;
}

const DEFAULT_HINTS: Readonly<Record<RegistryErrorCode, string>> = {
  UNREACHABLE: "check the registry host name and that the webhook's pods can reach it (DNS, network policies, egress proxies)",
  TIMEOUT: 'the registry did not answer in time; try again, and check the registry’s health and the network path from the webhook',
  ABORTED: 'the request was cancelled before the registry answered',
  TLS_ERROR: 'if the registry uses a private CA, add its PEM bundle as `ca` in the registries entry for this host in the modelgate Config',
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
  EGRESS_DENIED:
    "modelgate connects to loopback, link-local, private and reserved addresses only for hosts listed in the Config's registries; use a registry on a public address, or list the host",
};

/** Content codes say what the registry served is wrong: a verdict about the artifact, never a "could not check" (core/errors.ts). */
const CONTENT: CodeTraits = { contentProblem: true };
const REGISTRY_CODES: CodeTable<RegistryErrorCode> = {
  UNREACHABLE: {},
  TIMEOUT: {},
  ABORTED: {},
  TLS_ERROR: {},
  INSECURE_NOT_ALLOWED: {},
  UNAUTHORIZED: {},
  FORBIDDEN: {},
  NOT_FOUND: {},
  TAMPERED: CONTENT,
  TOO_LARGE: CONTENT,
  MALFORMED: CONTENT,
  RATE_LIMITED: {},
  SERVER_ERROR: {},
  UNEXPECTED_STATUS: {},
  INVALID_ARGUMENT: CONTENT,
  EGRESS_DENIED: CONTENT,
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

export class RegistryError extends ModelgateError<RegistryErrorCode> {
  static readonly codes = REGISTRY_CODES;
  override readonly name = 'RegistryError';
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
  /** Details for operators only (see RegistryErrorOptions.diagnostic). */
  readonly diagnostic: string | undefined;

  constructor(code: RegistryErrorCode, target: ErrorTarget, detail: string, options: RegistryErrorOptions = {}) {
    const hint = options.hint ?? DEFAULT_HINTS[code];
    super(REGISTRY_CODES, code, `${describeTarget(target)}: ${detail}; ${hint}`, options.cause);
    this.operation = target.operation;
    this.registry = target.registry;
    this.repository = target.repository;
    this.reference = target.reference;
    this.detail = detail;
    this.hint = hint;
    this.status = options.status;
    this.registryCode = options.registryCode;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.diagnostic = options.diagnostic;
  }
}

export function isRegistryError(error: unknown, code?: RegistryErrorCode): error is RegistryError {
  return error instanceof RegistryError && (code === undefined || error.code === code);
}

/**
 * The error codes of the distribution specification: the only words of an error body that
 * reach a message. Anything else a registry says goes to the log only, so that a hostile
 * registry (or an internal service named as one) cannot put text into an admission answer.
 */
const DISTRIBUTION_ERROR_CODES: ReadonlySet<string> = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'UNKNOWN',
]);

/** The first `code` of a distribution-style JSON error body (`{"errors":[{"code":"…"}]}`), when it is one of the specification's. */
export function errorBodyCode(body: Buffer): string | undefined {
  if (body.length === 0 || body.length > 64 * 1024) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const errors = typeof parsed === 'object' && parsed !== null ? (parsed as { errors?: unknown }).errors : undefined;
    const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
    const code = typeof first === 'object' && first !== null ? (first as { code?: unknown }).code : undefined;
    return typeof code === 'string' && DISTRIBUTION_ERROR_CODES.has(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Credentials and tokens out of text bound for a log: Authorization values, token fields, URL user info. */
export function redact(text: string): string {
  return text
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]')
    .replace(/("(?:access_?token|token|refresh_token|password|secret|auth|identitytoken)"\s*:\s*")[^"]*"/gi, '$1[redacted]"')
    .replace(/\/\/[^/@\s]+@/g, '//[redacted]@');
}

/** An excerpt of an upstream answer for the log: control characters out, credentials redacted, short. */
export function upstreamExcerpt(body: Buffer, max = 300): string | undefined {
  if (body.length === 0) return undefined;
  const text = redact(body.subarray(0, max * 4).toString('utf8'))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** `401 Unauthorized (UNAUTHORIZED)`: the status, its standard phrase and a specification error code. Never the registry's own words. */
function describeStatus(status: number, code: string | undefined): string {
  const phrase = REASON_PHRASES[status];
  return `${status}${phrase === undefined ? '' : ` ${phrase}`}${code === undefined ? '' : ` (${code})`}`;
}

/** A Retry-After value as the message may show it: seconds or an HTTP date, else nothing. */
function retryAfterText(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return `${trimmed} s`;
  return Number.isNaN(Date.parse(trimmed)) || trimmed.length > 40 ? undefined : trimmed;
}

/**
 * The error for a non-success answer. 401/403/404/429/5xx get their codes; anything
 * else is UNEXPECTED_STATUS. `subject` names what answered when it is not the registry
 * itself (`the token service at auth.example.com`). The body only goes to the diagnostic.
 */
export function statusError(
  target: ErrorTarget,
  status: number,
  body: Buffer,
  headers: Readonly<Record<string, string | undefined>>,
  subject = 'the registry',
): RegistryError {
  const registryCode = errorBodyCode(body);
  const excerpt = upstreamExcerpt(body);
  const base = { status, registryCode, ...(excerpt === undefined ? {} : { diagnostic: `${subject} said: ${excerpt}` }) };
  const said = `${subject} answered ${describeStatus(status, registryCode)}`;
  if (status === 401) return new RegistryError('UNAUTHORIZED', target, said, base);
  if (status === 403) return new RegistryError('FORBIDDEN', target, said, base);
  if (status === 404) return new RegistryError('NOT_FOUND', target, said, base);
  if (status === 429) {
    const after = retryAfterText(headers['retry-after']);
    return new RegistryError('RATE_LIMITED', target, `${said}${after === undefined ? '' : ` and asked to retry after ${after}`}`, base);
  }
  if (status >= 500 && status <= 599) return new RegistryError('SERVER_ERROR', target, said, base);
  return new RegistryError('UNEXPECTED_STATUS', target, said, base);
}
