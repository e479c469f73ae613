/**
 * What a failed registry exchange means, as a RegistryError. Refused, reset, unresolvable,
 * slow, not TLS or a wrong certificate: the message is the same for all, so that denials
 * cannot be used to scan ports; the code and the diagnostic (for the log) tell them apart.
 */
import { describeError } from '../core/errors.ts';
import { EgressDeniedError } from './egress.ts';
import { RegistryError, redact } from './errors.ts';
import type { HttpRequest } from './http-exchange.ts';

/** Connection-level failures that a new connection may not hit. */
const RESET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const CONNECTION_HINT =
  "check the registry host name and that the webhook's pods can reach it (DNS, network policies, egress proxies), its TLS certificate (a private CA goes in the Config's registries entry) and its health; modelgate's log has the cause";

/** Marks the abort of an attempt by its own timer. */
export class AttemptTimeout extends Error {
  readonly limitMs: number;
  readonly byDeadline: boolean;
  constructor(limitMs: number, byDeadline: boolean) {
    super(`no complete answer within ${limitMs} ms`);
    this.limitMs = limitMs;
    this.byDeadline = byDeadline;
  }
}

/** Maps an undici / socket / TLS failure of one attempt at `url` (whose own timer is `timerSignal`) to a RegistryError. */
export function classifyFailure(error: unknown, timerSignal: AbortSignal, request: HttpRequest, url: URL): RegistryError {
  if (timerSignal.aborted && timerSignal.reason instanceof AttemptTimeout) {
    const reason = timerSignal.reason;
    if (reason.byDeadline) return deadlineExceeded(request, url);
    return unreachable('TIMEOUT', request, url, `no complete answer within ${reason.limitMs} ms`, error, true);
  }
  if (request.deadline.signal?.aborted === true) return callerAbort(request);
  const code = errorCode(error);
  const message = errorMessage(error);
  if (errorChain(error).some((candidate) => candidate instanceof EgressDeniedError)) {
    // A name that resolved to an internal address reads like any other failure: no DNS oracle.
    return unreachable('UNREACHABLE', request, url, `egress refused: ${message}`, error, false);
  }
  if (code === 'ECONNREFUSED') return unreachable('UNREACHABLE', request, url, 'connection refused', error, false);
  if (code === 'ENOTFOUND') return unreachable('UNREACHABLE', request, url, `host ${url.hostname} not found (DNS)`, error, false);
  if (code !== undefined && TIMEOUT_CODES.has(code)) return unreachable('TIMEOUT', request, url, `timed out (${code})`, error, true);
  if (/wrong version number|packet length too long|http request/i.test(message) || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return unreachable(
      'INSECURE_NOT_ALLOWED',
      request,
      url,
      'the host does not speak TLS (a plain HTTP server?), and it is not configured as insecure',
      error,
      false,
    );
  }
  if (code !== undefined && (CERTIFICATE_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO')) {
    return unreachable('TLS_ERROR', request, url, `TLS failed: ${code}`, error, false);
  }
  if (code !== undefined && RESET_CODES.has(code)) return unreachable('UNREACHABLE', request, url, `connection failed (${code})`, error, true);
  return unreachable('UNREACHABLE', request, url, `request failed: ${code ?? message}`, error, false);
}

/** A connection-level failure: one message for every cause, the cause in the diagnostic. */
function unreachable(
  code: 'UNREACHABLE' | 'TIMEOUT' | 'TLS_ERROR' | 'INSECURE_NOT_ALLOWED',
  request: HttpRequest,
  url: URL,
  cause: string,
  error: unknown,
  retryable: boolean,
): RegistryError {
  return new RegistryError(code, request.target, `could not connect to ${url.host} or get a complete answer in time`, {
    cause: error,
    retryable,
    hint: CONNECTION_HINT,
    diagnostic: `${url.host}: ${redact(cause)}`,
  });
}

export function tooLarge(request: HttpRequest, how: string): RegistryError {
  return new RegistryError('TOO_LARGE', request.target, `larger than the limit of ${request.maxBytes} bytes (${how})`, { retryable: false });
}

export function deadlineExceeded(request: HttpRequest, url: URL): RegistryError {
  return unreachable('TIMEOUT', request, url, 'no complete answer before the deadline of this call', undefined, true);
}

export function callerAbort(request: HttpRequest): RegistryError {
  const reason: unknown = request.deadline.signal?.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new RegistryError('TIMEOUT', request.target, 'the caller’s time limit ran out before the registry answered', { cause: reason });
  }
  return new RegistryError('ABORTED', request.target, 'the call was cancelled', { cause: reason, retryable: false });
}

export function clientClosed(request: HttpRequest): RegistryError {
  return new RegistryError('ABORTED', request.target, 'the registry client is closed', { retryable: false });
}

function errorCode(error: unknown): string | undefined {
  for (const candidate of errorChain(error)) {
    const code = (candidate as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR' && code !== 'UND_ERR_ABORTED') return code;
  }
  return undefined;
}

function errorMessage(error: unknown): string {
  return errorChain(error).map(describeError).join('; ');
}

/** The error, its causes and, for an AggregateError (several addresses tried), its errors. */
function errorChain(error: unknown): unknown[] {
  const out: unknown[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && out.length < 10) {
    const next = queue.shift();
    if (next === undefined || next === null) continue;
    out.push(next);
    if (next instanceof AggregateError) queue.push(...(next.errors as unknown[]));
    if (next instanceof Error && next.cause !== undefined) queue.push(next.cause);
  }
  return out;
}
