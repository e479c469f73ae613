/**
 * The vocabulary of the registry client's HTTP layers (src/oci/http.ts): a request, its
 * answer, the deadline of a call, the hook that sees every exchange, and the shape every
 * layer shares. As with undici's interceptors, each policy (retry, redirects) wraps the
 * next `Dispatch` and can be read and tested alone; the innermost one is a single attempt.
 */
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

/** A request on its way down the layers: which try of the call it is, and whether a redirect led to its URL. */
export interface Exchange extends HttpRequest {
  /** 1 for the first try, 2… for retries (the retry layer counts). */
  readonly attempt: number;
  readonly redirected: boolean;
}

export type Dispatch = (exchange: Exchange) => Promise<HttpResponse>;

/** One policy around the next layer, e.g. retries or redirects. */
export type Interceptor = (next: Dispatch) => Dispatch;

/** `compose(a, b)(dispatch)` is `a(b(dispatch))`: the first interceptor sees the request first. */
export function compose(...interceptors: readonly Interceptor[]): (dispatch: Dispatch) => Dispatch {
  return (dispatch) => interceptors.reduceRight((next, interceptor) => interceptor(next), dispatch);
}

/** Less time than this left, and a request is not started (nor retried: see the retry layer). */
export const MINIMUM_ATTEMPT_MS = 250;
