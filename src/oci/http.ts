/**
 * HTTP for the registry client over undici: keep-alive pools per origin (one undici Agent
 * per CA bundle), a timeout per attempt that covers headers and body, an overall deadline
 * per call, bounded retries with full jitter, size-capped bodies, a request counter and a hook.
 *
 * Bounds and egress (issue 9): every attempt takes a slot of one Limiter (so many in flight
 * in all, so many per host) and reads its body within one byte budget, waiting inside the
 * deadline; connections go only where the EgressGuard allows; redirects are followed only
 * when the caller asks (manifest and blob GETs), only to where a first request could go, and
 * never with the Authorization header to another origin. Connection failures all read the
 * same in messages (a tenant must not scan ports through denials); their cause is in the
 * diagnostic, for the log.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { LimitWaitError, Limiter } from '../core/limiter.ts';
import type { Release } from '../core/limiter.ts';
import { EgressDeniedError, EgressGuard } from './egress.ts';
import type { RegistryEndpoints } from './endpoints.ts';
import { RegistryError, redact, upstreamExcerpt } from './errors.ts';
import type { ErrorTarget } from './errors.ts';

/** One HTTP exchange, reported to the `onRequest` hook. */
export interface RequestEvent {
  /** The registry the call was for (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  readonly method: string;
  /** The host actually contacted: the registry's API host, a token service, a storage backend. */
  readonly host: string;
  /** URL path without the query string. */
  readonly path: string;
  /** HTTP status, 0 when no answer came (connection error, timeout). */
  readonly status: number;
  readonly durationMs: number;
  /** 1 for the first try, 2… for retries. */
  readonly attempt: number;
  /** The error code when the exchange failed without an answer. */
  readonly error?: string;
  /** For the log only: the cause of a failure or an excerpt of an error answer, redacted. */
  readonly diagnostic?: string;
}

export type RequestHook = (event: RequestEvent) => void;

export interface TransportOptions {
  /** Limit for one attempt, headers and body together. */
  readonly requestTimeoutMs: number;
  /** Retries after the first attempt (429, 5xx, connection resets and timeouts only). */
  readonly maxRetries: number;
  /** Full-jitter backoff: a retry waits random(0, min(max, base·2^(attempt-1))). */
  readonly retryBaseDelayMs: number;
  readonly retryMaxDelayMs: number;
  readonly connectTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectionsPerOrigin: number;
  readonly maxRedirects: number;
  readonly userAgent: string;
  /** Source of randomness for the jitter, in [0, 1). */
  readonly random: () => number;
  readonly onRequest: RequestHook | undefined;
  /** Requests in flight at once, in all. */
  readonly maxInFlight: number;
  /** Requests in flight at once to one host. */
  readonly maxInFlightPerHost: number;
  /** Bytes of response bodies held at once, in all. */
  readonly bodyBudgetBytes: number;
}

/** When a call must be over: an absolute time (Date.now() clock) and optionally the caller's signal. */
export class Deadline {
  readonly at: number;
  readonly signal: AbortSignal | undefined;

  constructor(at: number, signal?: AbortSignal) {
    this.at = at;
    this.signal = signal;
  }

  remaining(): number {
    return this.at - Date.now();
  }
}

export interface HttpRequest {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  /** Most bytes of a 2xx body to read; more is TOO_LARGE and reading stops there. */
  readonly maxBytes: number;
  readonly target: ErrorTarget;
  readonly deadline: Deadline;
  /** Who answers, for messages: `the registry`, `the token service at auth.example.com`. */
  readonly subject?: string;
  /** Follow 3xx answers (manifest and blob GETs only); otherwise a redirect is returned as it is. */
  readonly followRedirects?: boolean;
}

export interface HttpResponse {
  readonly status: number;
  /** Lowercased names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body of a 2xx answer (at most maxBytes), or the first bytes of an error answer. */
  readonly body: Buffer;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  /** Whether a redirect led to the URL that answered. */
  readonly redirected: boolean;
}

const ERROR_BODY_LIMIT = 64 * 1024;
/** Less time than this left, and a request is not started (nor retried: see retryDelay). */
const MINIMUM_ATTEMPT_MS = 250;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
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
class AttemptTimeout extends Error {
  readonly limitMs: number;
  readonly byDeadline: boolean;
  constructor(limitMs: number, byDeadline: boolean) {
    super(`no complete answer within ${limitMs} ms`);
    this.limitMs = limitMs;
    this.byDeadline = byDeadline;
  }
}

export class HttpTransport {
  private readonly endpoints: RegistryEndpoints;
  private readonly options: TransportOptions;
  private readonly guard: EgressGuard;
  private readonly slots: Limiter;
  private readonly bodies: Limiter;
  private readonly agents = new Map<string, Agent>();
  private requests = 0;
  private closed = false;

  constructor(endpoints: RegistryEndpoints, options: TransportOptions) {
    this.endpoints = endpoints;
    this.options = options;
    this.guard = new EgressGuard(endpoints);
    this.slots = new Limiter(options.maxInFlight, options.maxInFlightPerHost, 'registry request slot');
    this.bodies = new Limiter(options.bodyBudgetBytes, Number.POSITIVE_INFINITY, 'memory for a registry answer');
  }

  /** HTTP requests sent so far (every attempt, redirect hop and token request). */
  get requestCount(): number {
    return this.requests;
  }

  async close(): Promise<void> {
    this.closed = true;
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map((agent) => agent.close()));
  }

  /**
   * GET with retries: 429 (after Retry-After, when it fits in the deadline), 5xx and
   * connection resets/timeouts are tried again, at most maxRetries times and never past the
   * deadline. Any other answer is returned as is, for the caller to interpret; when the
   * retries run out the last answer is returned (or the last error thrown).
   */
  async send(request: HttpRequest): Promise<HttpResponse> {
    if (this.closed) throw new RegistryError('ABORTED', request.target, 'the registry client is closed', { retryable: false });
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse | undefined;
      let failure: RegistryError | undefined;
      try {
        response = await this.exchange(request, attempt);
        if (!isRetryableStatus(response.status)) return response;
      } catch (error) {
        if (!(error instanceof RegistryError) || !error.retryable) throw error;
        failure = error;
      }
      const wait = attempt > this.options.maxRetries ? undefined : this.retryDelay(attempt, response, request.deadline);
      if (wait === undefined) {
        if (response !== undefined) return response;
        throw failure;
      }
      try {
        await sleep(wait, undefined, request.deadline.signal === undefined ? undefined : { signal: request.deadline.signal });
      } catch {
        throw callerAbort(request);
      }
    }
  }

  /** How long to wait before the next attempt; undefined when it would not fit in the deadline. */
  private retryDelay(attempt: number, response: HttpResponse | undefined, deadline: Deadline): number | undefined {
    const backoff = Math.min(this.options.retryMaxDelayMs, this.options.retryBaseDelayMs * 2 ** (attempt - 1));
    let wait = Math.floor(this.options.random() * backoff);
    const retryAfter = response === undefined ? undefined : parseRetryAfter(response.headers['retry-after']);
    if (retryAfter !== undefined) wait = Math.max(wait, retryAfter);
    // Leave the next attempt some time of its own, or it only turns a clear status into a TIMEOUT.
    const minimumAttempt = Math.min(MINIMUM_ATTEMPT_MS, this.options.requestTimeoutMs);
    if (deadline.remaining() - wait < minimumAttempt) return undefined;
    return wait;
  }

  /** One attempt, following redirects when the request allows them. */
  private async exchange(request: HttpRequest, attempt: number): Promise<HttpResponse> {
    let url = request.url;
    const headers: Record<string, string> = { ...request.headers };
    for (let hop = 0; ; hop++) {
      this.checkDestination(url, request);
      const response = await this.once(url, headers, request, attempt, hop > 0);
      const location = response.headers['location'];
      if (!REDIRECT_STATUSES.has(response.status) || location === undefined || request.followRedirects !== true) return response;
      if (hop >= this.options.maxRedirects) {
        throw new RegistryError('UNEXPECTED_STATUS', request.target, `more than ${this.options.maxRedirects} redirects, the last to ${url.host}`, {
          status: response.status,
        });
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (error) {
        throw new RegistryError('MALFORMED', request.target, 'the registry redirected to an invalid location', { status: response.status, cause: error });
      }
      if (next.origin !== url.origin) {
        // Credentials for the registry are not for a storage backend, nor for anyone a registry names.
        delete headers['authorization'];
      }
      url = next;
    }
  }

  /** Plain HTTP only to hosts listed insecure with their port; never to an internal address the Config does not list. */
  private checkDestination(url: URL, request: HttpRequest): void {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RegistryError('MALFORMED', request.target, `unsupported URL scheme ${JSON.stringify(url.protocol)} for ${url.host}`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new RegistryError('MALFORMED', request.target, `a URL for ${url.hostname} carries user information, which is never followed`);
    }
    if (url.protocol === 'http:' && !isInsecureUrl(this.endpoints, url)) {
      throw new RegistryError('INSECURE_NOT_ALLOWED', request.target, `refusing plain HTTP to ${url.host}, which is not configured as insecure`);
    }
    const refusal = this.guard.refusal(url.hostname);
    if (refusal !== undefined)
      throw new RegistryError('EGRESS_DENIED', request.target, `refusing to connect to ${url.host}: ${refusal.message}`, { retryable: false });
  }

  private dispatcherFor(url: URL): Dispatcher {
    const ca = url.protocol === 'https:' ? this.endpoints.caFor(url.host) : undefined;
    const key = ca ?? '';
    let agent = this.agents.get(key);
    if (agent === undefined) {
      const connect = { timeout: this.options.connectTimeoutMs, lookup: this.guard.lookup };
      agent = new Agent({
        connections: this.options.connectionsPerOrigin,
        keepAliveTimeout: this.options.keepAliveTimeoutMs,
        connect: ca === undefined ? connect : { ...connect, ca },
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One HTTP request and its (capped) body, within min(requestTimeout, deadline), in a slot of the limiter. */
  private async once(url: URL, headers: Readonly<Record<string, string>>, request: HttpRequest, attempt: number, redirected: boolean): Promise<HttpResponse> {
    if (this.closed) throw new RegistryError('ABORTED', request.target, 'the registry client is closed', { retryable: false });
    const { deadline } = request;
    if (deadline.signal?.aborted === true) throw callerAbort(request);
    // An attempt with almost no time left only adds load: it could not finish.
    if (deadline.remaining() < Math.min(MINIMUM_ATTEMPT_MS, this.options.requestTimeoutMs)) throw deadlineExceeded(request, url);
    const slot = await this.wait(this.slots, url.host, 1, request, url);
    let room: Release | undefined;
    const remaining = deadline.remaining();
    const byDeadline = remaining <= this.options.requestTimeoutMs;
    const limitMs = Math.max(1, Math.min(this.options.requestTimeoutMs, remaining));
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(new AttemptTimeout(limitMs, byDeadline)), limitMs);
    const signal = deadline.signal === undefined ? timer.signal : AbortSignal.any([timer.signal, deadline.signal]);
    const started = performance.now();
    let status = 0;
    this.requests++;
    try {
      const response = await this.dispatcherFor(url).request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers: { ...headers, 'user-agent': this.options.userAgent },
        signal,
        headersTimeout: limitMs + 1000,
        bodyTimeout: limitMs + 1000,
      });
      status = response.statusCode;
      const responseHeaders = normalizeHeaders(response.headers);
      let body: Buffer;
      if (status >= 200 && status < 300) {
        const length = responseHeaders['content-length'];
        const declared = length === undefined ? undefined : Number(length);
        const known = declared !== undefined && Number.isSafeInteger(declared) && declared >= 0;
        if (known && declared > request.maxBytes) {
          discard(response.body);
          throw tooLarge(request, `${request.subject ?? 'the registry'} announced ${declared} bytes`);
        }
        // Room for the whole body before reading it: what it announced, else the most it may be.
        try {
          room = await this.wait(this.bodies, '', known ? declared : request.maxBytes, request, url);
        } catch (error) {
          discard(response.body);
          throw error;
        }
        const read = known ? await readExactly(response.body, declared) : await readCapped(response.body, request.maxBytes);
        if (read === undefined) throw tooLarge(request, 'reading stopped at the limit');
        body = read;
      } else if (REDIRECT_STATUSES.has(status)) {
        await response.body.dump({ limit: ERROR_BODY_LIMIT });
        body = Buffer.alloc(0);
      } else {
        body = (await readCapped(response.body, ERROR_BODY_LIMIT, true)) ?? Buffer.alloc(0);
      }
      this.report(request, url, status, started, attempt, undefined, status >= 400 ? upstreamExcerpt(body) : undefined);
      return { status, headers: responseHeaders, body, url, redirected };
    } catch (error) {
      const mapped = error instanceof RegistryError ? error : this.classify(error, timer.signal, request, url);
      this.report(request, url, status, started, attempt, mapped.code, mapped.diagnostic);
      throw mapped;
    } finally {
      clearTimeout(timeout);
      room?.();
      slot();
    }
  }

  /** A slot or room from a limiter, or the error that says the call ran out of time (or was cancelled) waiting. */
  private async wait(limiter: Limiter, key: string, weight: number, request: HttpRequest, url: URL): Promise<Release> {
    try {
      return await limiter.acquire(key, { deadline: request.deadline.at, signal: request.deadline.signal }, weight);
    } catch (error) {
      if (!(error instanceof LimitWaitError)) throw error;
      if (error.aborted) throw callerAbort(request);
      throw new RegistryError('TIMEOUT', request.target, `modelgate was too busy with other registry requests to reach ${url.host} before the deadline`, {
        retryable: false,
        diagnostic: error.message,
      });
    }
  }

  private report(
    request: HttpRequest,
    url: URL,
    status: number,
    started: number,
    attempt: number,
    error: string | undefined,
    diagnostic: string | undefined,
  ): void {
    const hook = this.options.onRequest;
    if (hook === undefined) return;
    const event: RequestEvent = {
      registry: request.target.registry,
      method: 'GET',
      host: url.host,
      path: url.pathname,
      status,
      durationMs: performance.now() - started,
      attempt,
      ...(error === undefined ? {} : { error }),
      ...(diagnostic === undefined ? {} : { diagnostic }),
    };
    try {
      hook(event);
    } catch {
      // A metrics hook must never break a pull.
    }
  }

  /**
   * Maps an undici / socket / TLS failure to a RegistryError. Refused, reset, unresolvable,
   * slow, not TLS or a wrong certificate: the message is the same for all, so that denials
   * cannot be used to scan ports; the code and the diagnostic (for the log) tell them apart.
   */
  private classify(error: unknown, timerSignal: AbortSignal, request: HttpRequest, url: URL): RegistryError {
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

/** Plain HTTP is allowed for the exact `host:port` listed insecure (port 80 when the URL has none). */
function isInsecureUrl(endpoints: RegistryEndpoints, url: URL): boolean {
  return endpoints.isInsecure(url.host) || endpoints.isInsecure(`${url.hostname}:${url.port === '' ? '80' : url.port}`);
}

function tooLarge(request: HttpRequest, how: string): RegistryError {
  return new RegistryError('TOO_LARGE', request.target, `larger than the limit of ${request.maxBytes} bytes (${how})`, { retryable: false });
}

function deadlineExceeded(request: HttpRequest, url: URL): RegistryError {
  return unreachable('TIMEOUT', request, url, 'no complete answer before the deadline of this call', undefined, true);
}

function callerAbort(request: HttpRequest): RegistryError {
  const reason: unknown = request.deadline.signal?.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new RegistryError('TIMEOUT', request.target, 'the caller’s time limit ran out before the registry answered', { cause: reason });
  }
  return new RegistryError('ABORTED', request.target, 'the call was cancelled', { cause: reason, retryable: false });
}

interface Body extends AsyncIterable<Buffer> {
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): void;
}

/** Stops reading a body and drops its connection; the abort error this causes is expected. */
function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * A body of announced length, read into one buffer of that length: the chunks
 * and a concatenated copy of them would hold it twice. More or fewer bytes than
 * announced is undici's UND_ERR_RES_CONTENT_LENGTH_MISMATCH, as with readCapped.
 */
async function readExactly(body: Body, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let offset = 0;
  for await (const chunk of body) {
    if (offset + chunk.length > length) {
      discard(body);
      throw Object.assign(new Error('the answer is longer than its Content-Length'), { code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' });
    }
    chunk.copy(buffer, offset);
    offset += chunk.length;
  }
  return offset === length ? buffer : buffer.subarray(0, offset);
}

/** The body up to `limit` bytes; undefined when it is longer (unless `truncate`, which returns the first bytes). */
async function readCapped(body: Body, limit: number, truncate = false): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    if (total + chunk.length > limit) {
      if (truncate) chunks.push(chunk.subarray(0, limit - total));
      discard(body);
      return truncate ? Buffer.concat(chunks) : undefined;
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(chunks, total);
}

function normalizeHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function errorCode(error: unknown): string | undefined {
  for (const candidate of errorChain(error)) {
    const code = (candidate as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR' && code !== 'UND_ERR_ABORTED') return code;
  }
  return undefined;
}

function errorMessage(error: unknown): string {
  return errorChain(error)
    .map((candidate) => (candidate instanceof Error ? candidate.message : String(candidate)))
    .join('; ');
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
